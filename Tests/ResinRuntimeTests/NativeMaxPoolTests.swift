import CResinKernels
import ResinIR
import Testing
import TestSupport
@testable import ResinRuntime

/// The C max pool (maxpool_*.c) under every instruction set the processor runs, against the definition.
@Suite struct NativeMaxPoolTests {
    /// A 2-D case the C kernels take: kernels 1 to 3 and 7, strides 1 to 3, dilation 1 or 2, pads, ceil_mode,
    /// widths from 1 to 45 so every vector remainder of 8 and 16 columns occurs.
    static func draw(seed: Int) throws -> (shape: [Int], window: ResolvedWindow) {
        var random = SplitMix64(seed: seed)
        for _ in 0..<100 {
            let kernel = (0..<2).map { _ in [1, 2, 3, 7].randomElement(using: &random)! }
            let strides = (0..<2).map { _ in Int.random(in: 1...3, using: &random) }
            let dilations = random.chance(0.3) ? (0..<2).map { _ in Int.random(in: 1...2, using: &random) } : nil
            let pads = (0..<4).map { Int.random(in: 0...(kernel[$0 % 2] - 1), using: &random) }
            let spatial = [Int.random(in: 1...12, using: &random), Int.random(in: 1...45, using: &random)]
            let attributes = WindowAttributes(kernelShape: kernel, strides: strides, dilations: dilations, pads: pads,
                                              ceilMode: random.chance(0.4))
            guard let window = try? attributes.resolve(spatial: spatial, kernel: kernel),
                  window.outputSizes.allSatisfy({ $0 > 0 }) else { continue }
            return ([Int.random(in: 1...2, using: &random), Int.random(in: 1...3, using: &random)] + spatial, window)
        }
        throw DrawFailure(seed: seed)
    }

    struct DrawFailure: Error { var seed: Int }

    /// Few distinct values (ties), and NaN in some cases.
    static func input(_ count: Int, seed: Int, nan: Bool) -> [Float] {
        var random = SplitMix64(seed: seed &+ 1000)
        var x = (0..<count).map { _ in Float(Int.random(in: -6...6, using: &random)) / 2 }
        if nan {
            for _ in 0..<max(1, count / 50) { x[Int.random(in: 0..<count, using: &random)] = .nan }
        }
        return x
    }

    static func expected(_ x: [Float], _ shape: [Int], _ window: ResolvedWindow) -> [Float] {
        var y = [Float](repeating: 42, count: shape[0] * shape[1] * Kernels.elementCount(window.outputSizes))
        Kernels.referencePool(x, inputShape: shape, window: window, average: false, into: &y)
        return y
    }

    static let pools = [WorkerPool.serial, WorkerPool(threads: 2), WorkerPool(threads: 3)]

    /// Every seeded case is one the C kernels take, and under every set and 1 to 3 threads it gives the
    /// reference's values exactly (NaN where the reference has NaN).
    @Test(arguments: 0..<40)
    func matchesReference(seed: Int) throws {
        let (shape, window) = try Self.draw(seed: seed)
        var cShape = try #require(Kernels.maxPoolShape(shape, window))
        #expect(resin_maxpool_supported(&cShape) != 0, "\(shape) \(window) should take the C kernels")
        let x = Self.input(Kernels.elementCount(shape), seed: seed, nan: seed % 3 == 0)
        let expected = Self.expected(x, shape, window)
        for instructionSet in InstructionSet.supported {
            for pool in Self.pools {
                var y = [Float](repeating: 42, count: expected.count)
                Kernels.maxPool(x, inputShape: shape, window: window, into: &y, pool: pool, instructionSet: instructionSet)
                expectClose(y, expected, rtol: 0, atol: 0, "\(instructionSet), \(pool.threads) threads, \(shape) \(window)")
            }
        }
    }

    /// ResNet's stem pool (3x3, stride 2, pad 1) on planes large enough to split rows over threads, with odd
    /// sizes and batches so a task's rows end mid-image and mid-batch, and one NaN in a window's last tap of
    /// each vector lane position.
    @Test(arguments: [(112, 1), (57, 1), (57, 3), (113, 2)])
    func stemPoolSplitOverThreads(size: Int, batch: Int) throws {
        let window = try WindowAttributes(kernelShape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1])
            .resolve(spatial: [size, size], kernel: [3, 3])
        let shape = [batch, 5, size, size]
        var random = SplitMix64(seed: size)
        var x = random.floats(Kernels.elementCount(shape))
        for column in stride(from: 0, to: size, by: 3) { x[(size / 2) * size + column] = .nan }
        let expected = Self.expected(x, shape, window)
        #expect(expected.contains { $0.isNaN })
        for instructionSet in InstructionSet.supported {
            for pool in Self.pools {
                var y = [Float](repeating: 42, count: expected.count)
                Kernels.maxPool(x, inputShape: shape, window: window, into: &y, pool: pool, instructionSet: instructionSet)
                expectClose(y, expected, rtol: 0, atol: 0, "\(instructionSet), \(pool.threads) threads, \(size), batch \(batch)")
            }
        }
    }

    /// NaN wins whatever its place in the window: first tap, last tap, alone, beside -infinity; a window
    /// wholly in the padding gives -infinity.
    @Test func nanPropagatesFromEveryTap() throws {
        let window = try WindowAttributes(kernelShape: [2, 2], strides: [2, 2]).resolve(spatial: [2, 40], kernel: [2, 2])
        var x = [Float](repeating: -.infinity, count: 80)
        // Output o reads columns 2o and 2o+1 of both rows; a NaN at tap (o / 2) % 4 of every odd output.
        for output in stride(from: 1, to: 20, by: 2) {
            let tap = (output / 2) % 4
            x[(tap / 2) * 40 + 2 * output + tap % 2] = .nan
        }
        for output in stride(from: 0, to: 20, by: 2) { x[2 * output] = Float(output) }
        let expected = Self.expected(x, [1, 1, 2, 40], window)
        for instructionSet in InstructionSet.supported {
            var y = [Float](repeating: 42, count: 20)
            Kernels.maxPool(x, inputShape: [1, 1, 2, 40], window: window, into: &y, instructionSet: instructionSet)
            expectClose(y, expected, rtol: 0, atol: 0, "\(instructionSet)")
            #expect((0..<20).allSatisfy { $0 % 2 == 1 ? y[$0].isNaN : y[$0] == Float($0) }, "\(instructionSet): \(y)")
        }
        // Dilated taps at -1 and 1 of a one-cell input: every tap in the padding.
        let padded = try WindowAttributes(kernelShape: [2, 2], dilations: [2, 2], pads: [1, 1, 1, 1])
            .resolve(spatial: [1, 1], kernel: [2, 2])
        #expect(padded.outputSizes == [1, 1])
        for instructionSet in InstructionSet.supported {
            var y: [Float] = [42]
            Kernels.maxPool([5], inputShape: [1, 1, 1, 1], window: padded, into: &y, instructionSet: instructionSet)
            #expect(y == [-.infinity], "\(instructionSet)")
        }
    }

    /// Windows the C kernels do not take (more kernel rows than their list, a row wider than their stack row)
    /// are refused by the shape check, and the pool still matches the reference through the Swift loops.
    @Test func shapesTheKernelsDoNotTakeFallBack() throws {
        let cases: [(spatial: [Int], kernel: [Int])] = [([70, 3], [65, 1]), ([1, Int(RESIN_MAXPOOL_ROW_FLOATS) + 1], [1, 2])]
        for (spatial, kernel) in cases {
            let window = try WindowAttributes(kernelShape: kernel).resolve(spatial: spatial, kernel: kernel)
            let shape = [1, 1] + spatial
            var cShape = try #require(Kernels.maxPoolShape(shape, window))
            #expect(resin_maxpool_supported(&cShape) == 0, "\(spatial) \(kernel)")
            var random = SplitMix64(seed: spatial[1])
            let x = random.floats(Kernels.elementCount(shape))
            let expected = Self.expected(x, shape, window)
            var y = [Float](repeating: 42, count: expected.count)
            Kernels.maxPool(x, inputShape: shape, window: window, into: &y)
            expectClose(y, expected, rtol: 0, atol: 0, "\(spatial) \(kernel)")
        }
    }
}
