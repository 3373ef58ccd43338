import ResinIR
import Testing
import TestSupport
@testable import ResinRuntime

/// Resin's packed matrix kernel under every instruction set this processor runs, against a plain
/// double-precision product, and the convolutions built on it against the reference convolution.
@Suite struct PackedKernelTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var seed: Int
        var testDescription: String { "seed \(seed)" }
    }

    /// The thread counts every case runs with: one task, and panels split two and three ways. Each case
    /// makes its own pools: cases run concurrently, and a pool runs one caller's tasks at a time.
    static func pools() -> [WorkerPool] { [WorkerPool.serial, WorkerPool(threads: 2), WorkerPool(threads: 3)] }

    /// Seeded shapes: partial panels (m not a multiple of 32, some under 16), every column count from 1
    /// to 16 (each remainder of the 6-, 7- and 8-column tiles) and some wide ones, odd inner dimensions
    /// and ones past the 512-step block, padded row strides, accumulating or not.
    @Test(arguments: (0..<48).map(Case.init))
    func packedProductMatchesTheReference(_ test: Case) throws {
        var random = SplitMix64(seed: test.seed * 7919 + 1)
        let wide = test.seed >= 32
        let m = 1 + Int(random.next() % (wide ? 40 : 100))
        let n = wide ? [49, 50, 196, 255][test.seed % 4] : 1 + test.seed % 16
        let k = 2 * Int(random.next() % (wide ? 100 : 350)) + 1
        let ldb = n + Int(random.next() % 3)
        let ldc = n + Int(random.next() % 3)
        let accumulate = test.seed % 2 == 1
        let w = random.floats(m * k)
        let b = random.floats(k * ldb)
        let initial = random.floats(m * ldc)
        var reference = initial
        for row in 0..<m {
            for column in 0..<n {
                var sum: Double = accumulate ? Double(initial[row * ldc + column]) : 0
                for inner in 0..<k { sum += Double(w[row * k + inner]) * Double(b[inner * ldb + column]) }
                reference[row * ldc + column] = Float(sum)
            }
        }
        let packed = w.withUnsafeBufferPointer { PackedFilters.pack($0.baseAddress!, filters: m, inner: k) }
        try #require(!InstructionSet.supported.isEmpty)
        let pools = Self.pools()
        for instructionSet in InstructionSet.supported {
            for pool in pools {
                var c = initial
                c.withUnsafeMutableBufferPointer { out in
                    Kernels.packedGEMM(pool: pool, m: m, n: n, k: k, packed: packed, b: b, ldb: ldb, c: out.baseAddress!, ldc: ldc,
                                       accumulate: accumulate, instructionSet: instructionSet)
                }
                // Columns past n (the stride's padding) must be left as they were: compared exactly.
                expectClose(c, reference, rtol: 1e-4, atol: 1e-4 * Float(k).squareRoot(),
                            "\(instructionSet), \(pool.threads) threads, m \(m) n \(n) k \(k) accumulate \(accumulate)")
                for row in 0..<m {
                    for column in n..<ldc where c[row * ldc + column] != initial[row * ldc + column] {
                        Issue.record("\(instructionSet) wrote past column \(n) at row \(row)")
                    }
                }
            }
        }
    }

    /// Seeded Winograd convolutions on packed transforms: filters in partial panels, odd channel counts,
    /// odd output sizes (cropped tiles), small bands, in-place residual accumulation or a plain write.
    @Test(arguments: (0..<16).map(Case.init))
    func packedWinogradMatchesTheReference(_ test: Case) throws {
        var random = SplitMix64(seed: test.seed * 104_729 + 3)
        let channels = 16 + Int(random.next() % 40)
        let filters = 32 + Int(random.next() % 50)
        let height = 6 + Int(random.next() % 10), width = 6 + Int(random.next() % 10)
        let pads = (0..<4).map { _ in Int(random.next() % 2) }
        let residual = test.seed % 2 == 0
        let window = try WindowAttributes(pads: pads).resolve(spatial: [height, width], kernel: [3, 3])
        let bandLimit = [1 << 19, 4096][test.seed % 2 == 0 ? 0 : 1]
        let geometry = ConvolutionGeometry(batch: 1 + test.seed % 2, inputChannels: channels, outputChannels: filters, group: 1,
                                           inputSpatial: [height, width], window: window, winograd: .whenEligible,
                                           winogradWorkspaceLimit: bandLimit)
        try #require(geometry.usesWinograd)
        let x = random.floats(geometry.batch * channels * height * width)
        let w = random.floats(filters * channels * 9)
        let bias = random.floats(filters)
        let outputCount = geometry.batch * filters * geometry.outputPlane
        let skip = random.floats(outputCount)
        var reference = [Float](repeating: 0, count: outputCount)
        Kernels.referenceConvolution(input: x, weight: w, bias: bias, output: &reference, geometry: geometry)
        if residual { for index in reference.indices { reference[index] = max(0, reference[index] + skip[index]) } }
        let packed = Kernels.winogradWeights(w, filters: filters, channels: channels).withUnsafeBufferPointer {
            PackedFilters.packWinograd($0.baseAddress!, filters: filters, channels: channels)
        }
        var workspace = [Float](repeating: .nan, count: geometry.workspaceElements)
        let pools = Self.pools()
        for instructionSet in InstructionSet.supported {
            for pool in pools {
                var output = residual ? skip : [Float](repeating: .nan, count: outputCount)
                output.withUnsafeMutableBufferPointer { out in
                    bias.withUnsafeBufferPointer { b in
                        let epilogue = ConvolutionEpilogue(bias: b.baseAddress, skip: residual ? UnsafePointer(out.baseAddress) : nil,
                                                           activation: residual ? .relu : .none)
                        Kernels.convolution(input: x, weight: w, output: out.baseAddress!, geometry: geometry, epilogue: epilogue,
                                            workspace: &workspace, pool: pool, packedTransformedWeight: packed,
                                            instructionSet: instructionSet)
                    }
                }
                expectClose(output, reference, rtol: 1e-4, atol: 1e-4,
                            "\(instructionSet), \(pool.threads) threads, M \(filters) C \(channels) \(height)x\(width)")
            }
        }
    }
}
