import Resin

#if canImport(Glibc)
import Glibc
#endif

/// What `resin run --image` reports for one image: its top classes, or why it could not be scored.
struct ImageRecord: Equatable {
    /// One of the top classes.
    struct Entry: Equatable {
        var classIndex: Int
        var label: String?
        var score: Float
    }

    /// The path as given (on the command line or in the list), not resolved.
    var image: String
    /// The classes by falling score; empty when `error` is set.
    var top: [Entry]
    /// Why the image was not scored (unreadable, not an image, corrupt).
    var error: String?

    init(image: String, top: [Entry]) {
        self.image = image
        self.top = top
        error = nil
    }

    init(image: String, error: String) {
        self.image = image
        top = []
        self.error = error
    }
}

/// How records are written.
enum RecordFormat: String, CaseIterable {
    case text, json, csv

    /// The CSV header; every CSV file `resin run` writes starts with it, and `merge-results` recognises
    /// CSV by it.
    static let csvHeader = "image,rank,class,label,score,error"

    /// What a file of records starts with, before any record (the CSV header).
    var header: String {
        self == .csv ? Self.csvHeader + "\n" : ""
    }

    /// One image's record as text: one line for text and JSON Lines, one row per rank for CSV (one row with
    /// the error for a failed image). Always ends in a newline.
    func render(_ record: ImageRecord) -> String {
        switch self {
        case .text: return Self.text(record)
        case .json: return Self.json(record)
        case .csv: return Self.csv(record)
        }
    }

    private static func text(_ record: ImageRecord) -> String {
        if let error = record.error { return "\(record.image): error: \(error)\n" }
        let entries = record.top.map { entry in
            let name = entry.label.map { "\($0) " } ?? ""
            return "\(name)(\(entry.classIndex)) \(score(entry.score))"
        }
        return "\(record.image): " + entries.joined(separator: ", ") + "\n"
    }

    private static func json(_ record: ImageRecord) -> String {
        let image = JSONValue.string(record.image).rendered()
        if let error = record.error {
            return "{\"image\": \(image), \"error\": \(JSONValue.string(error).rendered())}\n"
        }
        let entries = record.top.map { entry in
            let label = entry.label.map { JSONValue.string($0) } ?? .null
            return "{\"class\": \(entry.classIndex), \"label\": \(label.rendered()), \"score\": \(score(entry.score))}"
        }
        return "{\"image\": \(image), \"top\": [" + entries.joined(separator: ", ") + "]}\n"
    }

    private static func csv(_ record: ImageRecord) -> String {
        let image = csvField(record.image)
        if let error = record.error { return "\(image),,,,,\(csvField(error))\n" }
        var rows = ""
        for (rank, entry) in record.top.enumerated() {
            rows += "\(image),\(rank + 1),\(entry.classIndex),\(csvField(entry.label ?? "")),\(score(entry.score)),\n"
        }
        return rows
    }

    /// A score as the shortest decimal that reads back as the same 32-bit float (`0.91`, `1e-05`), which
    /// is valid JSON and CSV and the same on every machine, so shards merge byte for byte.
    static func score(_ value: Float) -> String {
        value.isFinite ? "\(value)" : "null"
    }

    /// A CSV field quoted as RFC 4180 says: in double quotes, with quotes doubled, when it holds a comma,
    /// quote, carriage return or newline (or starts or ends with a space, which some readers trim).
    static func csvField(_ value: String) -> String {
        let needsQuotes = value.contains { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" || $0 == "\r\n" }
            || value.hasPrefix(" ") || value.hasSuffix(" ")
        guard needsQuotes else { return value }
        return "\"" + value.replacing("\"", with: "\"\"") + "\""
    }
}

/// Turns a classifier's output row into the top classes.
enum Classification {
    /// Probabilities from logits: the softmax, computed in double precision after subtracting the largest
    /// logit (so no exponential overflows), as ONNX Runtime's Softmax would give them to within rounding.
    static func softmax(_ logits: UnsafeBufferPointer<Float>) -> [Float] {
        guard let largest = logits.max() else { return [] }
        var exponentials = [Double](repeating: 0, count: logits.count)
        var total = 0.0
        for (index, logit) in logits.enumerated() {
            let value = exp(Double(logit) - Double(largest))
            exponentials[index] = value
            total += value
        }
        return exponentials.map { Float($0 / total) }
    }

    /// The indices of the `k` highest scores, highest first; equal scores go to the lower index. NaN
    /// scores rank below every number.
    static func top(_ k: Int, of scores: [Float]) -> [Int] {
        func before(_ a: Int, _ b: Int) -> Bool {
            let x = scores[a], y = scores[b]
            if x.isNaN != y.isNaN { return y.isNaN }
            if x != y, !x.isNaN { return x > y }
            return a < b
        }
        // A partial selection: k is small next to the classes (5 of 1,000), so keep a sorted list of k.
        var best: [Int] = []
        best.reserveCapacity(k + 1)
        for index in scores.indices {
            if best.count == k, let last = best.last, !before(index, last) { continue }
            let position = best.firstIndex { before(index, $0) } ?? best.count
            best.insert(index, at: position)
            if best.count > k { best.removeLast() }
        }
        return best
    }
}
