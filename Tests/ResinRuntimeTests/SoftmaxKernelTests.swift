import Testing
import TestSupport
@testable import ResinRuntime

@Suite struct SoftmaxKernelTests {
    @Test(arguments: [(1, 1, 1), (3, 10, 1), (2, 1000, 1), (2, 5, 8), (3, 4, 13), (1, 7, 17), (2, 1, 9), (4, 33, 2)])
    func matchesReference(outer: Int, axisLength: Int, inner: Int) {
        var random = SplitMix64(seed: outer * 10_000 + axisLength * 100 + inner)
        let x = random.floats(outer * axisLength * inner, in: -20...20)
        var actual = [Float](repeating: .nan, count: x.count), expected = actual
        Kernels.softmax(x, outer: outer, axisLength: axisLength, inner: inner, into: &actual)
        Kernels.referenceSoftmax(x, outer: outer, axisLength: axisLength, inner: inner, into: &expected)
        expectClose(actual, expected, rtol: 1e-5, atol: 1e-9)
        // In place.
        var buffer = x
        buffer.withUnsafeMutableBufferPointer { pointer in
            Kernels.softmax(UnsafePointer(pointer.baseAddress!), outer: outer, axisLength: axisLength, inner: inner,
                            into: pointer.baseAddress!)
        }
        #expect(buffer == actual)
    }

    @Test func handComputedAndStable() {
        var y = [Float](repeating: 0, count: 3)
        Kernels.softmax([1, 2, 3], outer: 1, axisLength: 3, inner: 1, into: &y)
        expectClose(y, [0.090030573, 0.24472847, 0.66524096], rtol: 1e-6, atol: 0)
        // Without subtracting the maximum, exp(1000) would overflow to infinity.
        var large = [Float](repeating: 0, count: 4)
        Kernels.softmax([1000, 1001, -1000, -1001], outer: 2, axisLength: 2, inner: 1, into: &large)
        expectClose(large, [0.26894142, 0.73105858, 0.73105858, 0.26894142], rtol: 1e-6, atol: 0)
        // Along a strided axis: [2, 2] over axis 0, columns independent.
        var columns = [Float](repeating: 0, count: 4)
        Kernels.softmax([0, 5, 0, 5], outer: 1, axisLength: 2, inner: 2, into: &columns)
        expectClose(columns, [0.5, 0.5, 0.5, 0.5], rtol: 1e-6, atol: 0)
    }

    @Test func nanSpreadsOverItsSliceOnly() {
        var y = [Float](repeating: 0, count: 6)
        Kernels.softmax([1, .nan, 2, 0, 0, 0], outer: 2, axisLength: 3, inner: 1, into: &y)
        expectClose(y, [.nan, .nan, .nan, 1.0 / 3, 1.0 / 3, 1.0 / 3], rtol: 1e-6, atol: 0)
    }
}
