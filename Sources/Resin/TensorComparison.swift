import ResinIR

/// How an actual tensor compares with an expected one, element by element:
/// an element passes when `|actual - expected| <= atol + rtol * |expected|`, and NaN matches only NaN.
package struct TensorComparison: Sendable {
    package var shapeMatches: Bool
    package var actualShape: [Int]
    package var expectedShape: [Int]
    /// The largest `|actual - expected|` over elements.
    package var maxAbsoluteError: Double
    /// The largest `|actual - expected| / |expected|` over elements with a non-zero expectation.
    package var maxRelativeError: Double
    /// The element that exceeds its tolerance by the largest factor (or has the largest error when all pass).
    package var worstIndex: [Int]
    /// Elements outside the tolerance.
    package var failures: Int
    package var passed: Bool { shapeMatches && failures == 0 }

    /// Compares two tensors of any numeric or boolean type.
    package init(actual: ResinIR.Tensor, expected: ResinIR.Tensor, rtol: Double, atol: Double) {
        actualShape = actual.shape
        expectedShape = expected.shape
        // A scalar and a one-element vector hold the same value; anything else must match exactly.
        shapeMatches = actual.shape == expected.shape
            || (actual.elementCount == 1 && expected.elementCount == 1 && actual.shape.count <= 1 && expected.shape.count <= 1)
        maxAbsoluteError = 0
        maxRelativeError = 0
        worstIndex = []
        failures = 0
        guard shapeMatches, let actualValues = actual.doubleValues, let expectedValues = expected.doubleValues else {
            if shapeMatches { failures = max(actual.elementCount, 1) }
            return
        }
        var worstRatio = -1.0
        var worst = 0
        for index in 0..<actualValues.count {
            let a = actualValues[index]
            let e = expectedValues[index]
            var ratio: Double
            if a.isNaN || e.isNaN {
                ratio = a.isNaN && e.isNaN ? 0 : .infinity
            } else if a == e {
                ratio = 0
            } else if a.isInfinite || e.isInfinite {
                // An infinity matches only itself: the tolerance formula would give inf <= inf.
                ratio = .infinity
            } else {
                let error = abs(a - e)
                maxAbsoluteError = max(maxAbsoluteError, error)
                if e != 0 { maxRelativeError = max(maxRelativeError, error / abs(e)) }
                let allowed = atol + rtol * abs(e)
                ratio = allowed > 0 ? error / allowed : .infinity
            }
            if ratio > 1 { failures += 1 }
            if ratio > worstRatio {
                worstRatio = ratio
                worst = index
            }
        }
        if maxAbsoluteError.isNaN { maxAbsoluteError = .infinity }
        worstIndex = Self.coordinates(of: worst, in: expected.shape)
    }

    static func coordinates(of index: Int, in shape: [Int]) -> [Int] {
        var rest = index
        var result = Array(repeating: 0, count: shape.count)
        for axis in stride(from: shape.count - 1, through: 0, by: -1) where shape[axis] > 0 {
            result[axis] = rest % shape[axis]
            rest /= shape[axis]
        }
        return result
    }
}

extension ResinIR.Tensor {
    /// The elements widened to Double, for comparisons and summaries; nil for strings and sub-byte types.
    package var doubleValues: [Double]? {
        let bytes = storage.bytes
        let count = elementCount
        func load<T>(_ type: T.Type, _ convert: (T) -> Double) -> [Double]? {
            guard bytes.count >= count * MemoryLayout<T>.size else { return nil }
            return (0..<count).map { convert(bytes.loadUnaligned(fromByteOffset: $0 * MemoryLayout<T>.size, as: T.self)) }
        }
        switch dataType {
        case .float: return load(Float.self) { Double($0) }
        case .double: return load(Double.self) { $0 }
        case .float16: return load(UInt16.self) { Double(Float(Float16(bitPattern: $0))) }
        case .int64: return load(Int64.self) { Double($0) }
        case .int32: return load(Int32.self) { Double($0) }
        case .int16: return load(Int16.self) { Double($0) }
        case .int8: return load(Int8.self) { Double($0) }
        case .uint8, .bool: return load(UInt8.self) { Double($0) }
        case .uint16: return load(UInt16.self) { Double($0) }
        case .uint32: return load(UInt32.self) { Double($0) }
        case .uint64: return load(UInt64.self) { Double($0) }
        default: return nil
        }
    }
}
