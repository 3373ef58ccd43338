import ResinIR
import Testing
import TestSupport
@testable import ResinRuntime

@Suite struct PoolingKernelTests {
    /// A random pooling case over 1 to 3 spatial axes, odd sizes, dilations, pads, ceil mode and auto_pad;
    /// nil when the draw is not a valid window (a pad not smaller than the kernel, an empty output).
    static func draw(using random: inout SplitMix64) -> (shape: [Int], window: ResolvedWindow)? {
        let rank = Int.random(in: 1...3, using: &random)
        var spatial = random.shape(rank: rank, dimensions: 1...(rank == 3 ? 6 : 10))
        if random.chance(0.3) { spatial[rank - 1] = Int.random(in: 20...45, using: &random) }
        let kernel = random.shape(rank: rank, dimensions: 1...4)
        let strides = random.shape(rank: rank, dimensions: 1...3)
        let dilations = random.chance(0.3) ? random.shape(rank: rank, dimensions: 1...2) : nil
        let pads = (0..<(2 * rank)).map { Int.random(in: 0...kernel[$0 % rank], using: &random) }
        let autoPad: AutoPad = random.chance(0.8) ? .notSet : [.sameUpper, .sameLower, .valid].randomElement(using: &random)!
        let attributes = WindowAttributes(
            kernelShape: kernel, strides: strides, dilations: dilations, pads: autoPad == .notSet ? pads : nil,
            autoPad: autoPad, ceilMode: autoPad == .notSet && random.chance(0.4))
        guard let window = try? attributes.resolve(spatial: spatial, kernel: kernel),
              window.outputSizes.allSatisfy({ $0 > 0 }) else { return nil }
        return ([Int.random(in: 1...2, using: &random), Int.random(in: 1...3, using: &random)] + spatial, window)
    }

    /// The first valid draw of a seed's stream (deterministic), and how many draws it took.
    static func validCase(seed: Int) -> (shape: [Int], window: ResolvedWindow, draws: Int)? {
        var random = SplitMix64(seed: seed)
        for draws in 1...100 {
            if let (shape, window) = draw(using: &random) { return (shape, window, draws) }
        }
        return nil
    }

    static let seeds = 0..<80

    /// Every seed yields a case (none is skipped), and the cases reach the features they are drawn for.
    @Test func everySeedDrawsAValidCase() throws {
        let cases = Self.seeds.compactMap { Self.validCase(seed: $0) }
        #expect(cases.count == Self.seeds.count, "\(Self.seeds.count - cases.count) seeds found no valid case in 100 draws")
        #expect(cases.contains { $0.draws > 1 }, "no seed needed a second draw: the resampling is untested")
        #expect(Set(cases.map { $0.shape.count - 2 }) == [1, 2, 3], "1, 2 and 3 spatial axes")
    }

    static func outputCount(_ shape: [Int], _ window: ResolvedWindow) -> Int {
        shape[0] * shape[1] * Kernels.elementCount(window.outputSizes)
    }

    @Test(arguments: seeds)
    func windowedPoolsMatchReference(seed: Int) throws {
        let (shape, window, _) = try #require(Self.validCase(seed: seed), "seed \(seed) drew no valid case")
        var random = SplitMix64(seed: seed + 77)
        // Few distinct values, so ties exercise the first-maximum rule; some NaN.
        var x = (0..<Kernels.elementCount(shape)).map { _ in Float(Int.random(in: -6...6, using: &random)) / 2 }
        if random.chance(0.3) { x[Int.random(in: 0..<x.count, using: &random)] = .nan }
        let count = Self.outputCount(shape, window)

        var actual = [Float](repeating: 42, count: count), expected = actual
        Kernels.maxPool(x, inputShape: shape, window: window, into: &actual)
        Kernels.referencePool(x, inputShape: shape, window: window, average: false, into: &expected)
        expectClose(actual, expected, rtol: 0, atol: 0, "max \(shape) \(window)")

        for storageOrder in [0, 1] {
            var indices = [Int64](repeating: 42, count: count), expectedIndices = indices
            var values = [Float](repeating: 42, count: count)
            Kernels.maxPool(x, inputShape: shape, window: window, into: &values, indices: &indices, storageOrder: storageOrder)
            Kernels.referencePool(x, inputShape: shape, window: window, average: false, into: &expected,
                                  indices: &expectedIndices, storageOrder: storageOrder)
            expectClose(values, expected, rtol: 0, atol: 0, "max with indices \(shape) \(window)")
            #expect(indices == expectedIndices, "indices, storage order \(storageOrder), \(shape) \(window)")
        }

        for includePad in [false, true] {
            Kernels.averagePool(x, inputShape: shape, window: window, countIncludePad: includePad, into: &actual)
            Kernels.referencePool(x, inputShape: shape, window: window, average: true, countIncludePad: includePad,
                                  into: &expected)
            expectClose(actual, expected, rtol: 1e-5, atol: 1e-6, "average, include pad \(includePad), \(shape) \(window)")
        }
    }

    /// ResNet's stem pool (3x3, stride 2, pad 1) and a stride-1 pool on rows long enough for the vector loops.
    @Test(arguments: [(3, 2, 1, 56), (3, 2, 1, 57), (3, 1, 1, 40), (2, 2, 0, 33)])
    func stemShapedPoolsMatchReference(kernel: Int, stride: Int, pad: Int, size: Int) throws {
        let attributes = WindowAttributes(kernelShape: [kernel, kernel], strides: [stride, stride], pads: [pad, pad, pad, pad])
        let shape = [1, 3, size, size]
        let window = try attributes.resolve(spatial: [size, size], kernel: [kernel, kernel])
        var random = SplitMix64(seed: size)
        let x = random.floats(Kernels.elementCount(shape))
        let count = Self.outputCount(shape, window)
        var actual = [Float](repeating: 0, count: count), expected = actual
        Kernels.maxPool(x, inputShape: shape, window: window, into: &actual)
        Kernels.referencePool(x, inputShape: shape, window: window, average: false, into: &expected)
        expectClose(actual, expected, rtol: 0, atol: 0)
        Kernels.averagePool(x, inputShape: shape, window: window, countIncludePad: false, into: &actual)
        Kernels.referencePool(x, inputShape: shape, window: window, average: true, into: &expected)
        expectClose(actual, expected, rtol: 1e-6, atol: 1e-7)
    }

    /// Pools split over 2 and 3 threads by planes (large enough that the split happens, odd plane counts so the
    /// tasks differ in size) match the reference exactly, indices included.
    @Test(arguments: [2, 3])
    func poolsSplitOverThreadsMatchReference(threads: Int) throws {
        let workers = WorkerPool(threads: threads)
        #expect(workers.taskCount(forElements: 7 * 56 * 56 * 9) > 1, "the case is too small to be split")
        let attributes = WindowAttributes(kernelShape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1])
        let shape = [1, 7, 112, 112]
        let window = try attributes.resolve(spatial: [112, 112], kernel: [3, 3])
        var random = SplitMix64(seed: threads)
        let x = random.floats(Kernels.elementCount(shape))
        let count = Self.outputCount(shape, window)
        var actual = [Float](repeating: 42, count: count), expected = actual
        var indices = [Int64](repeating: 42, count: count), expectedIndices = indices
        Kernels.maxPool(x, inputShape: shape, window: window, into: &actual, indices: &indices, pool: workers)
        Kernels.referencePool(x, inputShape: shape, window: window, average: false, into: &expected, indices: &expectedIndices)
        expectClose(actual, expected, rtol: 0, atol: 0, "max over \(threads) threads")
        #expect(indices == expectedIndices, "indices over \(threads) threads")
        Kernels.averagePool(x, inputShape: shape, window: window, countIncludePad: false, into: &actual, pool: workers)
        Kernels.referencePool(x, inputShape: shape, window: window, average: true, into: &expected)
        expectClose(actual, expected, rtol: 1e-6, atol: 1e-7, "average over \(threads) threads")
    }

    /// Values checked against ONNX Runtime 1.31: ceil_mode adds a last window that reaches past the end
    /// pad; with count_include_pad the begin pad counts but those cells do not.
    @Test func averagePoolCeilModeCountsOnlyThePaddedExtent() throws {
        let x: [Float] = [1, 2, 3, 4, 5, 6, 7, 8]
        let window = try WindowAttributes(kernelShape: [3], strides: [4], pads: [1, 0], ceilMode: true)
            .resolve(spatial: [8], kernel: [3])
        #expect(window.outputSizes == [3])
        var y = [Float](repeating: 0, count: 3)
        Kernels.averagePool(x, inputShape: [1, 1, 8], window: window, countIncludePad: false, into: &y)
        expectClose(y, [1.5, 5, 8], rtol: 1e-7, atol: 0)
        Kernels.averagePool(x, inputShape: [1, 1, 8], window: window, countIncludePad: true, into: &y)
        expectClose(y, [1, 5, 8], rtol: 1e-7, atol: 0)

        // Dilation 2: taps -2, 0, 2 | 1, 3, 5 | 4, 6, 8 | 7, 9, 11, with 9 in the end pad and 11 past it.
        let dilated = try WindowAttributes(kernelShape: [3], strides: [3], dilations: [2], pads: [2, 2], ceilMode: true)
            .resolve(spatial: [9], kernel: [3])
        var z = [Float](repeating: 0, count: 4)
        Kernels.averagePool([1, 2, 3, 4, 5, 6, 7, 8, 9], inputShape: [1, 1, 9], window: dilated, countIncludePad: true, into: &z)
        expectClose(z, [4.0 / 3, 4, 7, 4], rtol: 1e-6, atol: 0)
        Kernels.averagePool([1, 2, 3, 4, 5, 6, 7, 8, 9], inputShape: [1, 1, 9], window: dilated, countIncludePad: false, into: &z)
        expectClose(z, [2, 4, 7, 8], rtol: 1e-6, atol: 0)
    }

    /// ONNX MaxPool's Indices: flat over [N, C, H, W]; storage order 1 makes the spatial part column-major
    /// (h + w * H). Checked against ONNX Runtime.
    @Test func maxPoolIndicesFollowStorageOrder() throws {
        let x = (0..<24).map(Float.init)  // [1, 2, 3, 4]
        let window = try WindowAttributes(kernelShape: [2, 2], strides: [2, 2]).resolve(spatial: [3, 4], kernel: [2, 2])
        var y = [Float](repeating: 0, count: 4)
        var indices = [Int64](repeating: 0, count: 4)
        Kernels.maxPool(x, inputShape: [1, 2, 3, 4], window: window, into: &y, indices: &indices, storageOrder: 0)
        #expect(y == [5, 7, 17, 19])
        #expect(indices == [5, 7, 17, 19])
        Kernels.maxPool(x, inputShape: [1, 2, 3, 4], window: window, into: &y, indices: &indices, storageOrder: 1)
        #expect(indices == [4, 10, 16, 22])
    }

    /// NaN propagates through a window (numpy's max); the index is the first NaN's.
    @Test func maxPoolPropagatesNaN() throws {
        let x: [Float] = [.nan, 1, 3, .nan, 5, 0, .nan, .nan, -.infinity, -.infinity]
        let window = try WindowAttributes(kernelShape: [1, 2], strides: [1, 2]).resolve(spatial: [1, 10], kernel: [1, 2])
        var y = [Float](repeating: 0, count: 5)
        var indices = [Int64](repeating: 0, count: 5)
        Kernels.maxPool(x, inputShape: [1, 1, 1, 10], window: window, into: &y, indices: &indices)
        expectClose(y, [.nan, .nan, 5, .nan, -.infinity], rtol: 0, atol: 0)
        #expect(indices == [0, 3, 4, 6, 8])
        Kernels.maxPool(x, inputShape: [1, 1, 1, 10], window: window, into: &y)
        expectClose(y, [.nan, .nan, 5, .nan, -.infinity], rtol: 0, atol: 0)
    }

    @Test(arguments: [[1, 1, 1], [2, 3, 7, 7], [1, 5, 3, 4, 5], [2, 2, 13], [1, 2, 1, 1]])
    func globalPoolsMatchReference(shape: [Int]) {
        var random = SplitMix64(seed: shape.reduce(3, *))
        let x = random.floats(Kernels.elementCount(shape))
        let planes = shape[0] * shape[1]
        var actual = [Float](repeating: 0, count: planes), expected = actual
        Kernels.globalAveragePool(x, shape: shape, into: &actual)
        Kernels.referenceGlobalPool(x, shape: shape, average: true, into: &expected)
        expectClose(actual, expected, rtol: 1e-6, atol: 1e-7)
        Kernels.globalMaxPool(x, shape: shape, into: &actual)
        Kernels.referenceGlobalPool(x, shape: shape, average: false, into: &expected)
        expectClose(actual, expected, rtol: 0, atol: 0)
    }

    @Test func globalPoolsOnLargePlanesAndNaN() {
        // A 300 x 300 plane: the mean stays accurate, and one NaN anywhere spreads through max and mean.
        var random = SplitMix64(seed: 9)
        var x = random.floats(2 * 90_000, in: 0...1).map { $0 + 100 }
        var mean = [Float](repeating: 0, count: 2), expected = mean
        Kernels.globalAveragePool(x, shape: [1, 2, 300, 300], into: &mean)
        Kernels.referenceGlobalPool(x, shape: [1, 2, 300, 300], average: true, into: &expected)
        expectClose(mean, expected, rtol: 2e-7, atol: 0)
        x[90_000 + 12_345] = .nan
        var maximum = [Float](repeating: 0, count: 2)
        Kernels.globalMaxPool(x, shape: [1, 2, 300, 300], into: &maximum)
        #expect(maximum[0] <= 101 && maximum[0] >= 100.99)
        #expect(maximum[1].isNaN)
        Kernels.globalAveragePool(x, shape: [1, 2, 300, 300], into: &mean)
        #expect(mean[1].isNaN)
    }
}
