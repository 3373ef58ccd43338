#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// Softmax over one axis of a tensor viewed as [outer, axisLength, inner]. Opsets before 13 flatten
// everything from `axis` on (inner = 1); from 13 on the axis is single and `inner` is the product of the
// axes after it. The maximum is subtracted first so exp never overflows.

extension Kernels {
    /// `y = exp(x - max) / sum(exp(x - max))` along the middle axis of `[outer, axisLength, inner]`.
    ///
    /// `y` may alias `x`. A slice holding NaN, or +infinity, gives NaN across the slice.
    public static func softmax(
        _ x: UnsafePointer<Float>, outer: Int, axisLength: Int, inner: Int,
        into y: UnsafeMutablePointer<Float>
    ) {
        if axisLength == 0 { return }
        if inner == 1 {
            for row in 0..<outer { softmaxRow(x + row * axisLength, y + row * axisLength, axisLength) }
            return
        }
        // Strided axis: work on eight neighbouring columns at once, each step along the axis a
        // contiguous load, so maxima and sums stay in registers and no scratch is needed.
        let step = inner
        for block in 0..<outer {
            let blockX = x + block * axisLength * inner, blockY = y + block * axisLength * inner
            var column = 0
            while column + 8 <= inner {
                let columnX = blockX + column, columnY = blockY + column
                var maximum = load8(columnX)
                for position in 1..<axisLength {
                    let lanes = load8(columnX + position * step)
                    maximum.replace(with: lanes, where: lanes .> maximum)
                }
                var total = SIMD8<Float>()
                for position in 0..<axisLength {
                    let shifted = load8(columnX + position * step) - maximum
                    var exponentials = SIMD8<Float>()
                    for lane in 0..<8 { exponentials[lane] = expf(shifted[lane]) }
                    total += exponentials
                    store8(exponentials, columnY + position * step)
                }
                let reciprocal = 1 / total
                for position in 0..<axisLength {
                    store8(load8(columnY + position * step) * reciprocal, columnY + position * step)
                }
                column += 8
            }
            while column < inner {
                var maximum = blockX[column]
                for position in 1..<axisLength {
                    let value = blockX[column + position * step]
                    if value > maximum { maximum = value }
                }
                var total: Float = 0
                for position in 0..<axisLength {
                    let exponential = expf(blockX[column + position * step] - maximum)
                    total += exponential
                    blockY[column + position * step] = exponential
                }
                let reciprocal = 1 / total
                for position in 0..<axisLength { blockY[column + position * step] *= reciprocal }
                column += 1
            }
        }
    }

    /// Softmax of one contiguous row.
    private static func softmaxRow(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ length: Int) {
        var maximumLanes = SIMD8<Float>(repeating: -.infinity)
        var index = 0
        while index + 8 <= length {
            let lanes = load8(x + index)
            maximumLanes.replace(with: lanes, where: lanes .> maximumLanes)
            index += 8
        }
        var maximum = maximumLanes.max()
        while index < length {
            if x[index] > maximum { maximum = x[index] }
            index += 1
        }
        var total: Float = 0
        for index in 0..<length {
            let exponential = expf(x[index] - maximum)
            total += exponential
            y[index] = exponential
        }
        let reciprocal = 1 / total, reciprocals = SIMD8<Float>(repeating: reciprocal)
        index = 0
        while index + 8 <= length {
            store8(load8(y + index) * reciprocals, y + index)
            index += 8
        }
        while index < length {
            y[index] *= reciprocal
            index += 1
        }
    }

    // MARK: Reference

    /// Softmax computed in `Double` straight from the definition.
    static func referenceSoftmax(
        _ x: UnsafePointer<Float>, outer: Int, axisLength: Int, inner: Int,
        into y: UnsafeMutablePointer<Float>
    ) {
        for block in 0..<outer {
            for column in 0..<inner {
                let base = block * axisLength * inner + column
                var maximum = -Double.infinity
                for position in 0..<axisLength { maximum = max(maximum, Double(x[base + position * inner])) }
                var total = 0.0
                for position in 0..<axisLength { total += exp(Double(x[base + position * inner]) - maximum) }
                for position in 0..<axisLength {
                    y[base + position * inner] = Float(exp(Double(x[base + position * inner]) - maximum) / total)
                }
            }
        }
    }
}
