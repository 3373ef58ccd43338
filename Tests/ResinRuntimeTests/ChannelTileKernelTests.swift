import CResinKernels
import Testing
import TestSupport
@testable import ResinRuntime

/// The channel-vectorised packed product (few columns: ResNet's 7x7 and 14x14 maps at batch 1) under every
/// instruction set this processor runs and on 1, 2 and 3 threads, against a plain double-precision product.
/// Its tiles are 14 columns on AVX-512 (two groups of 7) and 6 on AVX2, and each stores a row of a tile as one
/// masked vector, so every column count from 1 to 28 (every remainder of both tiles, once alone and once
/// after a full tile) runs here, and the column counts of ResNet's maps up to the 256-column switch.
@Suite struct ChannelTileKernelTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var columns: Int
        var seed: Int
        var testDescription: String { "\(columns) columns, seed \(seed)" }
    }

    static let cases: [Case] = (Array(1...28) + [49, 98, 99, 196, 255, 256]).enumerated().map { Case(columns: $1, seed: $0) }

    /// Partial panels (m not a multiple of 32 nor of 16), an inner dimension past one or two 512-step blocks
    /// (AVX2's; AVX-512's blocks are longer, `laterBlocksAddToTheProduct`) and not a multiple of them (so the
    /// later blocks add to C), padded row strides, every kind of residual
    /// (in place: C holds it on entry), with or without bias, every activation.
    @Test(arguments: cases)
    func channelTileMatchesTheReference(_ test: Case) throws {
        var random = SplitMix64(seed: test.seed * 7919 + 3)
        let n = test.columns
        let m = test.seed % 4 == 0 ? 32 * (1 + Int(random.next() % 3)) : 1 + Int(random.next() % 90)
        let k = test.seed % 2 == 0 ? 1 + Int(random.next() % 40) : 513 + Int(random.next() % 600)
        let ldb = n + Int(random.next() % 3), ldc = n + Int(random.next() % 3)
        try FusedGEMMKernelTests.expectFusedProduct(
            m: m, n: n, k: k, ldb: ldb, ldc: ldc, skipKind: FusedGEMMKernelTests.Skip.allCases[test.seed % 3],
            activation: FusedGEMMKernelTests.activations[test.seed / 3 % 3], hasBias: test.seed % 5 != 1, random: &random)
    }

    /// Inner dimensions long enough that B's rows pass the AVX-512 tile's 1 MiB block (4 MiB at 49 columns, 1.1
    /// MiB at 196) and the AVX2 tile's 512 steps, not a multiple of either: the later blocks add to C, and
    /// the filter prefetch crosses from the last panel of a block to the first of the next.
    @Test(arguments: [(49, 5_400), (196, 1_400)])
    func laterBlocksAddToTheProduct(columns n: Int, inner k: Int) throws {
        var random = SplitMix64(seed: n * 31 + k)
        try FusedGEMMKernelTests.expectFusedProduct(
            m: 33, n: n, k: k, ldb: n + 1, ldc: n, skipKind: n == 49 ? .inPlace : .separate, activation: .relu, hasBias: true,
            random: &random)
    }

    /// The kernel table's plain packed product (Winograd's products on AVX2 and portable) takes any column
    /// range on the channel-vectorised tile, which keeps the partial sums of at most 256 columns' tiles between
    /// chunks of the inner dimension: wider ranges run as several groups. 600 columns are three groups on
    /// AVX-512 (266 columns each) and AVX2 (258), and an inner dimension of 700 steps three chunks.
    @Test func wideRangesRunAsGroupsOfTiles() throws {
        var random = SplitMix64(seed: 600)
        let m = 40, n = 600, k = 700
        let w = random.floats(m * k), b = random.floats(k * n)
        var expected = [Float](repeating: 0, count: m * n)
        for row in 0..<m {
            for column in 0..<n {
                var sum: Double = 0
                for inner in 0..<k { sum += Double(w[row * k + inner]) * Double(b[inner * n + column]) }
                expected[row * n + column] = Float(sum)
            }
        }
        let packed = w.withUnsafeBufferPointer { PackedFilters.pack($0.baseAddress!, filters: m, inner: k) }
        try #require(!InstructionSet.supported.isEmpty)
        for instructionSet in InstructionSet.supported {
            var c = [Float](repeating: .nan, count: m * n)
            packed.withUnsafeBufferPointer { packed in
                c.withUnsafeMutableBufferPointer { out in
                    instructionSet.packedGEMM(m: m, n: n, k: k, panels: 0..<2, packed: packed.baseAddress!, b: b, ldb: n,
                                              c: out.baseAddress!, ldc: n, accumulate: false)
                }
            }
            expectClose(c, expected, rtol: 1e-4, atol: 1e-4 * Float(k).squareRoot(), "\(instructionSet)")
        }
    }

    /// Every split of a few-column product gives the same bits as one thread: the tile, its blocks of the
    /// inner dimension and its order of additions depend on the shape alone.
    @Test(arguments: [7, 49, 196])
    func splitGivesTheSameBitsAsOneThread(columns n: Int) throws {
        var random = SplitMix64(seed: n)
        let m = 100, k = 1100
        let w = random.floats(m * k), b = random.floats(k * n), bias = random.floats(m)
        let packed = w.withUnsafeBufferPointer { PackedFilters.pack($0.baseAddress!, filters: m, inner: k) }
        for instructionSet in InstructionSet.supported {
            var results: [[Float]] = []
            for pool in FusedGEMMKernelTests.pools() {
                var c = [Float](repeating: .nan, count: m * n)
                packed.withUnsafeBufferPointer { packed in
                    b.withUnsafeBufferPointer { b in
                        bias.withUnsafeBufferPointer { bias in
                            c.withUnsafeMutableBufferPointer { out in
                                let problem = resin_gemm_problem(
                                    m: m, n: n, k: k, packed: packed.baseAddress!, b: b.baseAddress!, ldb: n, c: out.baseAddress!, ldc: n,
                                    epilogue: resin_gemm_epilogue(bias: bias.baseAddress, skip: nil, min: 0, max: .infinity))
                                Kernels.fusedGEMM(pool: pool, problem: problem, instructionSet: instructionSet)
                            }
                        }
                    }
                }
                results.append(c)
            }
            for (index, result) in results.enumerated().dropFirst() {
                let same = zip(result, results[0]).allSatisfy { $0.bitPattern == $1.bitPattern }
                #expect(same, "\(instructionSet), n \(n): split \(index) differs from one thread")
            }
        }
    }
}
