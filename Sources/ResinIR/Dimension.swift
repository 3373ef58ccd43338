/// One dimension of a tensor shape: a number, a named symbol such as a batch `N`, or unknown.
public enum Dimension: Hashable, Sendable, CustomStringConvertible {
    case fixed(Int)
    case symbolic(String)
    case unknown

    /// The largest dimension Resin accepts (2^40): far beyond any real model, and small enough that
    /// shape arithmetic on a few such dimensions cannot overflow.
    public static let maximum = 1 << 40

    /// The number, when the dimension is fixed.
    public var value: Int? {
        if case .fixed(let value) = self { return value }
        return nil
    }

    public var description: String {
        switch self {
        case .fixed(let value): String(value)
        case .symbolic(let name): name
        case .unknown: "?"
        }
    }
}

/// Renders dimensions the way error messages and `inspect` show them: `[N, 3, 224, 224]`.
public func describe(_ dimensions: [Dimension]) -> String {
    "[" + dimensions.map(\.description).joined(separator: ", ") + "]"
}

/// Renders a concrete shape: `[1, 3, 224, 224]`.
public func describe(_ shape: [Int]) -> String {
    "[" + shape.map(String.init).joined(separator: ", ") + "]"
}

extension Array where Element == Dimension {
    /// The concrete shape, when every dimension is fixed.
    public var fixedShape: [Int]? {
        var shape: [Int] = []
        shape.reserveCapacity(count)
        for dimension in self {
            guard let value = dimension.value else { return nil }
            shape.append(value)
        }
        return shape
    }
}

/// The number of elements of a concrete shape, or nil when a dimension is negative or the product overflows.
public func elementCount(of shape: [Int]) -> Int? {
    var count = 1
    for dimension in shape {
        guard dimension >= 0 else { return nil }
        let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
        if overflow { return nil }
        count = product
    }
    return count
}
