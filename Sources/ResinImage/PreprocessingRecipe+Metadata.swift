/// The recipe as the flat JSON object stored under `resin.preprocess`:
/// `{"resize": 256, "crop_height": 224, "crop_width": 224, "mean": [0.485, 0.456, 0.406],
/// "std": [0.229, 0.224, 0.225], "channel_order": "rgb", "layout": "nchw"}`.
extension PreprocessingRecipe {
    /// The recipe as compact JSON; floats are written in their shortest form that reads back exactly.
    package var metadataValue: String {
        func list(_ values: [Float]) -> String { "[" + values.map { "\($0)" }.joined(separator: ", ") + "]" }
        return "{\"resize\": \(resize), \"crop_height\": \(cropHeight), \"crop_width\": \(cropWidth), "
            + "\"mean\": \(list(mean)), \"std\": \(list(std)), "
            + "\"channel_order\": \"\(channelOrder.rawValue)\", \"layout\": \"\(layout.rawValue)\"}"
    }

    /// Reads a stored recipe. Every key must be present and known (an unknown one may change what the model
    /// needs, so it is not skipped); the values must pass `validate()`.
    package init(metadataValue: String) throws(ImageError) {
        func fail(_ message: String) -> ImageError {
            ImageError(file: nil, message: "bad \(Self.metadataKey) metadata: \(message)")
        }
        var parser = FlatJSONParser(text: metadataValue)
        let entries: [String: FlatJSONParser.Value]
        do { entries = try parser.parseObject() } catch { throw fail(error.message) }
        let known = ["resize", "crop_height", "crop_width", "mean", "std", "channel_order", "layout"]
        if let unknown = entries.keys.sorted().first(where: { !known.contains($0) }) {
            throw fail("unknown key \"\(unknown)\"")
        }
        func integer(_ key: String) throws(ImageError) -> Int {
            guard case .number(let text)? = entries[key] else { throw fail("\"\(key)\" must be an integer") }
            guard let value = Int(text) else { throw fail("\"\(key)\" must be an integer, not \(text)") }
            return value
        }
        func floats(_ key: String) throws(ImageError) -> [Float] {
            guard case .numbers(let texts)? = entries[key] else { throw fail("\"\(key)\" must be a list of numbers") }
            var values: [Float] = []
            for text in texts {
                guard let value = Float(text) else { throw fail("\"\(key)\" holds \(text), not a number") }
                values.append(value)
            }
            return values
        }
        func choice<Choice: RawRepresentable & CaseIterable>(_ key: String, _: Choice.Type) throws(ImageError) -> Choice
        where Choice.RawValue == String {
            let names = Choice.allCases.map(\.rawValue).joined(separator: ", ")
            guard case .string(let text)? = entries[key], let value = Choice(rawValue: text) else {
                throw fail("\"\(key)\" must be one of \(names)")
            }
            return value
        }
        self.init(
            resize: try integer("resize"), cropHeight: try integer("crop_height"), cropWidth: try integer("crop_width"),
            mean: try floats("mean"), std: try floats("std"),
            channelOrder: try choice("channel_order", ChannelOrder.self), layout: try choice("layout", Layout.self))
        do { try validate() } catch { throw fail(error.message.replacing("bad preprocessing recipe: ", with: "")) }
    }
}

/// Parses one JSON object whose values are numbers, strings or lists of numbers: all a recipe holds.
struct FlatJSONParser {
    enum Value: Equatable {
        case number(String)
        case string(String)
        case numbers([String])
    }

    struct Failure: Error { var message: String }

    private let bytes: [UInt8]
    private var index = 0

    init(text: String) { bytes = Array(text.utf8) }

    mutating func parseObject() throws(Failure) -> [String: Value] {
        var entries: [String: Value] = [:]
        try expect(UInt8(ascii: "{"))
        skipSpace()
        if peek() == UInt8(ascii: "}") {
            index += 1
        } else {
            while true {
                skipSpace()
                let key = try string()
                guard entries[key] == nil else { throw Failure(message: "key \"\(key)\" appears twice") }
                try expect(UInt8(ascii: ":"))
                entries[key] = try value()
                skipSpace()
                if peek() == UInt8(ascii: ",") { index += 1; continue }
                try expect(UInt8(ascii: "}"))
                break
            }
        }
        skipSpace()
        guard index == bytes.count else { throw Failure(message: "text after the object at byte \(index)") }
        return entries
    }

    private mutating func value() throws(Failure) -> Value {
        skipSpace()
        switch peek() {
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "["):
            index += 1
            var values: [String] = []
            skipSpace()
            if peek() == UInt8(ascii: "]") { index += 1; return .numbers(values) }
            while true {
                values.append(try number())
                skipSpace()
                if peek() == UInt8(ascii: ",") { index += 1; continue }
                try expect(UInt8(ascii: "]"))
                return .numbers(values)
            }
        default: return .number(try number())
        }
    }

    private mutating func number() throws(Failure) -> String {
        skipSpace()
        let start = index
        while let byte = peek(), byte == UInt8(ascii: "-") || byte == UInt8(ascii: "+") || byte == UInt8(ascii: ".")
            || byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E") || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
        {
            index += 1
        }
        guard index > start else { throw Failure(message: "expected a number at byte \(start)") }
        return String(decoding: bytes[start..<index], as: UTF8.self)
    }

    /// A string without escapes (recipe keys and values never need them).
    private mutating func string() throws(Failure) -> String {
        try expect(UInt8(ascii: "\""))
        let start = index
        while let byte = peek(), byte != UInt8(ascii: "\"") {
            guard byte != UInt8(ascii: "\\") else { throw Failure(message: "escapes are not used in a recipe (byte \(index))") }
            index += 1
        }
        let text = String(decoding: bytes[start..<index], as: UTF8.self)
        try expect(UInt8(ascii: "\""))
        return text
    }

    private mutating func expect(_ byte: UInt8) throws(Failure) {
        skipSpace()
        guard peek() == byte else {
            let found = peek().map { "'\(Character(Unicode.Scalar($0)))'" } ?? "the end"
            throw Failure(message: "expected '\(Character(Unicode.Scalar(byte)))' at byte \(index), found \(found)")
        }
        index += 1
    }

    private mutating func skipSpace() {
        while let byte = peek(), byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 { index += 1 }
    }

    private func peek() -> UInt8? { index < bytes.count ? bytes[index] : nil }
}
