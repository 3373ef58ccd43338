/// A `(key, value)` string pair, as ONNX `StringStringEntryProto` holds metadata.
public struct StringPair: Hashable, Sendable {
    public var key: String
    public var value: String
    public init(key: String, value: String) {
        self.key = key
        self.value = value
    }
}

/// How the source file stored a tensor's elements, so that a faithful export writes them the same way.
public enum TensorEncoding: Hashable, Sendable {
    /// Little-endian bytes in `raw_data`.
    case raw
    /// The typed repeated field that fits the type (`float_data`, `int64_data`, ...).
    case typed
    /// An external data file; the entries are the original `external_data` key/value pairs.
    case external([StringPair])
}

/// A `TensorProto` segment marker, kept only so that a round trip preserves it.
public struct TensorSegment: Hashable, Sendable {
    public var begin: Int64?
    public var end: Int64?
    public init(begin: Int64?, end: Int64?) {
        self.begin = begin
        self.end = end
    }
}

/// A constant tensor: an initializer, a Constant node's value or an attribute tensor.
public struct Tensor: Sendable {
    /// The tensor's name (may be empty for attribute tensors).
    public var name: String?
    public var dataType: DataType
    /// The dimensions, each non-negative.
    public var shape: [Int]
    /// The elements as little-endian bytes; empty for string tensors.
    public var storage: TensorStorage
    /// The elements of a string tensor.
    public var strings: [[UInt8]]
    /// How the source file stored the elements.
    public var encoding: TensorEncoding
    public var docString: String?
    public var segment: TensorSegment?
    public var metadata: [StringPair]
    /// Whether the file states `data_location: DEFAULT` explicitly (kept so a round trip is field-exact).
    public var statesDefaultLocation = false

    public init(
        name: String?, dataType: DataType, shape: [Int], storage: TensorStorage,
        strings: [[UInt8]] = [], encoding: TensorEncoding = .raw, docString: String? = nil,
        segment: TensorSegment? = nil, metadata: [StringPair] = []
    ) {
        self.name = name
        self.dataType = dataType
        self.shape = shape
        self.storage = storage
        self.strings = strings
        self.encoding = encoding
        self.docString = docString
        self.segment = segment
        self.metadata = metadata
    }

    /// The number of elements (the shape was validated when the tensor was made).
    public var elementCount: Int { ResinIR.elementCount(of: shape) ?? 0 }

    /// The rank.
    public var rank: Int { shape.count }

    /// The elements as integers, for int64/int32 tensors that carry shapes, axes and indices.
    public var integerValues: [Int]? {
        let bytes = storage.bytes
        switch dataType {
        case .int64 where bytes.count >= elementCount * 8:
            return (0..<elementCount).map {
                Int(bytes.loadUnaligned(fromByteOffset: $0 * 8, as: Int64.self))
            }
        case .int32 where bytes.count >= elementCount * 4:
            return (0..<elementCount).map {
                Int(bytes.loadUnaligned(fromByteOffset: $0 * 4, as: Int32.self))
            }
        default:
            return nil
        }
    }

    /// The elements as floats, for float32 tensors.
    public var floatValues: [Float]? {
        let bytes = storage.bytes
        guard dataType == .float, bytes.count >= elementCount * 4 else { return nil }
        return (0..<elementCount).map { bytes.loadUnaligned(fromByteOffset: $0 * 4, as: Float.self) }
    }

    /// A float32 tensor with the given elements.
    public static func floats(_ values: [Float], shape: [Int], name: String? = nil) -> Tensor {
        let storage = values.withUnsafeBytes { TensorStorage(copying: $0) }
        return Tensor(name: name, dataType: .float, shape: shape, storage: storage)
    }

    /// An int64 tensor with the given elements.
    public static func int64s(_ values: [Int64], shape: [Int], name: String? = nil) -> Tensor {
        let storage = values.withUnsafeBytes { TensorStorage(copying: $0) }
        return Tensor(name: name, dataType: .int64, shape: shape, storage: storage)
    }
}

extension Tensor: Equatable {
    public static func == (lhs: Tensor, rhs: Tensor) -> Bool {
        lhs.name == rhs.name && lhs.dataType == rhs.dataType && lhs.shape == rhs.shape
            && lhs.strings == rhs.strings && lhs.encoding == rhs.encoding
            && lhs.docString == rhs.docString && lhs.segment == rhs.segment
            && lhs.metadata == rhs.metadata && lhs.statesDefaultLocation == rhs.statesDefaultLocation
            && lhs.storage.hasSameBytes(as: rhs.storage)
    }
}

/// An ONNX sparse tensor: values at indices of a dense shape.
public struct SparseTensor: Equatable, Sendable {
    public var values: Tensor
    public var indices: Tensor
    public var shape: [Int64]
    public init(values: Tensor, indices: Tensor, shape: [Int64]) {
        self.values = values
        self.indices = indices
        self.shape = shape
    }
}
