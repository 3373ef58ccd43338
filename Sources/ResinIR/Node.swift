/// One operator application in a graph.
public struct Node: Equatable, Sendable {
    public var name: String?
    public var opType: String
    /// The operator set domain; empty is the default ONNX domain.
    public var domain: String?
    /// Input value names; an empty name is an omitted optional input.
    public var inputs: [String]
    public var outputs: [String]
    /// The attributes as the file states them, kept for a faithful export.
    public var attributes: [Attribute]
    /// The operator with its typed attributes, which everything after the importer reads.
    public var op: Operator
    public var docString: String?
    public var overload: String?
    public var metadata: [StringPair]
    /// `NodeDeviceConfigurationProto` messages as their encoded bytes, kept for round trips.
    public var deviceConfigurations: [[UInt8]] = []

    public init(
        name: String?, opType: String, domain: String? = nil, inputs: [String], outputs: [String],
        attributes: [Attribute] = [], op: Operator, docString: String? = nil, overload: String? = nil,
        metadata: [StringPair] = []
    ) {
        self.name = name
        self.opType = opType
        self.domain = domain
        self.inputs = inputs
        self.outputs = outputs
        self.attributes = attributes
        self.op = op
        self.docString = docString
        self.overload = overload
        self.metadata = metadata
    }

    /// The name messages use: the node's name, or its first output when it has none.
    public var displayName: String {
        if let name, !name.isEmpty { return name }
        return outputs.first.map { "<output \($0)>" } ?? "<unnamed \(opType)>"
    }
}
