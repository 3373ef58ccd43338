/// A model the server can answer for: its name, its tensors as the protocol describes them, and a way to run it.
///
/// The server never sees how a model is loaded or run; it checks every request against `inputs` before it
/// allocates anything, so `infer` receives only names, datatypes, shapes and byte counts that fit.
public protocol ServableModel: Sendable {
    /// The name clients address the model by: its file name without the extension.
    var name: String { get }
    /// What the model file is (`"resin"` or `"onnx"`), reported as the metadata's `platform`.
    var platform: String { get }
    /// The inputs with their datatypes and shapes; `-1` marks a dimension the request chooses.
    var inputs: [ServedTensorInfo] { get }
    /// The outputs with their datatypes and shapes; `-1` marks a dimension that follows the inputs.
    var outputs: [ServedTensorInfo] { get }
    /// Runs the model on checked inputs (one per name in `inputs`), returning every output.
    ///
    /// Throws `InferenceError.badInput` for an input the model cannot take (the client's fault, HTTP 400) and
    /// anything else for a failure of the server (HTTP 500).
    func infer(_ inputs: [String: ServedTensor]) async throws -> [String: ServedTensor]
}

/// A tensor's name, datatype and shape in a model's metadata.
public struct ServedTensorInfo: Sendable, Equatable {
    /// The tensor's name in the model.
    public var name: String
    /// Its element type.
    public var datatype: ServedDataType
    /// Its dimensions; `-1` is a dimension the request sets (the batch, usually).
    public var shape: [Int]

    /// A tensor description.
    public init(name: String, datatype: ServedDataType, shape: [Int]) {
        self.name = name
        self.datatype = datatype
        self.shape = shape
    }
}

/// A tensor crossing the server: datatype, shape, and its elements as little-endian bytes in row-major order.
public struct ServedTensor: Sendable, Equatable {
    /// The element type.
    public var datatype: ServedDataType
    /// The dimensions.
    public var shape: [Int]
    /// `elementCount * datatype.byteWidth` bytes, little-endian.
    public var bytes: [UInt8]

    /// A tensor over `bytes`; the caller guarantees the byte count fits the shape and datatype.
    public init(datatype: ServedDataType, shape: [Int], bytes: [UInt8]) {
        self.datatype = datatype
        self.shape = shape
        self.bytes = bytes
    }

    /// The product of the dimensions.
    public var elementCount: Int { shape.reduce(1, *) }
}

/// The tensor datatypes of the Open Inference Protocol that have a fixed element size (`BYTES` has none and
/// is not served).
public enum ServedDataType: String, Sendable, CaseIterable {
    case bool = "BOOL"
    case uint8 = "UINT8"
    case uint16 = "UINT16"
    case uint32 = "UINT32"
    case uint64 = "UINT64"
    case int8 = "INT8"
    case int16 = "INT16"
    case int32 = "INT32"
    case int64 = "INT64"
    case fp16 = "FP16"
    case fp32 = "FP32"
    case fp64 = "FP64"

    /// Bytes per element.
    public var byteWidth: Int {
        switch self {
        case .bool, .uint8, .int8: 1
        case .uint16, .int16, .fp16: 2
        case .uint32, .int32, .fp32: 4
        case .uint64, .int64, .fp64: 8
        }
    }
}

/// Why a model refused or failed a run.
public enum InferenceError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The request's inputs do not fit the model (answered with 400).
    case badInput(String)
    /// The model failed for a reason that is not the client's (answered with 500).
    case failed(String)

    /// The message sent to the client.
    public var description: String {
        switch self {
        case .badInput(let message), .failed(let message): message
        }
    }
}
