/// A parsed JSON value, as small as the protocol's bodies need.
///
/// An array made only of numbers that a `Double` holds exactly is kept as `numbers`, 8 bytes an element
/// rather than an enum each: tensor data is nearly all of an inference body, and this bounds what a JSON
/// body costs to parse at about four times its size (a number takes at least two bytes of text, `0,`).
enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    /// An integer literal that fits `Int64`.
    case integer(Int64)
    /// Any other number, and the non-standard `NaN`, `Infinity` and `-Infinity` that Python's json writes.
    case double(Double)
    case string(String)
    case numbers([Double])
    case array([JSONValue])
    case object([String: JSONValue])

    /// The member `key` of an object, or nil.
    subscript(key: String) -> JSONValue? {
        if case .object(let members) = self { return members[key] }
        return nil
    }

    /// The JSON type's name, for error messages.
    var kind: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .integer, .double: "a number"
        case .string: "a string"
        case .numbers, .array: "an array"
        case .object: "an object"
        }
    }
}

/// Why a body is not JSON, with the byte offset where reading stopped.
struct JSONSyntaxError: Error, Equatable, CustomStringConvertible {
    var offset: Int
    var reason: String
    var description: String { "malformed JSON at byte \(offset): \(reason)" }
}

/// A recursive-descent JSON reader over bytes (RFC 8259, plus `NaN` and `Infinity`).
///
/// Nesting is bounded (`maximumDepth`) so that a body of brackets cannot exhaust the stack.
struct JSONParser {
    static let maximumDepth = 64

    private let bytes: UnsafeRawBufferPointer
    private var position = 0

    /// Parses exactly one value filling `bytes` (surrounding whitespace allowed).
    static func parse(_ bytes: UnsafeRawBufferPointer) throws(JSONSyntaxError) -> JSONValue {
        var parser = JSONParser(bytes: bytes)
        let value = try parser.value(depth: 0)
        parser.skipWhitespace()
        guard parser.position == bytes.count else { throw parser.error("unexpected text after the value") }
        return value
    }

    /// Parses a byte array (tests and small bodies).
    static func parse(_ bytes: [UInt8]) throws(JSONSyntaxError) -> JSONValue {
        let result = bytes.withUnsafeBytes { raw in Result { () throws(JSONSyntaxError) in try parse(raw) } }
        return try result.get()
    }

    private init(bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    private func error(_ reason: String) -> JSONSyntaxError { JSONSyntaxError(offset: position, reason: reason) }

    private var current: UInt8? { position < bytes.count ? bytes[position] : nil }

    private mutating func skipWhitespace() {
        while let byte = current, byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 { position += 1 }
    }

    private mutating func expect(_ literal: String) throws(JSONSyntaxError) {
        for byte in literal.utf8 {
            guard current == byte else { throw error("expected '\(literal)'") }
            position += 1
        }
    }

    private mutating func value(depth: Int) throws(JSONSyntaxError) -> JSONValue {
        guard depth < Self.maximumDepth else { throw error("nested more than \(Self.maximumDepth) levels deep") }
        skipWhitespace()
        guard let byte = current else { throw error("unexpected end of the body") }
        switch byte {
        case UInt8(ascii: "{"): return try object(depth: depth)
        case UInt8(ascii: "["): return try array(depth: depth)
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try expect("true"); return .bool(true)
        case UInt8(ascii: "f"): try expect("false"); return .bool(false)
        case UInt8(ascii: "n"): try expect("null"); return .null
        case UInt8(ascii: "N"): try expect("NaN"); return .double(.nan)
        case UInt8(ascii: "I"): try expect("Infinity"); return .double(.infinity)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try number()
        default: throw error("unexpected character '\(Character(Unicode.Scalar(byte)))'")
        }
    }

    private mutating func object(depth: Int) throws(JSONSyntaxError) -> JSONValue {
        position += 1
        var members: [String: JSONValue] = [:]
        skipWhitespace()
        if current == UInt8(ascii: "}") { position += 1; return .object(members) }
        while true {
            skipWhitespace()
            guard current == UInt8(ascii: "\"") else { throw error("expected a member name in quotes") }
            let keyOffset = position
            let key = try string()
            skipWhitespace()
            try expect(":")
            let member = try value(depth: depth + 1)
            guard members.updateValue(member, forKey: key) == nil else {
                throw JSONSyntaxError(offset: keyOffset, reason: "duplicate member \"\(key)\"")
            }
            skipWhitespace()
            switch current {
            case UInt8(ascii: ","): position += 1
            case UInt8(ascii: "}"): position += 1; return .object(members)
            default: throw error("expected ',' or '}' in an object")
            }
        }
    }

    private mutating func array(depth: Int) throws(JSONSyntaxError) -> JSONValue {
        position += 1
        var numbers: [Double] = []
        var elements: [JSONValue] = []
        var allNumbers = true
        skipWhitespace()
        if current == UInt8(ascii: "]") { position += 1; return .array([]) }
        while true {
            let element = try value(depth: depth + 1)
            if allNumbers, let exact = Self.exactDouble(element) {
                numbers.append(exact)
            } else {
                if allNumbers {
                    // The first element that is not a number: the ones before it become ordinary elements.
                    allNumbers = false
                    elements = numbers.map { .double($0) }
                    numbers = []
                }
                elements.append(element)
            }
            skipWhitespace()
            switch current {
            case UInt8(ascii: ","): position += 1
            case UInt8(ascii: "]"): position += 1; return allNumbers ? .numbers(numbers) : .array(elements)
            default: throw error("expected ',' or ']' in an array")
            }
        }
    }

    /// A number's value when a `Double` holds it exactly (every double, and integers up to 2^53).
    private static func exactDouble(_ value: JSONValue) -> Double? {
        switch value {
        case .double(let number): number
        case .integer(let number): abs(number) <= 1 << 53 ? Double(number) : nil
        default: nil
        }
    }

    private mutating func number() throws(JSONSyntaxError) -> JSONValue {
        let start = position
        if current == UInt8(ascii: "-") {
            position += 1
            if current == UInt8(ascii: "I") { try expect("Infinity"); return .double(-.infinity) }
        }
        var isInteger = true
        guard scanDigits() > 0 else { throw error("expected a digit") }
        if current == UInt8(ascii: ".") {
            isInteger = false
            position += 1
            guard scanDigits() > 0 else { throw error("expected a digit after '.'") }
        }
        if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
            isInteger = false
            position += 1
            if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { position += 1 }
            guard scanDigits() > 0 else { throw error("expected a digit in the exponent") }
        }
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<position]), as: UTF8.self)
        if isInteger, let integer = Int64(text) { return .integer(integer) }
        guard let double = Double(text) else { throw JSONSyntaxError(offset: start, reason: "number out of range") }
        return .double(double)
    }

    private mutating func scanDigits() -> Int {
        let start = position
        while let byte = current, byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") { position += 1 }
        return position - start
    }

    private mutating func string() throws(JSONSyntaxError) -> String {
        position += 1
        var utf8: [UInt8] = []
        while true {
            guard let byte = current else { throw error("unterminated string") }
            position += 1
            switch byte {
            case UInt8(ascii: "\""):
                return String(decoding: utf8, as: UTF8.self)
            case UInt8(ascii: "\\"):
                try escape(into: &utf8)
            case 0..<0x20:
                throw JSONSyntaxError(offset: position - 1, reason: "control character in a string")
            default:
                utf8.append(byte)
            }
        }
    }

    private mutating func escape(into utf8: inout [UInt8]) throws(JSONSyntaxError) {
        guard let byte = current else { throw error("unterminated escape") }
        position += 1
        switch byte {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): utf8.append(byte)
        case UInt8(ascii: "b"): utf8.append(0x08)
        case UInt8(ascii: "f"): utf8.append(0x0C)
        case UInt8(ascii: "n"): utf8.append(0x0A)
        case UInt8(ascii: "r"): utf8.append(0x0D)
        case UInt8(ascii: "t"): utf8.append(0x09)
        case UInt8(ascii: "u"):
            var scalar = try hexQuad()
            if (0xD800..<0xDC00).contains(scalar) {
                // A high surrogate must be followed by an escaped low one.
                try expect("\\u")
                let low = try hexQuad()
                guard (0xDC00..<0xE000).contains(low) else { throw error("unpaired surrogate") }
                scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
            }
            guard let character = Unicode.Scalar(scalar) else { throw error("unpaired surrogate") }
            utf8.append(contentsOf: String(Character(character)).utf8)
        default:
            throw JSONSyntaxError(offset: position - 1, reason: "unknown escape '\\\(Character(Unicode.Scalar(byte)))'")
        }
    }

    private mutating func hexQuad() throws(JSONSyntaxError) -> UInt32 {
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard let byte = current, let digit = Self.hexValue(byte) else { throw error("expected four hex digits") }
            value = value << 4 | digit
            position += 1
        }
        return value
    }

    private static func hexValue(_ byte: UInt8) -> UInt32? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): UInt32(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): UInt32(byte - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): UInt32(byte - UInt8(ascii: "A") + 10)
        default: nil
        }
    }
}
