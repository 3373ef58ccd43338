import Resin

#if canImport(Glibc)
import Glibc
#endif

/// A one-line progress report on standard error, rewritten in place with a carriage return: images done of
/// the total, images per second and the time left. It shows only when standard error is a terminal (a log
/// file or a pipe would fill with rewritten lines) and the run has more than one batch.
final class Progress {
    private let total: Int
    private let enabled: Bool
    private let start = monotonicMilliseconds()
    private var lastShown = -Double.infinity
    private var shownWidth = 0

    init(total: Int, batches: Int) {
        self.total = total
        enabled = batches > 1 && isatty(STDERR_FILENO) == 1
    }

    /// Reports `done` images scored; redraws at most ten times a second.
    func update(done: Int) {
        guard enabled else { return }
        let now = monotonicMilliseconds()
        guard now - lastShown >= 100 || done == total else { return }
        lastShown = now
        let seconds = (now - start) / 1000
        let rate = seconds > 0 ? Double(done) / seconds : 0
        var line = "\(done)/\(total) images"
        if rate > 0 {
            line += ", \(Int(rate.rounded())) images/s"
            let left = Int((Double(total - done) / rate).rounded())
            line += ", " + (left >= 60 ? "\(left / 60) min \(left % 60) s" : "\(left) s") + " left"
        }
        show(line)
    }

    /// Clears the line, so that what follows on standard error starts on a clean line.
    func finish() {
        guard enabled, shownWidth > 0 else { return }
        show("")
        shownWidth = 0
    }

    private func show(_ line: String) {
        // Pad over the previous line's tail, which a shorter line would otherwise leave visible.
        let padding = String(repeating: " ", count: max(shownWidth - line.count, 0))
        shownWidth = line.count
        let bytes = Array(("\r" + line + padding + (line.isEmpty ? "\r" : "")).utf8)
        bytes.withUnsafeBytes { _ = write(STDERR_FILENO, $0.baseAddress, $0.count) }
    }
}
