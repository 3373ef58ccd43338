import Testing
import TestSupport
@testable import ResinRuntime

@Suite struct NormalizationKernelTests {
    @Test(arguments: [[1, 3], [2, 11], [2, 3, 5], [1, 4, 3, 3], [2, 5, 4, 9], [1, 2, 2, 3, 4]])
    func affineMatchesReference(shape: [Int]) {
        var random = SplitMix64(seed: shape.reduce(7, *))
        let x = random.floats(Kernels.elementCount(shape))
        let scale = random.floats(shape[1]), shift = random.floats(shape[1])
        var actual = [Float](repeating: .nan, count: x.count), expected = actual
        Kernels.affinePerChannel(x, shape: shape, scale: scale, shift: shift, into: &actual)
        Kernels.referenceAffinePerChannel(x, shape: shape, scale: scale, shift: shift, into: &expected)
        expectClose(actual, expected, rtol: 1e-6, atol: 1e-7)
        // In place gives the same.
        var buffer = x
        buffer.withUnsafeMutableBufferPointer { pointer in
            Kernels.affinePerChannel(UnsafePointer(pointer.baseAddress!), shape: shape, scale: scale, shift: shift,
                                     into: pointer.baseAddress!)
        }
        #expect(buffer == actual)
    }

    @Test(arguments: 0..<16)
    func lrnMatchesReference(seed: Int) {
        var random = SplitMix64(seed: seed)
        let shape = [Int.random(in: 1...2, using: &random), Int.random(in: 1...9, using: &random)]
            + random.shape(rank: Int.random(in: 0...2, using: &random), dimensions: 1...11)
        let size = Int.random(in: 1...6, using: &random)
        let beta: Float = random.chance(0.5) ? 0.75 : Float.random(in: 0.2...1.5, using: &random)
        let alpha = Float.random(in: 1e-4...2, using: &random), bias = Float.random(in: 0.5...2, using: &random)
        let x = random.floats(Kernels.elementCount(shape), in: -3...3)
        var actual = [Float](repeating: .nan, count: x.count), expected = actual
        Kernels.lrn(x, shape: shape, size: size, alpha: alpha, beta: beta, bias: bias, into: &actual)
        Kernels.referenceLRN(x, shape: shape, size: size, alpha: alpha, beta: beta, bias: bias, into: &expected)
        expectClose(actual, expected, rtol: 2e-6, atol: 1e-7, "shape \(shape) size \(size) beta \(beta)")
    }

    /// Channels 1, 2, 3 at one pixel, size 3, alpha 3 (alpha / size = 1), beta 1, bias 1:
    /// squared sums 1 + 4, 1 + 4 + 9, 4 + 9, so y = 1/6, 2/15, 3/14. Beta 0.75: 2 / (0 + 4)^0.75 = 1/sqrt(2).
    @Test func lrnHandComputed() {
        var y = [Float](repeating: 0, count: 3)
        Kernels.lrn([1, 2, 3], shape: [1, 3, 1, 1], size: 3, alpha: 3, beta: 1, bias: 1, into: &y)
        expectClose(y, [1.0 / 6, 2.0 / 15, 3.0 / 14], rtol: 1e-6, atol: 0)
        // Even sizes reach one channel further up than down: size 2 covers c and c + 1.
        Kernels.lrn([1, 2, 3], shape: [1, 3], size: 2, alpha: 2, beta: 1, bias: 0, into: &y)
        expectClose(y, [1.0 / 5, 2.0 / 13, 3.0 / 9], rtol: 1e-6, atol: 0)
        var single = [Float](repeating: 0, count: 9)
        Kernels.lrn([Float](repeating: 2, count: 9), shape: [1, 1, 9], size: 1, alpha: 1, beta: 0.75, bias: 0, into: &single)
        expectClose(single, [Float](repeating: Float(0.5).squareRoot(), count: 9), rtol: 1e-6, atol: 0)
    }
}
