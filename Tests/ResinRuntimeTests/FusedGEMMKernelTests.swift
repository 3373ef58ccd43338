import CResinKernels
import ResinIR
import Testing
import TestSupport
@testable import ResinRuntime

/// Resin's fused packed product (`C = clamp(W * B + bias + skip)`) under every instruction set this
/// processor runs and on 1, 2 and 3 threads, against a plain double-precision product; and convolutions on
/// packed filters, with their epilogue in the kernel, against `Kernels.referenceConvolution`.
@Suite struct FusedGEMMKernelTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var seed: Int
        var testDescription: String { "seed \(seed)" }
    }

    /// What the product adds: a residual in its own buffer, or the output itself holding it.
    enum Skip: CaseIterable {
        case none, separate, inPlace

        /// The epilogue's residual for this kind: none, the separate tensor, or the output itself.
        func pointer(separate: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>) -> UnsafePointer<Float>? {
            switch self {
            case .none: nil
            case .separate: separate
            case .inPlace: UnsafePointer(output)
            }
        }
    }

    static let activations: [FusedActivation] = [.none, .relu, .clip(min: -0.5, max: 0.75)]

    /// Each case makes its own pools: cases run concurrently, and a pool runs one caller's tasks at a time.
    static func pools() -> [WorkerPool] { [WorkerPool.serial, WorkerPool(threads: 2), WorkerPool(threads: 3)] }

    /// A bound on float rounding for sums of `k` products of values at most `x` and `w` in magnitude (well
    /// conditioned: the error grows like the square root of the terms).
    static func tolerance(k: Int, x: Float = 1, w: Float = 1) -> Float { 2e-6 * Float(k).squareRoot() * x * w * 8 }

    /// Seeded products: partial panels (m not a multiple of 32, nor of the 8- and 6-channel tiles), column
    /// counts on both sides of the 256-column switch with every remainder of the 48-, 16-, 7- and 6-column
    /// tiles across the seeds, odd inner dimensions past the 128-, 256- and 512-step blocks, padded row strides,
    /// with or without bias, every kind of residual and every activation.
    @Test(arguments: (0..<36).map(Case.init))
    func fusedProductMatchesTheReference(_ test: Case) throws {
        var random = SplitMix64(seed: test.seed * 6151 + 5)
        let m = 1 + Int(random.next() % 75)
        let n = test.seed % 3 == 0 ? 1 + Int(random.next() % 60) : 257 + Int(random.next() % 100)
        let k = 2 * Int(random.next() % 300) + 1
        let ldb = n + Int(random.next() % 3), ldc = n + Int(random.next() % 3)
        try Self.expectFusedProduct(m: m, n: n, k: k, ldb: ldb, ldc: ldc, skipKind: Skip.allCases[test.seed % 3],
                                    activation: Self.activations[test.seed / 3 % 3], hasBias: test.seed / 9 % 2 == 0,
                                    random: &random)
    }

    /// Every panel height from 1 to 40 filters on the column tile (more than 256 columns): each instruction set
    /// splits a panel into tiles of its own heights (AVX2: 6 + 6 + 5 + 5 + 5 + 5 for 32, 4 + 3 for 7), so
    /// each height's last tile, and a tile of fewer rows than its kernel computes, stores exactly its rows.
    @Test(arguments: 1...40)
    func everyPanelHeightOnTheColumnTile(_ m: Int) throws {
        var random = SplitMix64(seed: m * 4099 + 11)
        try Self.expectFusedProduct(m: m, n: 290, k: 37, ldb: 291, ldc: 292, skipKind: Skip.allCases[m % 3],
                                    activation: Self.activations[m % 3], hasBias: m % 2 == 0, random: &random)
    }

    /// Runs `C = clamp(W * B + bias + skip)` on seeded operands under every instruction set and on 1, 2 and 3
    /// threads, and expects the double-precision product, with the row stride's padding past column `n` left
    /// as it was.
    static func expectFusedProduct(
        m: Int, n: Int, k: Int, ldb: Int, ldc: Int, skipKind: Skip, activation: FusedActivation, hasBias: Bool,
        random: inout SplitMix64
    ) throws {
        let w = random.floats(m * k), b = random.floats(k * ldb)
        let bias = hasBias ? random.floats(m) : nil
        let initial = random.floats(m * ldc, in: -2...2)
        let residual = random.floats(m * ldc, in: -2...2)
        var expected = initial
        for row in 0..<m {
            for column in 0..<n {
                var sum: Double = Double(bias?[row] ?? 0)
                switch skipKind {
                case .none: break
                case .separate: sum += Double(residual[row * ldc + column])
                case .inPlace: sum += Double(initial[row * ldc + column])
                }
                for inner in 0..<k { sum += Double(w[row * k + inner]) * Double(b[inner * ldb + column]) }
                expected[row * ldc + column] = FusedConvolutionKernelTests.activate(Float(sum), activation)
            }
        }
        let packed = w.withUnsafeBufferPointer { PackedFilters.pack($0.baseAddress!, filters: m, inner: k) }
        let bounds = activation.bounds
        try #require(!InstructionSet.supported.isEmpty)
        for instructionSet in InstructionSet.supported {
            for pool in Self.pools() {
                var c = initial
                bias.withOptionalPointer { biasPointer in
                    residual.withUnsafeBufferPointer { residual in
                        c.withUnsafeMutableBufferPointer { out in
                            let skip = skipKind.pointer(separate: residual.baseAddress, output: out.baseAddress!)
                            // The arrays' pointers are only valid inside these closures, so the problem lives here too.
                            packed.withUnsafeBufferPointer { packed in
                                b.withUnsafeBufferPointer { b in
                                    let problem = resin_gemm_problem(
                                        m: m, n: n, k: k, packed: packed.baseAddress!, b: b.baseAddress!, ldb: ldb, c: out.baseAddress!,
                                        ldc: ldc,
                                        epilogue: resin_gemm_epilogue(bias: biasPointer, skip: skip, min: bounds.min, max: bounds.max))
                                    Kernels.fusedGEMM(pool: pool, problem: problem, instructionSet: instructionSet)
                                }
                            }
                        }
                    }
                }
                let label = "\(instructionSet), \(pool.threads) threads, m \(m) n \(n) k \(k), \(skipKind), bias \(hasBias), \(activation)"
                expectClose(c, expected, rtol: 1e-5, atol: Self.tolerance(k: k), Comment(rawValue: label))
                // Columns past n (the stride's padding) are left as they were.
                for row in 0..<m {
                    for column in n..<ldc where c[row * ldc + column] != initial[row * ldc + column] {
                        Issue.record("\(label): wrote past column \(n) at row \(row)")
                    }
                }
            }
        }
    }

    /// Seeded convolutions on packed filters: 1x1, 3x3 and 7x7 kernels, strides 1 and 2, pads, dilations,
    /// batch 1 and 2, output planes below and above 256 columns, filters in partial panels, every epilogue.
    @Test(arguments: (0..<30).map(Case.init))
    func packedConvolutionMatchesTheReference(_ test: Case) throws {
        var random = SplitMix64(seed: test.seed * 3571 + 11)
        let kernel = [1, 3, 7][test.seed % 3]
        let stride = 1 + Int(random.next() % 2)
        let dilation = kernel == 3 && test.seed % 5 == 0 ? 2 : 1
        let pad = kernel == 1 ? (test.seed % 4 == 1 ? 1 : 0) : Int(random.next() % UInt64(kernel / 2 + 1))
        let batch = 1 + test.seed % 2
        let channels = 1 + Int(random.next() % 9), filters = 1 + Int(random.next() % 70)
        let side = test.seed % 2 == 0 ? 8 + Int(random.next() % 8) : 24 + Int(random.next() % 14)
        let input = [batch, channels, side, side + Int(random.next() % 5)]
        let window = try WindowAttributes(strides: [stride, stride], dilations: [dilation, dilation], pads: [pad, pad, pad, pad])
            .resolve(spatial: Array(input.dropFirst(2)), kernel: [kernel, kernel])
        let geometry = ConvolutionGeometry(batch: batch, inputChannels: channels, outputChannels: filters, group: 1,
                                           inputSpatial: Array(input.dropFirst(2)), window: window,
                                           workspaceLimit: test.seed % 7 == 0 ? 2048 : ConvolutionGeometry.workspaceLimit)
        try #require(PackedFilters.pay(for: geometry))
        let x = random.floats(input.reduce(1, *))
        let w = random.floats(filters * geometry.columnRows)
        let bias = test.seed / 3 % 2 == 0 ? random.floats(filters) : nil
        let skipKind = Skip.allCases[test.seed / 2 % 3]
        let activation = Self.activations[test.seed / 6 % 3]
        let count = batch * filters * geometry.outputPlane
        let residual = skipKind == .none ? nil : random.floats(count, in: -2...2)
        let expected = FusedConvolutionKernelTests.reference(x: x, w: w, bias: bias, skip: residual, activation: activation,
                                                             geometry: geometry)
        let packed = w.withUnsafeBufferPointer { PackedFilters.pack($0.baseAddress!, filters: filters, inner: geometry.columnRows) }
        for instructionSet in InstructionSet.supported {
            for pool in Self.pools() {
                var output = skipKind == .inPlace ? residual! : [Float](repeating: .nan, count: count)
                var workspace = [Float](repeating: .nan, count: max(geometry.workspaceElements, 1))
                let separate = residual ?? []
                bias.withOptionalPointer { b in
                    separate.withUnsafeBufferPointer { separate in
                        output.withUnsafeMutableBufferPointer { y in
                            let skip = skipKind.pointer(separate: separate.baseAddress, output: y.baseAddress!)
                            Kernels.convolution(input: x, weight: w, output: y.baseAddress!, geometry: geometry,
                                                epilogue: ConvolutionEpilogue(bias: b, skip: skip, activation: activation),
                                                workspace: &workspace, pool: pool, packedWeight: packed, instructionSet: instructionSet)
                        }
                    }
                }
                let label = "\(instructionSet), \(pool.threads) threads, \(input) \(kernel)x\(kernel) stride \(stride) pad \(pad) "
                    + "dilation \(dilation), \(filters) filters, \(skipKind), bias \(bias != nil), \(activation)"
                expectClose(output, expected, rtol: 1e-5, atol: Self.tolerance(k: geometry.columnRows), Comment(rawValue: label))
            }
        }
    }

    /// A plain product whose filters pass 1 MiB (40 filters by 4,200 steps: two panels, 1.1 MiB packed) takes
    /// several blocks of 48 columns per pass of the column product (`resin_column_blocks_per_pass`): on one
    /// thread, 300 columns are a pass of four blocks and one of three, the last one partial; 432 columns on two
    /// threads are 4 and 5 blocks, each one pass; the later blocks of the inner dimension add to C.
    @Test(arguments: [300, 432])
    func filtersPastTheCacheServeSeveralBlocksPerPass(columns n: Int) throws {
        var random = SplitMix64(seed: 4200 + n)
        try #require(PackedFilters.floats(filters: 40, inner: 4200) * 4 > 1 << 20)
        try Self.expectFusedProduct(m: 40, n: n, k: 4200, ldb: n + 1, ldc: n + 3, skipKind: .separate, activation: .relu,
                                    hasBias: true, random: &random)
    }

    /// A plain B whose rows lie 784 floats apart (49 cache lines: a 28x28 map's) is read in place by the column
    /// product's full blocks of 48 columns (`resin_column_reads_b_in_place`) and copied for the last, partial
    /// one: 300 columns are 6 full blocks and 12 columns; 700 steps are several blocks of the inner dimension.
    @Test func plainRowsOnCacheLinesAreReadInPlace() throws {
        var random = SplitMix64(seed: 784)
        try Self.expectFusedProduct(m: 70, n: 300, k: 700, ldb: 784, ldc: 301, skipKind: .inPlace, activation: .relu,
                                    hasBias: true, random: &random)
    }

    /// Clip's rules in the kernel's store, as in the Swift epilogue: a NaN result passes whatever the
    /// bounds, a NaN bound clamps nothing, infinities are clamped by finite bounds.
    @Test(arguments: [4, 300])
    func clampKeepsNaNAndNaNBoundsClampNothing(columns n: Int) throws {
        let m = 3, k = 1
        let w: [Float] = [1, 1, 1]
        var b = [Float](repeating: 0, count: n)
        b[0] = .nan
        b[1] = .infinity
        b[2] = -.infinity
        b[3] = -5
        let packed = w.withUnsafeBufferPointer { PackedFilters.pack($0.baseAddress!, filters: m, inner: k) }
        for instructionSet in InstructionSet.supported {
            for (low, high) in [(Float(0), Float(6)), (Float.nan, Float(6)), (Float(0), Float.nan)] {
                var c = [Float](repeating: 0, count: m * n)
                packed.withUnsafeBufferPointer { packed in
                    b.withUnsafeBufferPointer { b in
                        c.withUnsafeMutableBufferPointer { out in
                            let problem = resin_gemm_problem(
                                m: m, n: n, k: k, packed: packed.baseAddress!, b: b.baseAddress!, ldb: n, c: out.baseAddress!, ldc: n,
                                epilogue: resin_gemm_epilogue(bias: nil, skip: nil, min: low, max: high))
                            Kernels.fusedGEMM(pool: nil, problem: problem, instructionSet: instructionSet)
                        }
                    }
                }
                let label = Comment(rawValue: "\(instructionSet), n \(n), clip(\(low), \(high))")
                #expect(c[0].isNaN, label)
                #expect(c[1] == (high.isNaN ? .infinity : high), label)
                #expect(c[2] == (low.isNaN ? -.infinity : low), label)
                #expect(c[3] == (low.isNaN ? -5 : low), label)
            }
        }
    }

    /// Every ResNet-50 product at batch 1 gives each thread work, under every instruction set's column unit:
    /// at least as many tasks as threads, and the slowest thread does at most its even share of the product's
    /// units (panels by blocks of columns) rounded up, plus one task's worth.
    @Test(arguments: [2, 3, 4])
    func splitKeepsEveryThreadBusy(threads: Int) {
        let products = [(64, 12544), (64, 3136), (256, 3136), (128, 3136), (128, 784), (512, 784), (256, 784), (256, 196),
                        (1024, 196), (512, 196), (512, 49), (2048, 49)]
        for instructionSet in InstructionSet.allCases {
            for (m, n) in products {
                let plan = Kernels.fusedPlan(m: m, n: n, gathered: false, stridedGather: false, threads: threads,
                                             instructionSet: instructionSet)
                let grid = plan.grid
                let tasks = grid.panels * grid.columns
                let label = "\(instructionSet) m \(m) n \(n): grid \(grid) of \(plan.panels) panels by \(plan.units) units"
                #expect(tasks >= min(threads, plan.panels * plan.units), "\(label): \(tasks) tasks for \(threads) threads")
                let perTask = ((plan.panels + grid.panels - 1) / grid.panels) * ((plan.units + grid.columns - 1) / grid.columns)
                let slowest = (tasks + threads - 1) / threads * perTask
                let even = (plan.panels * plan.units + threads - 1) / threads
                #expect(slowest <= even + perTask, "\(label): slowest \(slowest) units, even share \(even)")
            }
        }
    }

    /// Threads split a few-column product by columns when its columns are at least a quarter of its rows
    /// (`Kernels.splitsColumns`): ResNet-50's 14x14 1024-to-256 and 1024-to-512 products split by columns, its 7x7
    /// ones and its 14x14 256-to-1024 one by panels, and one thread never splits.
    @Test func fewColumnsSplitByColumnsOnlyWhenTheyOutweighTheFilters() {
        for (m, n, columns) in [(256, 196, true), (512, 196, true), (1024, 196, false), (512, 49, false), (2048, 49, false)] {
            let plan = Kernels.fusedPlan(m: m, n: n, gathered: false, stridedGather: false, threads: 2, instructionSet: .avx512)
            #expect(plan.unit == 14 && plan.units == (n + 13) / 14)
            #expect(plan.grid == (columns ? (1, 2) : (2, 1)), "m \(m) n \(n): grid \(plan.grid)")
        }
        #expect(!Kernels.splitsColumns(m: 256, n: 196, threads: 1))
    }

    /// Many columns split by columns where that leaves the slowest thread at most a tenth more units than the
    /// most even split by panels (`Kernels.fusedGrid`): ResNet-50's 28x28 products, 17 blocks of 48 columns, split 9
    /// and 8 rather than their 16 panels 8 and 8 (144 units against 136), so that each thread reads the columns of
    /// B it wrote. Past the slack the balance wins: 7 blocks split 4 and 3 would be 32 units against 28.
    @Test func manyColumnsSplitByColumnsWithinTheSlack() {
        for instructionSet in InstructionSet.allCases {
            for m in [128, 256, 512, 1024] {
                let plan = Kernels.fusedPlan(m: m, n: 784, gathered: false, stridedGather: false, threads: 2,
                                             instructionSet: instructionSet)
                #expect(plan.units == 17 && plan.grid == (1, 2), "\(instructionSet) m \(m): grid \(plan.grid)")
            }
            let plan = Kernels.fusedPlan(m: 256, n: 300, gathered: false, stridedGather: false, threads: 2, instructionSet: instructionSet)
            #expect(plan.units == 7 && plan.grid == (2, 1), "\(instructionSet): grid \(plan.grid)")
        }
        #expect(Kernels.fusedGrid(panels: 16, columnBlocks: 17, threads: 2, copiesInputs: false) == (2, 1))
    }
}
