import ResinFormat
import ResinIR
import ResinONNX
import ResinRuntime

/// Why Resin could not load, prepare or run a model. Each case carries the file, node, operator, input and
/// shapes involved; `description` is the one-line message `resin` prints for it.
public enum ResinError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The file could not be read: missing, unreadable, not a regular file, or an I/O failure.
    case unreadableFile(path: String, reason: String)
    /// The file is not a model Resin can use: malformed, truncated or corrupt, or a node whose attributes,
    /// inputs or shapes do not fit its operator. `node` and `operator` name the node when one is at fault.
    case invalidModel(path: String, node: String?, operator: String?, reason: String)
    /// Operators Resin cannot run, all of them at once.
    case unsupportedOperators(path: String, operators: [UnsupportedOperator])
    /// The model would need more memory than `InferenceSession.Options.memoryLimit` allows; `what` says
    /// where the bytes go.
    case memoryLimitExceeded(path: String, bytes: Int, limit: Int, what: String)
    /// A tensor that is not well formed: a negative dimension, or elements that do not fill its shape.
    case invalidTensor(reason: String)
    /// A tensor given for a name the model has no input for.
    case unknownInput(name: String, inputs: [String])
    /// A model input no tensor was given for.
    case missingInput(name: String)
    /// A tensor whose element type or shape is not the input's, and does not convert to it without loss.
    case inputMismatch(name: String, expected: String, actual: String)
    /// Every one of the session's `maxConcurrentRuns` runs was in flight and the caller asked not to wait.
    case busy(maxConcurrentRuns: Int)
    /// A kernel refused its data while running (a Gather index out of range, say).
    case runFailed(node: String, operator: String, reason: String)
    /// Options or settings Resin cannot honour: a thread count below 1, or a `RESIN_ISA` above what the
    /// processor has.
    case invalidConfiguration(reason: String)
    /// Writing a model failed; nothing was left at `path`.
    case writeFailed(path: String, reason: String)

    /// One operator Resin cannot run, and the nodes that use it.
    public struct UnsupportedOperator: Sendable, Equatable {
        /// The operator's type, as in the ONNX file (`NonMaxSuppression`).
        public var name: String
        /// The operator's domain; empty for ONNX's default domain.
        public var domain: String
        /// The nodes of the graph that use it.
        public var nodes: [String]

        /// An unsupported operator used by `nodes`.
        public init(name: String, domain: String, nodes: [String]) {
            self.name = name
            self.domain = domain
            self.nodes = nodes
        }
    }

    /// The error as one line, naming the file and, for a model, the node, operator and shapes.
    public var description: String {
        switch self {
        case .unreadableFile(let path, let reason):
            return "\(path): \(reason)"
        case .invalidModel(let path, let node, let op, let reason):
            guard let node else { return "\(path): \(reason)" }
            return "\(path): node '\(node)' (\(op ?? "?")): \(reason)"
        case .unsupportedOperators(let path, let operators):
            let uses = operators.map { GraphError.UnsupportedUse(opType: $0.name, domain: $0.domain, nodes: $0.nodes) }
            return "\(path): \(GraphError.unsupportedOperators(uses))"
        case .memoryLimitExceeded(let path, let bytes, let limit, let what):
            return "\(path): \(RuntimeError.memoryLimitExceeded(bytes: bytes, limit: limit, what: what))"
        case .invalidTensor(let reason):
            return "invalid tensor: \(reason)"
        case .unknownInput(let name, let inputs):
            return RuntimeError.unknownInput(name: name, inputs: inputs).description
        case .missingInput(let name):
            return RuntimeError.missingInput(name: name).description
        case .inputMismatch(let name, let expected, let actual):
            return RuntimeError.inputMismatch(name: name, expected: expected, found: actual).description
        case .busy(let runs):
            return "all \(runs) runs the session allows are in flight (maxConcurrentRuns) and the caller asked not to wait"
        case .runFailed(let node, let op, let reason):
            return "node '\(node)' (\(op)): \(reason)"
        case .writeFailed(let path, let reason):
            return "\(path): \(reason)"
        case .invalidConfiguration(let reason):
            return reason
        }
    }
}

extension ResinError {
    /// The public error for any error the pipeline's modules throw while handling the model at `path`.
    package init(_ error: any Error, path: String) {
        switch error {
        case let error as ResinError:
            self = error
        case let error as FileError:
            self = .unreadableFile(path: path, reason: Self.withoutPrefix(error.description, path))
        case let error as ImportError:
            switch error.problem {
            case .unreadable(let file): self = .unreadableFile(path: path, reason: Self.withoutPrefix(file.description, path))
            case .graph(let graph): self = ResinError(graph: graph, path: path)
            default: self = .invalidModel(path: path, node: nil, operator: nil, reason: Self.withoutPrefix(error.description, path))
            }
        case let error as GraphError:
            self = ResinError(graph: error, path: path)
        case let error as RuntimeError:
            self = ResinError(runtime: error, path: path)
        case let error as NativeFormatError:
            self = .invalidModel(path: path, node: nil, operator: nil, reason: error.reason)
        case let error as LoadError:
            self = .invalidModel(path: path, node: nil, operator: nil, reason: error.reason)
        default:
            self = .invalidModel(path: path, node: nil, operator: nil, reason: Self.withoutPrefix("\(error)", path))
        }
    }

    private init(graph error: GraphError, path: String) {
        switch error {
        case .unsupportedOperators(let uses):
            self = .unsupportedOperators(
                path: path, operators: uses.map { UnsupportedOperator(name: $0.opType, domain: $0.domain, nodes: $0.nodes) })
        case .attributeType(let node, let op, _, _, _), .invalidAttribute(let node, let op, _, _), .arity(let node, let op, _),
             .shapeMismatch(let node, let op, _), .undefinedInput(let node, let op, _):
            self = .invalidModel(path: path, node: node, operator: op, reason: Self.withoutNode(error.description, node, op))
        default:
            self = .invalidModel(path: path, node: nil, operator: nil, reason: error.description)
        }
    }

    private init(runtime error: RuntimeError, path: String) {
        switch error {
        case .unsupportedOperators(let uses):
            self = ResinError(graph: .unsupportedOperators(uses), path: path)
        case .memoryLimitExceeded(let bytes, let limit, let what):
            self = .memoryLimitExceeded(path: path, bytes: bytes, limit: limit, what: what)
        case .inputMismatch(let name, let expected, let found):
            self = .inputMismatch(name: name, expected: expected, actual: found)
        case .unknownInput(let name, let inputs):
            self = .unknownInput(name: name, inputs: inputs)
        case .missingInput(let name):
            self = .missingInput(name: name)
        case .kernel(let node, let op, let reason):
            self = .runFailed(node: node, operator: op, reason: reason)
        case .unresolvedShape(_, let node, let op), .unsupportedType(let node, let op, _),
             .nonConstantInput(let node, let op, _, _), .unsupportedAttribute(let node, let op, _):
            self = .invalidModel(path: path, node: node, operator: op, reason: Self.withoutNode(error.description, node, op))
        case .sizeOverflow(_, let node, let op, _, _) where !node.isEmpty:
            self = .invalidModel(path: path, node: node, operator: op, reason: Self.withoutNode(error.description, node, op))
        case .busy:
            // A pooled runtime session is only ever used by the caller that took it from the pool.
            preconditionFailure("a pooled session was run by two callers at once")
        default:
            self = .invalidModel(path: path, node: nil, operator: nil, reason: error.description)
        }
    }

    /// A message without the "path: " its layer put in front, since `description` adds it back.
    private static func withoutPrefix(_ message: String, _ path: String) -> String {
        message.hasPrefix(path + ": ") ? String(message.dropFirst(path.count + 2)) : message
    }

    /// A message without the "node 'n' (Op): " its layer put in front, since the case carries both.
    private static func withoutNode(_ message: String, _ node: String, _ op: String) -> String {
        withoutPrefix(message, "node '\(node)' (\(op))")
    }
}
