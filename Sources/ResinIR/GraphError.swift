/// What is wrong with a graph, naming the node, operator, attribute, tensor and shapes involved.
///
/// The importer and the passes throw these; the command line prefixes the file. Each case carries
/// everything its message needs so that callers never build messages from strings themselves.
public enum GraphError: Error, Equatable, CustomStringConvertible {
    /// A node input that no graph input, initializer or earlier node produces.
    case undefinedInput(node: String, opType: String, input: String)
    /// Two producers (nodes, graph inputs or initializers) of one value name.
    case duplicateProducer(name: String, first: String, second: String)
    /// Nodes whose inputs depend on each other.
    case cycle(nodes: [String])
    /// A graph output that nothing produces.
    case undefinedOutput(name: String)
    /// An attribute of the wrong type.
    case attributeType(node: String, opType: String, attribute: String, expected: String, found: String)
    /// An attribute with a value the operator cannot take, or a missing required one.
    case invalidAttribute(node: String, opType: String, attribute: String, reason: String)
    /// A node with the wrong number of inputs or outputs.
    case arity(node: String, opType: String, reason: String)
    /// A tensor whose data does not match its type and dimensions.
    case invalidTensor(name: String, reason: String)
    /// Shapes an operator cannot combine.
    case shapeMismatch(node: String, opType: String, reason: String)
    /// Operators Resin cannot run, each with the nodes that use it.
    case unsupportedOperators([UnsupportedUse])
    /// Something else about the model as a whole.
    case invalidModel(reason: String)

    /// One unsupported operator and where it is used.
    public struct UnsupportedUse: Equatable, Sendable {
        public var opType: String
        public var domain: String
        public var nodes: [String]
        public init(opType: String, domain: String, nodes: [String]) {
            self.opType = opType
            self.domain = domain
            self.nodes = nodes
        }
    }

    public var description: String {
        switch self {
        case .undefinedInput(let node, let opType, let input):
            return "node '\(node)' (\(opType)): input '\(input)' is not produced by any node, graph input or initializer"
        case .duplicateProducer(let name, let first, let second):
            return "value '\(name)' is produced twice: by \(first) and by \(second)"
        case .cycle(let nodes):
            let shown = nodes.prefix(8).map { "'\($0)'" }.joined(separator: ", ")
            return "the graph has a cycle through nodes \(shown)\(nodes.count > 8 ? ", ..." : "")"
        case .undefinedOutput(let name):
            return "graph output '\(name)' is not produced by any node, graph input or initializer"
        case .attributeType(let node, let opType, let attribute, let expected, let found):
            return "node '\(node)' (\(opType)): attribute '\(attribute)' must be \(expected), found \(found)"
        case .invalidAttribute(let node, let opType, let attribute, let reason):
            return "node '\(node)' (\(opType)): attribute '\(attribute)' \(reason)"
        case .arity(let node, let opType, let reason):
            return "node '\(node)' (\(opType)): \(reason)"
        case .invalidTensor(let name, let reason):
            return "tensor '\(name)': \(reason)"
        case .shapeMismatch(let node, let opType, let reason):
            return "node '\(node)' (\(opType)): \(reason)"
        case .unsupportedOperators(let uses):
            let list = uses.map { use in
                let op = use.domain.isEmpty ? use.opType : "\(use.domain).\(use.opType)"
                let nodes = use.nodes.prefix(3).map { "'\($0)'" }.joined(separator: ", ")
                return "\(op) (\(use.nodes.count) node\(use.nodes.count == 1 ? "" : "s"): \(nodes)\(use.nodes.count > 3 ? ", ..." : ""))"
            }
            return "unsupported operator\(uses.count == 1 ? "" : "s"): " + list.joined(separator: "; ")
        case .invalidModel(let reason):
            return reason
        }
    }
}

/// An attribute problem found while parsing one node's attributes; the importer adds the node.
public enum AttributeProblem: Error, Equatable {
    case wrongType(attribute: String, expected: String, found: String)
    case invalid(attribute: String, reason: String)

    /// The problem placed at a node.
    public func at(node: String, opType: String) -> GraphError {
        switch self {
        case .wrongType(let attribute, let expected, let found):
            .attributeType(node: node, opType: opType, attribute: attribute, expected: expected, found: found)
        case .invalid(let attribute, let reason):
            .invalidAttribute(node: node, opType: opType, attribute: attribute, reason: reason)
        }
    }
}
