/// One dimension as a `TensorShapeProto` states it: the value and an optional denotation.
public struct ShapeDimension: Hashable, Sendable {
    public var dimension: Dimension
    public var denotation: String?
    public init(_ dimension: Dimension, denotation: String? = nil) {
        self.dimension = dimension
        self.denotation = denotation
    }
}

/// The type of a graph value, with every `TypeProto` variant so that a round trip keeps them.
public indirect enum ValueType: Hashable, Sendable {
    /// A dense tensor; a nil shape means the rank is unknown.
    case tensor(elementType: DataType?, shape: [ShapeDimension]?)
    case sparseTensor(elementType: DataType?, shape: [ShapeDimension]?)
    case sequence(TypeDescription?)
    case map(keyType: DataType?, valueType: TypeDescription?)
    case optional(TypeDescription?)
    case opaque(domain: String?, name: String?)
}

/// A `TypeProto`: a value type and its optional denotation.
public struct TypeDescription: Hashable, Sendable {
    public var value: ValueType?
    public var denotation: String?
    public init(_ value: ValueType?, denotation: String? = nil) {
        self.value = value
        self.denotation = denotation
    }

    /// The element type, for a dense tensor.
    public var elementType: DataType? {
        if case .tensor(let elementType, _)? = value { return elementType }
        return nil
    }

    /// The dimensions, for a dense tensor of known rank.
    public var dimensions: [Dimension]? {
        if case .tensor(_, let shape)? = value { return shape?.map(\.dimension) }
        return nil
    }

    /// A dense tensor type.
    public static func tensor(_ elementType: DataType, _ dimensions: [Dimension]) -> TypeDescription {
        TypeDescription(.tensor(elementType: elementType, shape: dimensions.map { ShapeDimension($0) }))
    }
}

/// A named, typed value: a graph input, output or `value_info` entry.
public struct ValueInfo: Hashable, Sendable {
    public var name: String
    public var type: TypeDescription?
    public var docString: String?
    public var metadata: [StringPair]

    public init(
        name: String, type: TypeDescription?, docString: String? = nil, metadata: [StringPair] = []
    ) {
        self.name = name
        self.type = type
        self.docString = docString
        self.metadata = metadata
    }
}
