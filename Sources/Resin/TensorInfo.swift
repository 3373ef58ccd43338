import ResinIR

/// A model input or output as the model declares it: a name, an element type and a shape whose dimensions
/// may be symbolic (a batch named `N`, say).
public struct TensorInfo: Sendable, Hashable {
    /// One dimension of a declared shape.
    public enum Dimension: Sendable, Hashable, CustomStringConvertible {
        /// A size the model fixes.
        case fixed(Int)
        /// A size the model leaves open, by its name in the file; a session binds it (the batch, usually).
        case symbolic(String)
        /// A size the model neither fixes nor names.
        case unknown

        /// The size, when the model fixes it.
        public var value: Int? {
            if case .fixed(let size) = self { return size }
            return nil
        }

        /// The size, or the symbolic name as `resin inspect` prints it.
        public var description: String {
            switch self {
            case .fixed(let size): "\(size)"
            case .symbolic(let name): name
            case .unknown: "?"
            }
        }
    }

    /// The tensor's name in the graph, the key of `InferenceSession.run`'s inputs and outputs.
    public var name: String
    /// The declared element type; nil when the model does not declare one Resin can name.
    public var elementType: ElementType?
    /// The declared shape; nil when the model does not declare one.
    public var shape: [Dimension]?

    /// A tensor description with the given name, type and shape.
    public init(name: String, elementType: ElementType?, shape: [Dimension]?) {
        self.name = name
        self.elementType = elementType
        self.shape = shape
    }

    /// The public description of a graph input or output.
    package init(_ info: ValueInfo) {
        name = info.name
        elementType = info.type?.elementType.flatMap(ElementType.init)
        shape = info.type?.dimensions?.map { dimension in
            switch dimension {
            case .fixed(let size): .fixed(size)
            case .symbolic(let name): .symbolic(name)
            case .unknown: .unknown
            }
        }
    }
}
