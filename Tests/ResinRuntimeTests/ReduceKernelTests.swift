import Testing
import TestSupport
@testable import ResinRuntime

@Suite struct ReduceKernelTests {
    @Test(arguments: 0..<50)
    func reduceMeanMatchesReference(seed: Int) {
        var random = SplitMix64(seed: seed)
        let rank = Int.random(in: 1...5, using: &random)
        let shape = random.shape(rank: rank, dimensions: 1...(rank > 3 ? 5 : 9)).map { random.chance(0.1) ? 70 : $0 }
        let axes = (0..<rank).filter { _ in random.chance(0.5) }
        let x = random.floats(Kernels.elementCount(shape))
        let outputCount = shape.indices.reduce(1) { axes.contains($1) ? $0 : $0 * shape[$1] }
        var actual = [Float](repeating: 42, count: outputCount), expected = actual
        Kernels.reduceMean(x, shape: shape, axes: axes, into: &actual)
        Kernels.referenceReduceMean(x, shape: shape, axes: axes, into: &expected)
        expectClose(actual, expected, rtol: 1e-6, atol: 1e-7, "shape \(shape) axes \(axes)")
    }

    @Test func handComputed() {
        let x: [Float] = [1, 2, 3, 4]
        var y = [Float](repeating: 0, count: 2)
        Kernels.reduceMean(x, shape: [2, 2], axes: [0], into: &y)
        #expect(y == [2, 3])
        Kernels.reduceMean(x, shape: [2, 2], axes: [1], into: &y)
        #expect(y == [1.5, 3.5])
        var scalar: [Float] = [0]
        Kernels.reduceMean(x, shape: [2, 2], axes: [0, 1], into: &scalar)
        #expect(scalar == [2.5])
        // Middle axis of [2, 3, 2]: each output averages three values two apart.
        var middle = [Float](repeating: 0, count: 4)
        Kernels.reduceMean((0..<12).map(Float.init), shape: [2, 3, 2], axes: [1], into: &middle)
        #expect(middle == [2, 3, 8, 9])
        // No axes copies; an empty reduced axis gives NaN.
        var copy = [Float](repeating: 0, count: 4)
        Kernels.reduceMean(x, shape: [2, 2], axes: [], into: &copy)
        #expect(copy == x)
        var empty = [Float](repeating: 0, count: 3)
        Kernels.reduceMean([], shape: [0, 3], axes: [0], into: &empty)
        #expect(empty.allSatisfy { $0.isNaN })
    }

    /// A million values near 0.1: a plain float running sum would drift by about 1e-3 relative.
    @Test func longReductionsStayAccurate() {
        var random = SplitMix64(seed: 11)
        let count = 1 << 20
        let x = (0..<count).map { _ in 0.1 + Float.random(in: -0.01...0.01, using: &random) }
        var exact = 0.0
        for value in x { exact += Double(value) }
        exact /= Double(count)
        var contiguous: [Float] = [0]
        Kernels.reduceMean(x, shape: [count], axes: [0], into: &contiguous)
        #expect(abs(Double(contiguous[0]) - exact) / exact < 1e-6)
        // The same values reduced along a strided axis: [count / 4, 4] over axis 0.
        var strided = [Float](repeating: 0, count: 4)
        Kernels.reduceMean(x, shape: [count / 4, 4], axes: [0], into: &strided)
        #expect(abs(Double(strided.reduce(0, +)) / 4 - exact) / exact < 1e-6)
    }
}
