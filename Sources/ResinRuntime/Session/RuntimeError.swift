import ResinIR

/// Why a session could not be made or run, naming the node, operator, input and shapes involved.
public enum RuntimeError: Error, Equatable, CustomStringConvertible {
    /// Operators Resin cannot run; all of them are listed at once.
    case unsupportedOperators([GraphError.UnsupportedUse])
    /// A value whose shape is still unknown once the inputs are bound.
    case unresolvedShape(value: String, node: String, opType: String)
    /// A symbolic input dimension that neither the batch nor a given input shape binds.
    case unboundDimension(input: String, dimension: String, shape: String)
    /// An element type an operator's kernel does not handle.
    case unsupportedType(node: String, opType: String, dataType: DataType)
    /// An input that must be known when the session is made (a Reshape's target shape, say).
    case nonConstantInput(node: String, opType: String, input: String, role: String)
    /// An attribute value the kernels do not implement.
    case unsupportedAttribute(node: String, opType: String, reason: String)
    /// A tensor given for an input whose shape or type is not the model's.
    case inputMismatch(name: String, expected: String, found: String)
    /// A tensor given for a name the model has no input for.
    case unknownInput(name: String, inputs: [String])
    /// A model input no tensor was given for.
    case missingInput(name: String)
    /// A kernel failure while running, such as a Gather index out of range.
    case kernel(node: String, opType: String, reason: String)
    /// `run` was called while another thread was running the same session.
    case busy
    /// A value whose element or byte count does not fit in 64 bits (a file declaring a dimension of 2^40
    /// among others, say): named before anything is allocated.
    case sizeOverflow(value: String, node: String, opType: String, dataType: DataType, shape: [Int])
    /// A dimension bound from outside the file (the batch, a given input shape) above the largest Resin accepts.
    case dimensionTooLarge(input: String, dimension: Int)
    /// The session would allocate more than `SessionOptions.memoryLimit`; `what` says where the bytes go
    /// (the largest tensor, folded constants).
    case memoryLimitExceeded(bytes: Int, limit: Int, what: String)

    public var description: String {
        switch self {
        case .unsupportedOperators(let uses):
            return GraphError.unsupportedOperators(uses).description
        case .unresolvedShape(let value, let node, let opType):
            return "node '\(node)' (\(opType)): the shape of output '\(value)' cannot be determined"
        case .unboundDimension(let input, let dimension, let shape):
            return "input '\(input)' has shape \(shape) and nothing binds its dimension '\(dimension)' (give the input or --batch)"
        case .unsupportedType(let node, let opType, let dataType):
            return "node '\(node)' (\(opType)): element type \(dataType) is not supported"
        case .nonConstantInput(let node, let opType, let input, let role):
            return "node '\(node)' (\(opType)): input '\(input)' (\(role)) must be known when the session is made"
        case .unsupportedAttribute(let node, let opType, let reason):
            return "node '\(node)' (\(opType)): \(reason)"
        case .inputMismatch(let name, let expected, let found):
            return "input '\(name)': the model expects \(expected), found \(found)"
        case .unknownInput(let name, let inputs):
            return "the model has no input '\(name)' (its inputs: \(inputs.joined(separator: ", ")))"
        case .missingInput(let name):
            return "no tensor given for input '\(name)'"
        case .kernel(let node, let opType, let reason):
            return "node '\(node)' (\(opType)): \(reason)"
        case .sizeOverflow(let value, let node, let opType, let dataType, let shape):
            let owner = node.isEmpty ? "graph input '\(value)'" : "node '\(node)' (\(opType)): output '\(value)'"
            return "\(owner) of shape \(describe(shape)) (\(dataType)) has more bytes than a 64-bit size can count"
        case .dimensionTooLarge(let input, let dimension):
            return "input '\(input)': dimension \(dimension) is above the supported maximum \(Dimension.maximum)"
        case .memoryLimitExceeded(let bytes, let limit, let what):
            return "the session needs \(bytes) bytes (\(what)), above the memory limit of \(limit) bytes (--max-memory; default: physical memory)"
        case .busy:
            return "the session is already running on another thread; a session runs one inference at a time (make one session per thread)"
        }
    }
}
