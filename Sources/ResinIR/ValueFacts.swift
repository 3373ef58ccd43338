/// What shape inference knows about one value: its type, its dimensions, and for small integer tensors
/// (the shape arithmetic that exporters emit) its elements, symbolic where they depend on a symbolic dim.
public struct ValueFacts: Equatable, Sendable {
    public var dataType: DataType?
    /// The dimensions; nil when even the rank is unknown.
    public var dimensions: [Dimension]?
    /// The elements of a rank-0 or rank-1 integer tensor, when known.
    public var elements: [Dimension]?

    public init(dataType: DataType?, dimensions: [Dimension]?, elements: [Dimension]? = nil) {
        self.dataType = dataType
        self.dimensions = dimensions
        self.elements = elements
    }

    /// Facts of a value about which nothing is known.
    public static let unknown = ValueFacts(dataType: nil, dimensions: nil)

    /// Facts of a constant tensor; integer elements are kept when the tensor is small.
    public init(constant tensor: Tensor) {
        dataType = tensor.dataType
        dimensions = tensor.shape.map { .fixed($0) }
        if tensor.rank <= 1, tensor.elementCount <= Self.elementLimit, let values = tensor.integerValues {
            elements = values.map { .fixed($0) }
        }
    }

    /// The largest integer tensor whose elements inference tracks.
    public static let elementLimit = 64

    /// The rank, when known.
    public var rank: Int? { dimensions?.count }

    /// The elements as plain integers, when all are fixed.
    public var fixedElements: [Int]? { elements?.fixedShape }
}

/// Why shapes do not fit an operator; the caller adds the node and operator.
public struct ShapeProblem: Error, Equatable {
    public var reason: String
    public init(_ reason: String) { self.reason = reason }
}

/// The facts of a node's inputs, with checked access by position.
public struct InferenceInputs {
    public var facts: [ValueFacts?]
    public init(_ facts: [ValueFacts?]) { self.facts = facts }

    /// The facts of input `index`, or nil when the input is absent or unknown.
    public subscript(index: Int) -> ValueFacts? {
        index < facts.count ? facts[index] : nil
    }

    /// Whether input `index` is given (an empty name means an omitted optional input).
    public func isPresent(_ index: Int) -> Bool { index < facts.count && facts[index] != nil }

    /// The dimensions of input `index`, which must have rank `rank` when both are known.
    public func dimensions(_ index: Int, name: String, rank: Int? = nil) throws(ShapeProblem) -> [Dimension]? {
        guard let dimensions = self[index]?.dimensions else { return nil }
        if let rank, dimensions.count != rank {
            throw ShapeProblem("input \(name) must have rank \(rank), found shape \(describe(dimensions))")
        }
        return dimensions
    }
}

/// Normalises a possibly negative axis against a rank, as ONNX allows `-rank..<rank`.
public func normalizedAxis(_ axis: Int, rank: Int, allowingEnd: Bool = false) throws(ShapeProblem) -> Int {
    let upper = allowingEnd ? rank + 1 : rank
    let normalized = axis < 0 ? axis + rank : axis
    guard normalized >= 0, normalized < upper else {
        throw ShapeProblem("axis \(axis) is out of range for rank \(rank)")
    }
    return normalized
}

/// Numpy-style broadcasting of two shapes; fixed beats symbolic, and a 1 gives way to anything.
public func broadcast(_ lhs: [Dimension], _ rhs: [Dimension]) throws(ShapeProblem) -> [Dimension] {
    let rank = max(lhs.count, rhs.count)
    var result: [Dimension] = []
    result.reserveCapacity(rank)
    for index in 0..<rank {
        let left = index < rank - lhs.count ? Dimension.fixed(1) : lhs[index - (rank - lhs.count)]
        let right = index < rank - rhs.count ? Dimension.fixed(1) : rhs[index - (rank - rhs.count)]
        switch (left, right) {
        case (.fixed(1), _): result.append(right)
        case (_, .fixed(1)): result.append(left)
        case (.fixed(let a), .fixed(let b)):
            guard a == b else {
                throw ShapeProblem("shapes \(describe(lhs)) and \(describe(rhs)) do not broadcast")
            }
            result.append(left)
        case (.fixed, _): result.append(left)
        case (_, .fixed): result.append(right)
        default: result.append(left == right ? left : .unknown)
        }
    }
    return result
}

/// The product of dimensions as a fixed factor and the symbols it depends on; nil when one is unknown.
func symbolicProduct(_ dimensions: [Dimension]) -> (factor: Int, symbols: [String])? {
    var factor = 1
    var symbols: [String] = []
    for dimension in dimensions {
        switch dimension {
        case .fixed(let value):
            let (product, overflow) = factor.multipliedReportingOverflow(by: value)
            if overflow { return nil }
            factor = product
        case .symbolic(let name): symbols.append(name)
        case .unknown: return nil
        }
    }
    return (factor, symbols.sorted())
}

/// The product of dimensions as one dimension: fixed, a lone symbol, or unknown.
func product(_ dimensions: [Dimension]) -> Dimension {
    guard let (factor, symbols) = symbolicProduct(dimensions) else { return .unknown }
    if symbols.isEmpty { return .fixed(factor) }
    if symbols.count == 1, factor == 1 { return .symbolic(symbols[0]) }
    return factor == 0 ? .fixed(0) : .unknown
}
