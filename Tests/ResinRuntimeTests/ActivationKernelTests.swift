import Testing
import TestSupport
@testable import ResinRuntime

@Suite struct ActivationKernelTests {
    /// Random values with the special ones mixed in, long enough for vector loops and their tails.
    static func values(_ count: Int, seed: Int) -> [Float] {
        var random = SplitMix64(seed: seed)
        let specials: [Float] = [.nan, .infinity, -.infinity, -0.0, 0, .leastNonzeroMagnitude, -.greatestFiniteMagnitude]
        return (0..<count).map { _ in
            random.chance(0.15) ? specials.randomElement(using: &random)! : Float.random(in: -3...3, using: &random)
        }
    }

    @Test(arguments: [0, 1, 7, 8, 9, 16, 31, 1003])
    func matchReferenceWithSpecialValues(count: Int) {
        let x = Self.values(count, seed: count)
        var actual = [Float](repeating: 1, count: count), expected = actual

        Kernels.relu(x, into: &actual, count: count)
        Kernels.referenceRelu(x, into: &expected, count: count)
        expectClose(actual, expected, rtol: 0, atol: 0, "relu")

        Kernels.leakyRelu(x, into: &actual, count: count, alpha: 0.1)
        Kernels.referenceLeakyRelu(x, into: &expected, count: count, alpha: 0.1)
        expectClose(actual, expected, rtol: 0, atol: 0, "leakyRelu")

        for (low, high) in [(Float(0), Float(6)), (-1, 1), (-.greatestFiniteMagnitude, .greatestFiniteMagnitude), (2, 1)] {
            Kernels.clip(x, into: &actual, count: count, min: low, max: high)
            Kernels.referenceClip(x, into: &expected, count: count, min: low, max: high)
            expectClose(actual, expected, rtol: 0, atol: 0, "clip \(low)...\(high)")
        }
    }

    /// Expectations from numpy (`maximum(x, 0)`, `where(x < 0, a * x, x)`, `clip`), which ONNX Runtime matches.
    @Test func handComputedValues() {
        let x: [Float] = [.nan, -1, 2, .infinity, -.infinity, 0.5, -3, 7, 0.25]
        var y = [Float](repeating: 0, count: x.count)
        Kernels.relu(x, into: &y, count: x.count)
        expectClose(y, [.nan, 0, 2, .infinity, 0, 0.5, 0, 7, 0.25], rtol: 0, atol: 0)
        Kernels.leakyRelu(x, into: &y, count: x.count, alpha: 0.1)
        expectClose(y, [.nan, -0.1, 2, .infinity, -.infinity, 0.5, -0.3, 7, 0.25], rtol: 1e-7, atol: 0)
        Kernels.clip(x, into: &y, count: x.count, min: 0, max: 1)
        expectClose(y, [.nan, 0, 1, 1, 0, 0.5, 0, 1, 0.25], rtol: 0, atol: 0)
        // numpy's clip with min > max gives max everywhere (but NaN).
        Kernels.clip(x, into: &y, count: x.count, min: 3, max: 2)
        expectClose(y, [.nan, 2, 2, 2, 2, 2, 2, 2, 2], rtol: 0, atol: 0)
    }

    @Test func runInPlace() {
        let x = Self.values(29, seed: 3)
        var expected = [Float](repeating: 0, count: 29)
        Kernels.referenceClip(x, into: &expected, count: 29, min: -0.5, max: 0.5)
        var buffer = x
        buffer.withUnsafeMutableBufferPointer { pointer in
            Kernels.clip(UnsafePointer(pointer.baseAddress!), into: pointer.baseAddress!, count: 29, min: -0.5, max: 0.5)
        }
        expectClose(buffer, expected, rtol: 0, atol: 0)
        Kernels.referenceRelu(x, into: &expected, count: 29)
        buffer = x
        buffer.withUnsafeMutableBufferPointer { pointer in
            Kernels.relu(UnsafePointer(pointer.baseAddress!), into: pointer.baseAddress!, count: 29)
        }
        expectClose(buffer, expected, rtol: 0, atol: 0)
    }
}
