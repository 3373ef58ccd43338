import ArgumentParser
import ResinIR

/// `resin merge-results SHARD...`: the shards' records as one unsharded run would have written them.
struct MergeResults: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge-results",
        abstract: "Join the result files of `resin run --images --shard` into the records of one unsharded run.",
        discussion: """
            Each file is JSON Lines or CSV (recognised from its content; all must be the same). The records are \
            sorted by image path in the order `--images` sorts its list (byte order), keeping the files' order \
            for equal paths, and written unchanged; CSV gets one header.
            """)

    @Argument(help: "The shards' result files (JSON Lines or CSV).")
    var files: [String]

    @Option(help: "Write the merged records to FILE, atomically (default: standard output).")
    var output: String?

    func validate() throws {
        guard !files.isEmpty else { throw ValidationError("give at least one result file") }
    }

    func run() throws {
        try reportingErrors(about: files[0]) {
            var format: RecordFormat?
            var records: [ResultRecord] = []
            for file in files {
                let bytes = try readFile(atPath: file)
                guard let found = try ResultRecord.parse(bytes, file: file) else { continue }
                if let format, format != found.format {
                    throw FileError(path: file, reason: "holds \(found.format == .csv ? "CSV" : "JSON Lines"), but \(files[0]) and the files before it hold \(format == .csv ? "CSV" : "JSON Lines")")
                }
                format = found.format
                records += found.records
            }
            // A stable sort: shards of a list with repeated paths keep the list's order for them.
            let merged = records.enumerated().sorted { lhs, rhs in
                ImageList.precedes(lhs.element.image, rhs.element.image)
                    || (lhs.element.image == rhs.element.image && lhs.offset < rhs.offset)
            }
            let destination = try output.map { path throws(FileError) in try ResultFile(path: path) } ?? ResultFile()
            try reportingErrors(about: output ?? "standard output") {
                try destination.write(format?.header ?? "")
                for record in merged { try destination.write(record.element.text) }
                try destination.commit()
            }
        }
    }
}

/// One image's record in a result file: its path and its text exactly as written (a JSON line, or the
/// image's CSV rows).
struct ResultRecord {
    var image: String
    var text: String

    /// The records of a result file and its format; nil for an empty file (a shard with no images in JSON
    /// Lines). A line that is not a record names the file and line.
    static func parse(_ bytes: [UInt8], file: String) throws -> (format: RecordFormat, records: [ResultRecord])? {
        let text = String(decoding: bytes, as: UTF8.self)
        guard !text.isEmpty else { return nil }
        if text.hasPrefix(RecordFormat.csvHeader + "\n") || text == RecordFormat.csvHeader || text.hasPrefix(RecordFormat.csvHeader + "\r\n") {
            return (.csv, try csvRecords(text, file: file))
        }
        if text.hasPrefix("{") { return (.json, try jsonRecords(text, file: file)) }
        throw FileError(path: file, reason: "is neither JSON Lines (a line starting with '{') nor CSV (the header \(RecordFormat.csvHeader))")
    }

    private static func jsonRecords(_ text: String, file: String) throws -> [ResultRecord] {
        var records: [ResultRecord] = []
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            if line.isEmpty { continue }
            var scanner = JSONScanner(Array(line.utf8))
            guard let image = scanner.imageOfRecord() else {
                throw FileError(path: "\(file):\(number + 1)", reason: "not a JSON object with a string \"image\"")
            }
            records.append(ResultRecord(image: image, text: line + "\n"))
        }
        return records
    }

    private static func csvRecords(_ text: String, file: String) throws -> [ResultRecord] {
        var records: [ResultRecord] = []
        var rows = CSVRows(Array(text.utf8))
        _ = try rows.next(file: file)
        while let row = try rows.next(file: file) {
            guard row.fields.count == 6 else {
                throw FileError(path: "\(file):\(row.line)", reason: "has \(row.fields.count) fields; a result row has 6 (\(RecordFormat.csvHeader))")
            }
            // An image's rows are consecutive (one per rank); they move together.
            if let last = records.last, last.image == row.fields[0], !row.fields[1].isEmpty, row.fields[1] != "1" {
                records[records.count - 1].text += row.text
            } else {
                records.append(ResultRecord(image: row.fields[0], text: row.text))
            }
        }
        return records
    }
}

/// RFC 4180 rows: fields separated by commas, quoted fields may hold commas, doubled quotes and newlines.
struct CSVRows {
    private let bytes: [UInt8]
    private var position = 0
    private var line = 1

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    /// The next row's fields, its text with a newline at the end, and the line it starts on.
    mutating func next(file: String) throws -> (fields: [String], text: String, line: Int)? {
        guard position < bytes.count else { return nil }
        let start = position, startLine = line
        var fields: [String] = []
        var field: [UInt8] = []
        var quoted = false
        var fieldStarted = false
        while position < bytes.count {
            let byte = bytes[position]
            position += 1
            if quoted {
                if byte == UInt8(ascii: "\"") {
                    if position < bytes.count, bytes[position] == UInt8(ascii: "\"") {
                        field.append(byte)
                        position += 1
                    } else {
                        quoted = false
                    }
                } else {
                    if byte == UInt8(ascii: "\n") { line += 1 }
                    field.append(byte)
                }
                continue
            }
            switch byte {
            case UInt8(ascii: "\""):
                guard !fieldStarted else {
                    throw FileError(path: "\(file):\(line)", reason: "a quote inside an unquoted field")
                }
                quoted = true
                fieldStarted = true
            case UInt8(ascii: ","):
                fields.append(String(decoding: field, as: UTF8.self))
                field = []
                fieldStarted = false
            case UInt8(ascii: "\n"):
                line += 1
                fields.append(String(decoding: field.last == UInt8(ascii: "\r") ? field.dropLast() : field[...], as: UTF8.self))
                return (fields, String(decoding: bytes[start..<position], as: UTF8.self), startLine)
            default:
                field.append(byte)
                fieldStarted = true
            }
        }
        guard !quoted else { throw FileError(path: "\(file):\(startLine)", reason: "a quoted field does not end") }
        fields.append(String(decoding: field, as: UTF8.self))
        return (fields, String(decoding: bytes[start...], as: UTF8.self) + "\n", startLine)
    }
}

/// Just enough of a JSON reader to check that a line is one JSON object and to find its "image" string.
struct JSONScanner {
    private let bytes: [UInt8]
    private var position = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    /// The value of the top-level key "image" when the whole line is one valid JSON object that has it as a
    /// string; nil otherwise.
    mutating func imageOfRecord() -> String? {
        var image: String?
        skipSpace()
        guard take(UInt8(ascii: "{")) else { return nil }
        skipSpace()
        if !take(UInt8(ascii: "}")) {
            repeat {
                skipSpace()
                guard let key = string() else { return nil }
                skipSpace()
                guard take(UInt8(ascii: ":")) else { return nil }
                skipSpace()
                if key == "image", peek == UInt8(ascii: "\"") {
                    image = string()
                } else if !value() {
                    return nil
                }
                skipSpace()
            } while take(UInt8(ascii: ","))
            guard take(UInt8(ascii: "}")) else { return nil }
        }
        skipSpace()
        return position == bytes.count ? image : nil
    }

    private var peek: UInt8? { position < bytes.count ? bytes[position] : nil }

    private mutating func take(_ byte: UInt8) -> Bool {
        guard peek == byte else { return false }
        position += 1
        return true
    }

    private mutating func skipSpace() {
        while let byte = peek, byte == 0x20 || byte == 0x09 || byte == 0x0D || byte == 0x0A { position += 1 }
    }

    /// Any JSON value; false when the text is not one.
    private mutating func value() -> Bool {
        switch peek {
        case UInt8(ascii: "\""): return string() != nil
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            let close = peek == UInt8(ascii: "{") ? UInt8(ascii: "}") : UInt8(ascii: "]")
            let isObject = close == UInt8(ascii: "}")
            position += 1
            skipSpace()
            if take(close) { return true }
            repeat {
                skipSpace()
                if isObject {
                    guard string() != nil else { return false }
                    skipSpace()
                    guard take(UInt8(ascii: ":")) else { return false }
                    skipSpace()
                }
                guard value() else { return false }
                skipSpace()
            } while take(UInt8(ascii: ","))
            return take(close)
        case UInt8(ascii: "t"): return literal("true")
        case UInt8(ascii: "f"): return literal("false")
        case UInt8(ascii: "n"): return literal("null")
        default: return number()
        }
    }

    private mutating func literal(_ word: String) -> Bool {
        let expected = Array(word.utf8)
        guard bytes.count - position >= expected.count, Array(bytes[position..<(position + expected.count)]) == expected else { return false }
        position += expected.count
        return true
    }

    private mutating func number() -> Bool {
        let start = position
        _ = take(UInt8(ascii: "-"))
        while let byte = peek, (0x30...0x39).contains(byte) || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "e")
                || byte == UInt8(ascii: "E") || byte == UInt8(ascii: "+") || byte == UInt8(ascii: "-") { position += 1 }
        return position > start && Double(String(decoding: bytes[start..<position], as: UTF8.self)) != nil
    }

    /// A string's value, escapes decoded; nil when it is not a well-formed string.
    private mutating func string() -> String? {
        guard take(UInt8(ascii: "\"")) else { return nil }
        var scalars = String.UnicodeScalarView()
        var pending: [UInt8] = []
        func flushPending() {
            scalars.append(contentsOf: String(decoding: pending, as: UTF8.self).unicodeScalars)
            pending.removeAll()
        }
        while let byte = peek {
            position += 1
            switch byte {
            case UInt8(ascii: "\""):
                flushPending()
                return String(scalars)
            case UInt8(ascii: "\\"):
                flushPending()
                guard let escape = peek else { return nil }
                position += 1
                switch escape {
                case UInt8(ascii: "\""): scalars.append("\"")
                case UInt8(ascii: "\\"): scalars.append("\\")
                case UInt8(ascii: "/"): scalars.append("/")
                case UInt8(ascii: "b"): scalars.append("\u{8}")
                case UInt8(ascii: "f"): scalars.append("\u{C}")
                case UInt8(ascii: "n"): scalars.append("\n")
                case UInt8(ascii: "r"): scalars.append("\r")
                case UInt8(ascii: "t"): scalars.append("\t")
                case UInt8(ascii: "u"):
                    guard var code = hex4() else { return nil }
                    if (0xD800..<0xDC00).contains(code) {
                        // A surrogate pair: the high half must be followed by an escaped low half.
                        guard take(UInt8(ascii: "\\")), take(UInt8(ascii: "u")), let low = hex4(), (0xDC00..<0xE000).contains(low) else { return nil }
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                    }
                    guard let scalar = Unicode.Scalar(code) else { return nil }
                    scalars.append(scalar)
                default: return nil
                }
            case 0..<0x20: return nil
            default: pending.append(byte)
            }
        }
        return nil
    }

    private mutating func hex4() -> UInt32? {
        guard bytes.count - position >= 4, let value = UInt32(String(decoding: bytes[position..<(position + 4)], as: UTF8.self), radix: 16) else { return nil }
        position += 4
        return value
    }
}
