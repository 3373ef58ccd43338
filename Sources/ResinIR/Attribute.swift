/// The value of a node attribute, one case per ONNX `AttributeType`.
public indirect enum AttributeValue: Equatable, Sendable {
    case float(Float)
    case int(Int64)
    case string([UInt8])
    case tensor(Tensor)
    case graph(Graph)
    case sparseTensor(SparseTensor)
    case type(TypeDescription)
    case floats([Float])
    case ints([Int64])
    case strings([[UInt8]])
    case tensors([Tensor])
    case graphs([Graph])
    case sparseTensors([SparseTensor])
    case types([TypeDescription])
    /// An attribute whose type the file left undefined (kept only for `ref_attr_name` references).
    case undefined

    /// The ONNX name of the value's type, for error messages (`INT`, `FLOATS`, ...).
    public var typeName: String {
        switch self {
        case .float: "FLOAT"
        case .int: "INT"
        case .string: "STRING"
        case .tensor: "TENSOR"
        case .graph: "GRAPH"
        case .sparseTensor: "SPARSE_TENSOR"
        case .type: "TYPE_PROTO"
        case .floats: "FLOATS"
        case .ints: "INTS"
        case .strings: "STRINGS"
        case .tensors: "TENSORS"
        case .graphs: "GRAPHS"
        case .sparseTensors: "SPARSE_TENSORS"
        case .types: "TYPE_PROTOS"
        case .undefined: "UNDEFINED"
        }
    }
}

/// A node attribute as the file states it.
public struct Attribute: Equatable, Sendable {
    public var name: String
    public var value: AttributeValue
    public var docString: String?
    /// Set inside function bodies: the attribute refers to the calling node's attribute of this name.
    public var referenceName: String?

    public init(
        name: String, value: AttributeValue, docString: String? = nil, referenceName: String? = nil
    ) {
        self.name = name
        self.value = value
        self.docString = docString
        self.referenceName = referenceName
    }
}
