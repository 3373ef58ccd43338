import ResinIR

/// Why a file could not be imported as an ONNX model. Every case names the file; the message says where.
public struct ImportError: Error, CustomStringConvertible {
    /// The file that failed.
    public var file: String
    public var problem: Problem

    public enum Problem: Error {
        /// The file could not be read.
        case unreadable(FileError)
        /// The bytes are not an ONNX protobuf; `detail` says where decoding stopped and why.
        case notProtobuf(detail: String)
        /// The graph or a tensor in it is malformed.
        case graph(GraphError)
        /// An external data reference is unusable.
        case externalData(tensor: String, location: String, reason: String)
    }

    public init(file: String, problem: Problem) {
        self.file = file
        self.problem = problem
    }

    public var description: String {
        switch problem {
        case .unreadable(let error): return error.description
        case .notProtobuf(let detail): return "\(file): not a valid ONNX model: \(detail)"
        case .graph(let error): return "\(file): \(error)"
        case .externalData(let tensor, let location, let reason):
            return "\(file): tensor '\(tensor)': external data '\(location)' \(reason)"
        }
    }
}
