/// Typed, checked access to one node's attributes while its operator is parsed.
///
/// Parsing happens once, at import; nothing after it reads attributes by name.
public struct AttributeReader {
    private let attributes: [String: AttributeValue]

    public init(_ attributes: [Attribute]) {
        var table: [String: AttributeValue] = [:]
        for attribute in attributes where table[attribute.name] == nil {
            table[attribute.name] = attribute.value
        }
        self.attributes = table
    }

    /// Whether the attribute is present.
    public func has(_ name: String) -> Bool { attributes[name] != nil }

    public func int(_ name: String) throws(AttributeProblem) -> Int? {
        guard let value = attributes[name] else { return nil }
        guard case .int(let int) = value else { throw wrongType(name, "INT", value) }
        guard let result = Int(exactly: int) else { throw .invalid(attribute: name, reason: "is out of range") }
        return result
    }

    public func int(_ name: String, default fallback: Int) throws(AttributeProblem) -> Int {
        try int(name) ?? fallback
    }

    public func ints(_ name: String) throws(AttributeProblem) -> [Int]? {
        guard let value = attributes[name] else { return nil }
        guard case .ints(let ints) = value else { throw wrongType(name, "INTS", value) }
        return ints.map { Int($0) }
    }

    public func float(_ name: String) throws(AttributeProblem) -> Float? {
        guard let value = attributes[name] else { return nil }
        guard case .float(let float) = value else { throw wrongType(name, "FLOAT", value) }
        return float
    }

    public func float(_ name: String, default fallback: Float) throws(AttributeProblem) -> Float {
        try float(name) ?? fallback
    }

    public func floats(_ name: String) throws(AttributeProblem) -> [Float]? {
        guard let value = attributes[name] else { return nil }
        guard case .floats(let floats) = value else { throw wrongType(name, "FLOATS", value) }
        return floats
    }

    public func string(_ name: String) throws(AttributeProblem) -> String? {
        guard let value = attributes[name] else { return nil }
        guard case .string(let bytes) = value else { throw wrongType(name, "STRING", value) }
        return String(decoding: bytes, as: UTF8.self)
    }

    public func strings(_ name: String) throws(AttributeProblem) -> [String]? {
        guard let value = attributes[name] else { return nil }
        guard case .strings(let list) = value else { throw wrongType(name, "STRINGS", value) }
        return list.map { String(decoding: $0, as: UTF8.self) }
    }

    public func tensor(_ name: String) throws(AttributeProblem) -> Tensor? {
        guard let value = attributes[name] else { return nil }
        guard case .tensor(let tensor) = value else { throw wrongType(name, "TENSOR", value) }
        return tensor
    }

    /// The raw value, for attributes with several accepted types.
    public func value(_ name: String) -> AttributeValue? { attributes[name] }

    private func wrongType(_ name: String, _ expected: String, _ found: AttributeValue) -> AttributeProblem {
        .wrongType(attribute: name, expected: expected, found: found.typeName)
    }
}
