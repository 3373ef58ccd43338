#if canImport(Glibc)
import Glibc
#endif

/// Class names, line i naming class i, as read from a labels file and stored in a model's metadata.
package enum ClassLabels {
    /// The metadata key (ONNX `metadata_props`, kept by `.resin`) whose value is the names joined by "\n".
    package static let metadataKey = "resin.labels"

    /// The names in a text file, one per line (a "\r\n" line end counts as "\n"); blank lines at the end are
    /// dropped, blank lines between names are kept, since a class index is a line number.
    package static func read(file: String) throws(ImageError) -> [String] {
        let bytes = try FileBytes.read(file: file, limit: 64 << 20)
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw ImageError(file: file, message: "the labels file is not UTF-8 text")
        }
        let labels = parse(metadataValue: text)
        guard !labels.isEmpty else { throw ImageError(file: file, message: "the labels file holds no names") }
        return labels
    }

    /// The metadata value for `labels`: the names joined by "\n".
    package static func metadataValue(_ labels: [String]) -> String {
        labels.joined(separator: "\n")
    }

    /// The names in a metadata value (or a labels file's text).
    package static func parse(metadataValue: String) -> [String] {
        // By bytes: "\r\n" is one Character, so splitting the String on "\n" would not see it.
        var labels = metadataValue.utf8.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).map { line in
            String(decoding: line.last == UInt8(ascii: "\r") ? line.dropLast() : line, as: UTF8.self)
        }
        while let last = labels.last, last.allSatisfy(\.isWhitespace) { labels.removeLast() }
        return labels
    }
}
