import CResinKernels
import Foundation
import Resin
import ResinFormat
import ResinIR
import ResinRuntime
import Testing
import TestSupport

/// A native file's pieces move from the page cache onto anonymous huge pages in place (`huge_pages.c`): the
/// addresses and bytes must stay the same, readers must see the same bytes while pieces move, and pieces no
/// reader touched must stay in the file.
@Suite struct HugePageMoveTests {
    /// Whether this kernel gives huge pages to a region that asks, as `resin_move_to_huge_pages` decides.
    static var hugePagesAvailable: Bool {
        if ProcessInfo.processInfo.environment["RESIN_HUGE_PAGES"] == "off" { return false }
        guard let text = try? String(contentsOfFile: "/sys/kernel/mm/transparent_hugepage/enabled", encoding: .utf8) else { return false }
        return text.contains("[always]") || text.contains("[madvise]")
    }

    @Test func touchedPiecesMoveInPlaceWithTheirBytesWhileReadersRun() async throws {
        let piece = MappedFile.hugePageBytes
        let folder = try TemporaryFolder()
        let path = folder.file("pieces.bin")
        // Four whole pieces and a partial one, every 32-bit word its own index.
        let words = (4 * piece + piece / 2) / 4
        let data = (0..<words).map { UInt32($0) }.withUnsafeBytes { Data($0) }
        try data.write(to: URL(fileURLWithPath: path))
        let file = try MappedFile(path: path, populate: false)
        let base = try #require(file.bytes.baseAddress)
        #expect(Int(bitPattern: base) % piece == 0, "a native file's mapping starts on a huge-page boundary")
        // Read pieces 0, 2 and the partial one; 1 and 3 stay untouched.
        let address = Int(bitPattern: base)
        @Sendable func sum(_ index: Int, count: Int = MappedFile.hugePageBytes) -> UInt64 {
            var total: UInt64 = 0
            let values = UnsafePointer<UInt32>(bitPattern: address + index * piece)!
            for word in 0..<(count / 4) { total &+= UInt64(values[word]) }
            return total
        }
        let expected = (0..<5).map { index in
            (0..<(index == 4 ? piece / 8 : piece / 4)).reduce(UInt64(0)) { $0 &+ UInt64(index * piece / 4 + $1) }
        }
        #expect(sum(0) == expected[0] && sum(2) == expected[2] && sum(4, count: piece / 2) == expected[4])
        // A reader of piece 2 runs while the pieces move.
        let reader = Task.detached { () -> Bool in
            var same = true
            for _ in 0..<200 where sum(2) != expected[2] { same = false }
            return same
        }
        let moved = resin_move_to_huge_pages(base, file.bytes.count)
        #expect(await reader.value, "a reader saw other bytes while the pieces moved")
        #expect(moved == (Self.hugePagesAvailable ? 2 : 0), "pieces 0 and 2 were read, 1 and 3 not; the partial piece stays")
        #expect(file.bytes.baseAddress == base)
        let same = data.withUnsafeBytes { memcmp(base, $0.baseAddress!, data.count) == 0 }
        #expect(same, "the mapping holds the file's bytes after the move")
    }

    /// A session over a native file moves its weights after the first run; every later run gives the same bits.
    @Test(arguments: [1, 2])
    func sessionsOverANativeFileGiveTheSameBitsAfterTheMove(threads: Int) throws {
        let temporary = try TemporaryFolder()
        let path = temporary.file("model.resin")
        let (model, input, expected) = try SessionTests.fixture("resnet-bottleneck-v1.5")
        try NativeWriter.write(model, toPath: path)
        let (loaded, _) = try NativeReader.read(path: path)
        let session = try Session(model: loaded, options: SessionOptions(threads: threads))
        let name = session.inputs[0].name
        let first = try #require(session.run([name: input])[session.outputs[0].name])
        #expect(TensorComparison(actual: first, expected: expected, rtol: 1e-4, atol: 1e-4).passed)
        // Runs while the move goes on and after it.
        for _ in 0..<20 {
            let again = try #require(session.run([name: input])[session.outputs[0].name])
            #expect(again.floatValues?.map(\.bitPattern) == first.floatValues?.map(\.bitPattern))
            usleep(5_000)
        }
    }
}
