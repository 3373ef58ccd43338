import Foundation
import ResinIR
import Testing
import TestSupport
@testable import ResinRuntime

/// The im2col + sgemm convolution and the sgemm-based Gemm and MatMul against their definitions.
@Suite struct ConvolutionKernelTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var seed: Int
        var testDescription: String { "seed \(seed)" }
    }

    /// Random 2-D convolutions: odd sizes, groups, strides, dilations, asymmetric pads, with and without bias.
    @Test(arguments: (0..<40).map(Case.init))
    func convolutionMatchesTheReference(_ test: Case) throws {
        var random = SplitMix64(seed: test.seed)
        let convolution = try RandomConvolution(&random)
        let (input, weight, geometry, x, w) = (convolution.input, convolution.weight, convolution.geometry, convolution.x, convolution.w)
        let bias = random.chance(0.5) ? random.floats(weight[0]) : nil
        let outputCount = input[0] * weight[0] * geometry.outputPlane
        var fast = [Float](repeating: .nan, count: outputCount)
        var reference = [Float](repeating: .nan, count: outputCount)
        var workspace = [Float](repeating: .nan, count: max(geometry.workspaceElements, 1))
        bias.withOptionalPointer { b in
            Kernels.convolution(input: x, weight: w, bias: b, output: &fast, geometry: geometry, workspace: &workspace)
            Kernels.referenceConvolution(input: x, weight: w, bias: b, output: &reference, geometry: geometry)
        }
        expectClose(fast, reference, rtol: 1e-4, atol: 1e-5)
    }

    @Test func pointwiseConvolutionNeedsNoWorkspace() throws {
        var random = SplitMix64(seed: 7)
        let window = try WindowAttributes().resolve(spatial: [6, 5], kernel: [1, 1])
        let geometry = ConvolutionGeometry(batch: 2, inputChannels: 8, outputChannels: 4, group: 1, inputSpatial: [6, 5], window: window)
        #expect(geometry.isPointwise)
        #expect(geometry.workspaceElements == 0)
        let x = random.floats(2 * 8 * 30)
        let w = random.floats(4 * 8)
        var fast = [Float](repeating: 0, count: 2 * 4 * 30)
        var reference = fast
        Kernels.convolution(input: x, weight: w, bias: nil, output: &fast, geometry: geometry, workspace: nil)
        Kernels.referenceConvolution(input: x, weight: w, bias: nil, output: &reference, geometry: geometry)
        expectClose(fast, reference, rtol: 1e-5, atol: 1e-6)
    }

    @Test(arguments: [[7], [3, 4, 5]])
    func convolutionOfOtherRanks(_ spatial: [Int]) throws {
        var random = SplitMix64(seed: spatial.count)
        let kernel = spatial.map { _ in 2 }
        let window = try WindowAttributes(strides: spatial.map { _ in 1 }, pads: spatial.map { _ in 1 } + spatial.map { _ in 0 })
            .resolve(spatial: spatial, kernel: kernel)
        let geometry = ConvolutionGeometry(batch: 1, inputChannels: 3, outputChannels: 2, group: 1, inputSpatial: spatial, window: window)
        let x = random.floats(3 * spatial.reduce(1, *))
        let w = random.floats(2 * 3 * kernel.reduce(1, *))
        var fast = [Float](repeating: .nan, count: 2 * geometry.outputPlane)
        var reference = fast
        var workspace = [Float](repeating: .nan, count: geometry.workspaceElements)
        Kernels.convolution(input: x, weight: w, bias: nil, output: &fast, geometry: geometry, workspace: &workspace)
        Kernels.referenceConvolution(input: x, weight: w, bias: nil, output: &reference, geometry: geometry)
        expectClose(fast, reference, rtol: 1e-4, atol: 1e-5)
    }

    @Test(arguments: 0..<24)
    func gemmMatchesTheReference(seed: Int) {
        var random = SplitMix64(seed: seed)
        let m = 1 + Int(random.next() % 9), n = 1 + Int(random.next() % 9), k = 1 + Int(random.next() % 9)
        let transA = random.chance(0.5), transB = random.chance(0.5)
        let biasShapes: [[Int]?] = [nil, [], [n], [1, n], [m, 1], [m, n]]
        let biasShape = biasShapes[Int(random.next() % UInt64(biasShapes.count))]
        let geometry = GemmGeometry(m: m, n: n, k: k, transA: transA, transB: transB, alpha: 0.5 + Float(random.next() % 3),
                                    beta: Float(random.next() % 3), biasShape: biasShape)
        let a = random.floats(m * k), b = random.floats(k * n)
        let c = biasShape.map { random.floats(max(1, $0.reduce(1, *))) }
        var fast = [Float](repeating: .nan, count: m * n)
        var reference = fast
        c.withOptionalPointer { c in
            Kernels.gemm(a: a, b: b, c: c, output: &fast, geometry: geometry)
            Kernels.referenceGemm(a: a, b: b, c: c, output: &reference, geometry: geometry)
        }
        expectClose(fast, reference, rtol: 1e-5, atol: 1e-5)
    }

    @Test(arguments: [([3, 4], [4, 5]), ([2, 3, 4], [4, 5]), ([2, 1, 3, 4], [5, 4, 2]), ([4], [4, 3]), ([3, 4], [4]), ([2, 3, 4], [2, 4, 6])])
    func matMulBroadcastsLikeNumpy(_ shapes: ([Int], [Int])) {
        var random = SplitMix64(seed: shapes.0.count * 10 + shapes.1.count)
        let geometry = MatMulGeometry(aShape: shapes.0, bShape: shapes.1)
        let a = random.floats(shapes.0.reduce(1, *)), b = random.floats(shapes.1.reduce(1, *))
        let count = geometry.aOffsets.count * geometry.m * geometry.n
        var fast = [Float](repeating: .nan, count: count)
        var reference = fast
        Kernels.matMul(a: a, b: b, output: &fast, geometry: geometry)
        Kernels.referenceMatMul(a: a, b: b, output: &reference, geometry: geometry)
        expectClose(fast, reference, rtol: 1e-5, atol: 1e-6)
    }
}

extension Optional where Wrapped == [Float] {
    /// Calls `body` with a pointer to the array's elements, or nil.
    func withOptionalPointer<Result>(_ body: (UnsafePointer<Float>?) -> Result) -> Result {
        switch self {
        case .some(let array): array.withUnsafeBufferPointer { body($0.baseAddress) }
        case .none: body(nil)
        }
    }
}

/// A convolution on packed filters with a bias, and with `residual` (when given) accumulated in place and Relu
/// applied; the workspace and the output (without a residual) start as NaN.
func packedConvolution(
    x: [Float], w: [Float], packed: [Float], bias: [Float], residual: [Float]?, geometry: ConvolutionGeometry, pool: WorkerPool,
    instructionSet: InstructionSet
) -> [Float] {
    var workspace = [Float](repeating: .nan, count: max(geometry.workspaceElements, 1))
    var output = residual ?? [Float](repeating: .nan, count: geometry.batch * geometry.outputChannels * geometry.outputPlane)
    output.withUnsafeMutableBufferPointer { out in
        bias.withUnsafeBufferPointer { b in
            let epilogue = ConvolutionEpilogue(bias: b.baseAddress, skip: residual == nil ? nil : UnsafePointer(out.baseAddress),
                                               activation: residual == nil ? .none : .relu)
            Kernels.convolution(input: x, weight: w, output: out.baseAddress!, geometry: geometry, epilogue: epilogue,
                                workspace: &workspace, pool: pool, packedWeight: packed, instructionSet: instructionSet)
        }
    }
    return output
}

@Suite struct ConvolutionBandTests {
    /// A workspace limit of a few rows' columns splits im2col into bands; results must not change.
    @Test(arguments: [(1, 1), (2, 2), (1, 3)])
    func bandedIm2colMatchesTheReference(_ strides: (Int, Int)) throws {
        var random = SplitMix64(seed: strides.0 * 7 + strides.1)
        let input = [2, 3, 23, 17]
        let kernel = [3, 5]
        let window = try WindowAttributes(strides: [strides.0, strides.1], pads: [1, 2, 1, 2]).resolve(spatial: [23, 17], kernel: kernel)
        let full = ConvolutionGeometry(batch: 2, inputChannels: 3, outputChannels: 4, group: 1, inputSpatial: [23, 17], window: window)
        let banded = ConvolutionGeometry(batch: 2, inputChannels: 3, outputChannels: 4, group: 1, inputSpatial: [23, 17], window: window,
                                         workspaceLimit: full.columnRows * full.outputSpatial[1] * 3)
        #expect(banded.tileRows == 3 && banded.tileRows < banded.outputSpatial[0])
        let x = random.floats(input.reduce(1, *)), w = random.floats(4 * 3 * 15), bias = random.floats(4)
        var fast = [Float](repeating: .nan, count: 2 * 4 * full.outputPlane)
        var reference = fast
        var workspace = [Float](repeating: .nan, count: banded.workspaceElements)
        for pool in [WorkerPool.serial, WorkerPool(threads: 2)] {
            Kernels.convolution(input: x, weight: w, bias: bias, output: &fast, geometry: banded, workspace: &workspace, pool: pool)
            Kernels.referenceConvolution(input: x, weight: w, bias: bias, output: &reference, geometry: full)
            expectClose(fast, reference, rtol: 1e-4, atol: 1e-5)
        }
    }

    struct CopiesCase: Sendable, CustomTestStringConvertible {
        var channels: Int, filters: Int, height: Int, width: Int, bandRows: Int?, residual: Bool
        var testDescription: String {
            "C \(channels) M \(filters) \(height)x\(width) band rows \(bandRows.map(String.init) ?? "all") residual \(residual)"
        }
    }

    /// Bands of few columns whose product splits its panels over the threads keep one im2col copy per thread
    /// (`ConvolutionGeometry.columnCopies`): each thread copies the whole band and multiplies its own panels.
    /// On 2 and 3 threads, under every instruction set, against the reference convolution (double-checked
    /// sums of a few hundred products) and bit for bit against one thread's shared band: partial panels, an
    /// odd width, bands of 2 rows and a last band of 1, bias, and an in-place residual with Relu.
    @Test(arguments: [
        CopiesCase(channels: 20, filters: 200, height: 7, width: 7, bandRows: nil, residual: true),
        CopiesCase(channels: 9, filters: 230, height: 9, width: 5, bandRows: nil, residual: false),
        CopiesCase(channels: 20, filters: 224, height: 5, width: 7, bandRows: 2, residual: true),
    ])
    func ownColumnCopiesMatchTheReference(_ test: CopiesCase) throws {
        var random = SplitMix64(seed: test.channels * 1009 + test.filters)
        let spatial = [test.height, test.width]
        let window = try WindowAttributes(pads: [1, 1, 1, 1]).resolve(spatial: spatial, kernel: [3, 3])
        func geometry(threads: Int) -> ConvolutionGeometry {
            ConvolutionGeometry(batch: 1, inputChannels: test.channels, outputChannels: test.filters, group: 1, inputSpatial: spatial,
                                window: window, workspaceLimit: test.bandRows.map { $0 * test.channels * 9 * test.width } ?? ConvolutionGeometry.workspaceLimit,
                                threads: threads)
        }
        let serial = geometry(threads: 1)
        #expect(serial.columnCopies == 1)
        if let bandRows = test.bandRows { try #require(serial.tileRows == bandRows && serial.outputSpatial[0] % bandRows == 1) }
        let x = random.floats(test.channels * spatial.reduce(1, *))
        let w = random.floats(test.filters * serial.columnRows)
        let bias = random.floats(test.filters)
        let outputCount = test.filters * serial.outputPlane
        let skip = random.floats(outputCount)
        var reference = [Float](repeating: 0, count: outputCount)
        Kernels.referenceConvolution(input: x, weight: w, bias: bias, output: &reference, geometry: serial)
        if test.residual { for index in reference.indices { reference[index] = max(0, reference[index] + skip[index]) } }
        let packed = w.withUnsafeBufferPointer { PackedFilters.pack($0.baseAddress!, filters: test.filters, inner: serial.columnRows) }
        func run(_ geometry: ConvolutionGeometry, _ pool: WorkerPool, _ instructionSet: InstructionSet) -> [Float] {
            packedConvolution(x: x, w: w, packed: packed, bias: bias, residual: test.residual ? skip : nil, geometry: geometry,
                              pool: pool, instructionSet: instructionSet)
        }
        try #require(!InstructionSet.supported.isEmpty)
        for instructionSet in InstructionSet.supported {
            let shared = run(serial, .serial, instructionSet)
            expectClose(shared, reference, rtol: 1e-4, atol: 1e-4 * Float(serial.columnRows).squareRoot(), "\(instructionSet), 1 thread")
            for threads in [2, 3] {
                let copies = geometry(threads: threads)
                #expect(copies.columnCopies == threads, "\(threads) threads take the copies")
                #expect(copies.workspaceElements == threads * serial.workspaceElements)
                let own = run(copies, WorkerPool(threads: threads), instructionSet)
                expectClose(own, reference, rtol: 1e-4, atol: 1e-4 * Float(serial.columnRows).squareRoot(), "\(instructionSet), \(threads) threads")
                #expect(own.map(\.bitPattern) == shared.map(\.bitPattern), "\(instructionSet), \(threads) threads: the same bits as one thread")
            }
        }
    }
}

@Suite struct WinogradTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var channels: Int, filters: Int, height: Int, width: Int, pads: [Int], bandLimit: Int, residual: Bool
        var testDescription: String { "C \(channels) M \(filters) \(height)x\(width) pads \(pads) band \(bandLimit) residual \(residual)" }
    }

    static let cases: [Case] = [
        Case(channels: 16, filters: 16, height: 8, width: 8, pads: [1, 1, 1, 1], bandLimit: 1 << 20, residual: false),
        Case(channels: 16, filters: 24, height: 9, width: 7, pads: [1, 1, 1, 1], bandLimit: 1 << 20, residual: true),
        Case(channels: 20, filters: 16, height: 11, width: 13, pads: [0, 2, 1, 0], bandLimit: 16 * 36 * 7 * 2, residual: false),
        Case(channels: 32, filters: 16, height: 14, width: 14, pads: [1, 1, 1, 1], bandLimit: 16 * 48 * 7, residual: true),
        Case(channels: 16, filters: 16, height: 6, width: 7, pads: [0, 0, 0, 0], bandLimit: 1 << 20, residual: false),
    ]

    @Test func resNetShapesChooseWinogradAndSmallOnesDoNot() throws {
        let window = try WindowAttributes(pads: [1, 1, 1, 1]).resolve(spatial: [14, 14], kernel: [3, 3])
        let large = ConvolutionGeometry(batch: 1, inputChannels: 256, outputChannels: 256, group: 1, inputSpatial: [14, 14],
                                        window: window, winograd: .whenFaster)
        #expect(large.usesWinograd)
        let small = ConvolutionGeometry(batch: 1, inputChannels: 16, outputChannels: 16, group: 1, inputSpatial: [14, 14],
                                        window: window, winograd: .whenFaster)
        #expect(!small.usesWinograd, "products too small for OpenBLAS's blocked kernels stay on im2col")
        let strided = try WindowAttributes(strides: [2, 2], pads: [1, 1, 1, 1]).resolve(spatial: [14, 14], kernel: [3, 3])
        #expect(!ConvolutionGeometry(batch: 1, inputChannels: 256, outputChannels: 256, group: 1, inputSpatial: [14, 14],
                                     window: strided, winograd: .whenFaster).usesWinograd)
        // ResNet's last stage: 16 tiles of a 7x7 output do not repay 16/9 of the filter memory...
        let last = try WindowAttributes(pads: [1, 1, 1, 1]).resolve(spatial: [7, 7], kernel: [3, 3])
        #expect(!ConvolutionGeometry(batch: 1, inputChannels: 512, outputChannels: 512, group: 1, inputSpatial: [7, 7],
                                     window: last, winograd: .whenFaster).usesWinograd)
        // ...but filters that come transformed (a native file's choice) are used whenever the shape allows.
        #expect(ConvolutionGeometry(batch: 1, inputChannels: 512, outputChannels: 512, group: 1, inputSpatial: [7, 7],
                                    window: last, winograd: .whenEligible).usesWinograd)
        #expect(!ConvolutionGeometry(batch: 1, inputChannels: 256, outputChannels: 256, group: 1, inputSpatial: [14, 14],
                                     window: strided, winograd: .whenEligible).usesWinograd)
        // 49 tiles per band: the products run on packed transforms.
        #expect(PackedFilters.pay(forWinograd: large))
        // ResNet's first stage: products too small for OpenBLAS, but not for the packed kernel, which every
        // instruction set has, so the choice is the same on every processor.
        let first = try WindowAttributes(pads: [1, 1, 1, 1]).resolve(spatial: [56, 56], kernel: [3, 3])
        let stageOne = ConvolutionGeometry(batch: 1, inputChannels: 64, outputChannels: 64, group: 1, inputSpatial: [56, 56],
                                           window: first, winograd: .whenFaster)
        #expect(stageOne.usesWinograd)
        #expect(PackedFilters.pay(forWinograd: stageOne))
    }

    @Test(arguments: cases)
    func winogradMatchesTheReference(_ test: Case) throws {
        var random = SplitMix64(seed: test.channels * 31 + test.height)
        let window = try WindowAttributes(pads: test.pads).resolve(spatial: [test.height, test.width], kernel: [3, 3])
        let geometry = ConvolutionGeometry(batch: 2, inputChannels: test.channels, outputChannels: test.filters, group: 1,
                                           inputSpatial: [test.height, test.width], window: window, winograd: .whenEligible,
                                           winogradWorkspaceLimit: test.bandLimit)
        try #require(geometry.usesWinograd)
        let x = random.floats(2 * test.channels * test.height * test.width)
        let w = random.floats(test.filters * test.channels * 9)
        let bias = random.floats(test.filters)
        let outputCount = 2 * test.filters * geometry.outputPlane
        let skip = random.floats(outputCount)
        var reference = [Float](repeating: 0, count: outputCount)
        Kernels.referenceConvolution(input: x, weight: w, bias: bias, output: &reference, geometry: geometry)
        if test.residual { for index in reference.indices { reference[index] = max(0, reference[index] + skip[index]) } }
        let transformed = Kernels.winogradWeights(w, filters: test.filters, channels: test.channels)
        let packed = transformed.withUnsafeBufferPointer {
            PackedFilters.packWinograd($0.baseAddress!, filters: test.filters, channels: test.channels)
        }
        var workspace = [Float](repeating: .nan, count: geometry.workspaceElements)
        // The plain transforms through sgemm (nil), and the packed ones through each instruction set's kernel.
        for instructionSet in [nil] + InstructionSet.supported {
            let usePacked = instructionSet != nil
            for pool in [WorkerPool.serial, WorkerPool(threads: 2)] {
                // In place when there is a residual: the output starts as the residual and accumulates.
                var output = test.residual ? skip : [Float](repeating: .nan, count: outputCount)
                output.withUnsafeMutableBufferPointer { out in
                    bias.withUnsafeBufferPointer { b in
                        let epilogue = ConvolutionEpilogue(bias: b.baseAddress, skip: test.residual ? UnsafePointer(out.baseAddress) : nil,
                                                           activation: test.residual ? .relu : .none)
                        Kernels.convolution(input: x, weight: w, output: out.baseAddress!, geometry: geometry, epilogue: epilogue,
                                            workspace: &workspace, pool: pool, transformedWeight: usePacked ? nil : transformed,
                                            packedTransformedWeight: usePacked ? packed : nil, instructionSet: instructionSet ?? .portable)
                    }
                }
                expectClose(output, reference, rtol: 1e-4, atol: 1e-4, "\(instructionSet.map(String.init(describing:)) ?? "sgemm"), \(pool.threads) threads")
            }
        }
    }
}

/// Resin's packed-filter kernel (CResinKernels) against the reference convolution.
@Suite struct PackedFilterTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var filters: Int, channels: Int, kernel: Int, stride: Int, height: Int, width: Int, batch: Int, residual: Bool
        var testDescription: String {
            "M \(filters) C \(channels) \(kernel)x\(kernel)/\(stride) \(height)x\(width) N \(batch) residual \(residual)"
        }
    }

    /// Full and partial panels of 32 filters, column counts with every remainder of the 7-column tile,
    /// inner dimensions beyond one 512-step block, batches, and in-place residual accumulation.
    static let cases: [Case] = [
        Case(filters: 64, channels: 40, kernel: 1, stride: 1, height: 7, width: 7, batch: 1, residual: false),
        Case(filters: 37, channels: 600, kernel: 1, stride: 1, height: 5, width: 4, batch: 2, residual: true),
        Case(filters: 96, channels: 64, kernel: 3, stride: 1, height: 7, width: 7, batch: 1, residual: true),
        Case(filters: 33, channels: 70, kernel: 3, stride: 2, height: 14, width: 13, batch: 2, residual: false),
        Case(filters: 32, channels: 1030, kernel: 1, stride: 1, height: 1, width: 3, batch: 1, residual: true),
        Case(filters: 40, channels: 16, kernel: 1, stride: 1, height: 16, width: 16, batch: 1, residual: false),
        // 3,690 x 144 columns exceed one 2 MiB im2col band: the products run band by band.
        Case(filters: 32, channels: 410, kernel: 3, stride: 1, height: 12, width: 12, batch: 1, residual: true),
    ]

    @Test(arguments: cases)
    func packedFiltersMatchTheReference(_ test: Case) throws {
        var random = SplitMix64(seed: test.filters * 131 + test.channels)
        let pad = test.kernel / 2
        let window = try WindowAttributes(strides: [test.stride, test.stride], pads: [pad, pad, pad, pad])
            .resolve(spatial: [test.height, test.width], kernel: [test.kernel, test.kernel])
        let geometry = ConvolutionGeometry(batch: test.batch, inputChannels: test.channels, outputChannels: test.filters, group: 1,
                                           inputSpatial: [test.height, test.width], window: window)
        #expect(PackedFilters.pay(for: geometry))
        if test.channels == 410 { #expect(geometry.tileRows < geometry.outputSpatial[0]) }
        let x = random.floats(test.batch * test.channels * test.height * test.width)
        let w = random.floats(test.filters * geometry.columnRows)
        let bias = random.floats(test.filters)
        let outputCount = test.batch * test.filters * geometry.outputPlane
        let skip = random.floats(outputCount)
        var reference = [Float](repeating: 0, count: outputCount)
        Kernels.referenceConvolution(input: x, weight: w, bias: bias, output: &reference, geometry: geometry)
        if test.residual { for index in reference.indices { reference[index] = max(0, reference[index] + skip[index]) } }
        let packed = w.withUnsafeBufferPointer { PackedFilters.pack($0.baseAddress!, filters: test.filters, inner: geometry.columnRows) }
        #expect(packed.count == PackedFilters.shape(filters: test.filters, inner: geometry.columnRows).reduce(1, *))
        for instructionSet in InstructionSet.supported {
            for pool in [WorkerPool.serial, WorkerPool(threads: 2), WorkerPool(threads: 3)] {
                let output = packedConvolution(x: x, w: w, packed: packed, bias: bias, residual: test.residual ? skip : nil,
                                               geometry: geometry, pool: pool, instructionSet: instructionSet)
                expectClose(output, reference, rtol: 1e-4, atol: 1e-4, "\(instructionSet), \(pool.threads) threads")
            }
        }
    }

    /// 1-D and 3-D convolutions take the packed path too (im2col without bands).
    @Test(arguments: [[40], [3, 4, 5]])
    func packedFiltersForOtherRanks(_ spatial: [Int]) throws {
        var random = SplitMix64(seed: spatial.count)
        let kernel = spatial.map { _ in 3 }
        let window = try WindowAttributes(pads: Array(repeating: 1, count: 2 * spatial.count)).resolve(spatial: spatial, kernel: kernel)
        let geometry = ConvolutionGeometry(batch: 2, inputChannels: 5, outputChannels: 35, group: 1, inputSpatial: spatial, window: window)
        #expect(PackedFilters.pay(for: geometry))
        let x = random.floats(2 * 5 * spatial.reduce(1, *))
        let w = random.floats(35 * geometry.columnRows)
        let bias = random.floats(35)
        var reference = [Float](repeating: 0, count: 2 * 35 * geometry.outputPlane)
        var fast = reference
        var workspace = [Float](repeating: .nan, count: max(geometry.workspaceElements, 1))
        let packed = w.withUnsafeBufferPointer { PackedFilters.pack($0.baseAddress!, filters: 35, inner: geometry.columnRows) }
        bias.withUnsafeBufferPointer { b in
            Kernels.referenceConvolution(input: x, weight: w, bias: b.baseAddress, output: &reference, geometry: geometry)
        }
        for instructionSet in InstructionSet.supported {
            fast = [Float](repeating: .nan, count: fast.count)
            bias.withUnsafeBufferPointer { b in
                fast.withUnsafeMutableBufferPointer { out in
                    Kernels.convolution(input: x, weight: w, output: out.baseAddress!, geometry: geometry,
                                        epilogue: ConvolutionEpilogue(bias: b.baseAddress), workspace: &workspace,
                                        pool: WorkerPool(threads: 2), packedWeight: packed, instructionSet: instructionSet)
                }
            }
            expectClose(fast, reference, rtol: 1e-4, atol: 1e-4, "\(instructionSet)")
        }
    }

    @Test func packingIsAPermutationWithZeroPadding() {
        let w = (0..<(40 * 3)).map(Float.init)
        let packed = w.withUnsafeBufferPointer { PackedFilters.pack($0.baseAddress!, filters: 40, inner: 3) }
        #expect(packed.count == 2 * 3 * 32)
        // Panel 1, inner index 2, lane 5 is filter 37's third element; lanes past filter 39 are zero.
        #expect(packed[(1 * 3 + 2) * 32 + 5] == w[37 * 3 + 2])
        #expect(packed[(1 * 3 + 2) * 32 + 8] == 0)
        #expect(packed[(0 * 3 + 1) * 32 + 0] == w[0 * 3 + 1])
    }
}
