import CResinKernels
import ResinIR
import Testing
import TestSupport
@testable import ResinRuntime

/// Convolutions whose packed product reads its columns straight from the input (`resin_gemm_gather`) and
/// covers the whole batch in one product, under every instruction set this processor runs and on 1, 2 and 3
/// threads, against `Kernels.referenceConvolution` followed by the epilogue.
@Suite struct ImplicitGEMMTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var seed: Int
        var testDescription: String { "seed \(seed)" }
    }

    typealias Skip = FusedGEMMKernelTests.Skip

    /// One convolution: its shapes, and what its epilogue adds.
    struct Convolution {
        var geometry: ConvolutionGeometry
        var x: [Float], w: [Float]
        var bias: [Float]?
        var skip: Skip
        var residual: [Float]?
        var activation: FusedActivation

        var count: Int { geometry.batch * geometry.outputChannels * geometry.outputPlane }

        var expected: [Float] {
            FusedConvolutionKernelTests.reference(x: x, w: w, bias: bias, skip: residual, activation: activation, geometry: geometry)
        }

        /// Runs the convolution on packed filters with no workspace at all (the implicit path needs none).
        func run(_ instructionSet: InstructionSet, pool: WorkerPool) -> [Float] {
            let packed = w.withUnsafeBufferPointer {
                PackedFilters.pack($0.baseAddress!, filters: geometry.outputChannels, inner: geometry.columnRows)
            }
            var output = skip == .inPlace ? residual! : [Float](repeating: .nan, count: count)
            let separate = residual ?? []
            bias.withOptionalPointer { b in
                separate.withUnsafeBufferPointer { separate in
                    output.withUnsafeMutableBufferPointer { y in
                        let skipPointer = skip.pointer(separate: separate.baseAddress, output: y.baseAddress!)
                        Kernels.convolution(input: x, weight: w, output: y.baseAddress!, geometry: geometry,
                                            epilogue: ConvolutionEpilogue(bias: b, skip: skipPointer, activation: activation),
                                            workspace: nil, pool: pool, packedWeight: packed, instructionSet: instructionSet)
                    }
                }
            }
            return output
        }
    }

    /// Seeded convolutions: kernels 1 (padded, so not pointwise), 3 and 7, strides 1 and 2, asymmetric pads,
    /// dilation 2, odd channel counts, partial panels, batch 1 to 3, output widths leaving every remainder of
    /// the 48- and 16-column tiles (so tiles straddle rows and images), every residual and activation. The
    /// maps are small, so the geometry's minimum of columns is lowered to 0, and strided shapes are kept from
    /// the padded copy (`padsInput: false`), to reach the implicit path.
    @Test(arguments: (0..<36).map(Case.init))
    func implicitConvolutionMatchesTheReference(_ test: Case) throws {
        var random = SplitMix64(seed: test.seed * 7919 + 3)
        let kernel = [1, 3, 7][test.seed % 3]
        let stride = 1 + test.seed / 3 % 2
        let dilation = kernel == 3 && test.seed % 4 == 2 ? 2 : 1
        var pads = (0..<4).map { _ in Int(random.next() % UInt64(kernel / 2 + 2)) }
        // An unpadded 1x1 kernel is a plain or subsampled matrix, never implicit: pad one side.
        if kernel == 1, pads.allSatisfy({ $0 == 0 }) { pads[test.seed % 4] = 1 }
        let batch = 1 + test.seed % 3
        let channels = 1 + 2 * Int(random.next() % 4), filters = 1 + Int(random.next() % 45)
        let height = 9 + Int(random.next() % 8), width = 7 + Int(random.next() % 42)
        let window = try WindowAttributes(strides: [stride, stride], dilations: [dilation, dilation], pads: pads)
            .resolve(spatial: [height, width], kernel: [kernel, kernel])
        let geometry = ConvolutionGeometry(batch: batch, inputChannels: channels, outputChannels: filters, group: 1,
                                           inputSpatial: [height, width], window: window, implicitMinimumColumns: 0, padsInput: false)
        try #require(geometry.readsImplicitColumns(packed: true), "\(geometry)")
        #expect(geometry.packedWorkspaceElements == 0)
        let skip = Skip.allCases[test.seed / 6 % 3]
        let x = random.floats(geometry.batch * channels * height * width)
        let w = random.floats(filters * geometry.columnRows)
        let count = geometry.batch * filters * geometry.outputPlane
        let convolution = Convolution(
            geometry: geometry, x: x, w: w, bias: test.seed % 5 < 3 ? random.floats(filters) : nil, skip: skip,
            residual: skip == .none ? nil : random.floats(count, in: -2...2),
            activation: FusedGEMMKernelTests.activations[test.seed / 2 % 3])
        let expected = convolution.expected
        for instructionSet in InstructionSet.supported {
            for pool in FusedGEMMKernelTests.pools() {
                let actual = convolution.run(instructionSet, pool: pool)
                let label = "\(instructionSet), \(pool.threads) threads, batch \(geometry.batch) \(channels)x\(height)x\(width), "
                    + "\(kernel)x\(kernel) stride \(stride) dilation \(dilation) pads \(window.padsBegin + window.padsEnd), "
                    + "\(filters) filters, \(skip), bias \(convolution.bias != nil), \(convolution.activation)"
                expectClose(actual, expected, rtol: 1e-5, atol: FusedGEMMKernelTests.tolerance(k: geometry.columnRows),
                            Comment(rawValue: label))
            }
        }
    }

    /// Filters past 1 MiB for a thread (128 filters of 256 channels by 3x3, 1.1 MiB packed): the column product
    /// takes several blocks of 48 columns per pass (`resin_column_blocks_per_pass`), so 324 columns (four images
    /// of 9x9, each ending inside a register) make, on one thread, a pass of four blocks and one of three, the
    /// last one partial.
    @Test func filtersPastTheCacheServeSeveralBlocksPerPass() throws {
        var random = SplitMix64(seed: 324)
        let window = try WindowAttributes(pads: [1, 1, 1, 1]).resolve(spatial: [9, 9], kernel: [3, 3])
        let geometry = ConvolutionGeometry(batch: 4, inputChannels: 256, outputChannels: 128, group: 1, inputSpatial: [9, 9],
                                           window: window, implicitMinimumColumns: 0)
        try #require(geometry.readsImplicitColumns(packed: true))
        try #require(PackedFilters.floats(filters: 128, inner: geometry.columnRows) * 4 > 1 << 20)
        let convolution = Convolution(
            geometry: geometry, x: random.floats(4 * 256 * 81), w: random.floats(128 * geometry.columnRows), bias: random.floats(128),
            skip: .inPlace, residual: random.floats(4 * 128 * 81, in: -2...2), activation: .relu)
        let expected = convolution.expected
        for instructionSet in InstructionSet.supported {
            for pool in FusedGEMMKernelTests.pools() {
                expectClose(convolution.run(instructionSet, pool: pool), expected, rtol: 1e-5,
                            atol: FusedGEMMKernelTests.tolerance(k: geometry.columnRows),
                            Comment(rawValue: "\(instructionSet), \(pool.threads) threads"))
            }
        }
    }

    /// Output planes smaller than a register (2x3, 1x1, 3x5): a register's lanes span several images, each
    /// stored at its own image's place; called through the kernel table with few columns, which an implicit B
    /// still runs on the column tile.
    @Test(arguments: [(2, 3, 23), (1, 1, 40), (3, 5, 11)])
    func tinyImagesShareRegisters(height: Int, width: Int, images: Int) throws {
        var random = SplitMix64(seed: height * 100 + width * 10 + images)
        let window = try WindowAttributes(pads: [1, 1, 1, 1]).resolve(spatial: [height, width], kernel: [3, 3])
        let geometry = ConvolutionGeometry(batch: images, inputChannels: 5, outputChannels: 37, group: 1,
                                           inputSpatial: [height, width], window: window)
        let x = random.floats(images * 5 * height * width), w = random.floats(37 * geometry.columnRows)
        let convolution = Convolution(geometry: geometry, x: x, w: w, bias: random.floats(37), skip: .separate,
                                      residual: random.floats(images * 37 * geometry.outputPlane), activation: .relu)
        let packed = w.withUnsafeBufferPointer { PackedFilters.pack($0.baseAddress!, filters: 37, inner: geometry.columnRows) }
        let expected = convolution.expected
        for instructionSet in InstructionSet.supported {
            var output = [Float](repeating: .nan, count: convolution.count)
            var gather = resin_gemm_gather(
                input: nil, channels: 5, input_height: height, input_width: width, output_height: geometry.outputSpatial[0],
                output_width: geometry.outputSpatial[1], kernel_height: 3, kernel_width: 3, stride_height: 1, stride_width: 1,
                dilation_height: 1, dilation_width: 1, pad_top: 1, pad_left: 1, input_image_stride: 5 * height * width,
                output_image_stride: 37 * geometry.outputPlane, padded_direct: 0)
            x.withUnsafeBufferPointer { x in
                gather.input = x.baseAddress
                packed.withUnsafeBufferPointer { packed in
                    convolution.bias!.withUnsafeBufferPointer { bias in
                        convolution.residual!.withUnsafeBufferPointer { residual in
                            output.withUnsafeMutableBufferPointer { y in
                                withUnsafePointer(to: gather) { gather in
                                    let problem = resin_gemm_problem(
                                        m: 37, n: images * geometry.outputPlane, k: geometry.columnRows, packed: packed.baseAddress!, b: nil,
                                        ldb: 0, c: y.baseAddress!, ldc: geometry.outputPlane,
                                        epilogue: resin_gemm_epilogue(bias: bias.baseAddress, skip: residual.baseAddress, min: 0, max: .infinity),
                                        gather: gather)
                                    instructionSet.fusedGEMM([problem], panels: 0..<2, columns: 0..<problem.n)
                                }
                            }
                        }
                    }
                }
            }
            expectClose(output, expected, rtol: 1e-5, atol: FusedGEMMKernelTests.tolerance(k: geometry.columnRows),
                        Comment(rawValue: "\(instructionSet), \(images) images of \(height)x\(width)"))
        }
    }

    /// The choice depends on shapes only, per image: ResNet-50's stem reads implicit columns (no workspace)
    /// where it does not run directly, its 3x3 strided convolutions a padded copy of each image, its 7x7-map 3x3
    /// convolution keeps im2col (49 columns) at batch 1 and at batch 8 alike, and a pointwise convolution never
    /// joins.
    @Test func choiceFollowsShapesAndBatch() throws {
        func geometry(batch: Int, channels: Int, side: Int, kernel: Int, stride: Int, pad: Int) throws -> ConvolutionGeometry {
            let window = try WindowAttributes(strides: [stride, stride], pads: [pad, pad, pad, pad])
                .resolve(spatial: [side, side], kernel: [kernel, kernel])
            return ConvolutionGeometry(batch: batch, inputChannels: channels, outputChannels: 64, group: 1, inputSpatial: [side, side],
                                       window: window)
        }
        let stem = try geometry(batch: 1, channels: 3, side: 224, kernel: 7, stride: 2, pad: 3)
        #expect(stem.readsImplicitColumns(packed: true) && stem.packedWorkspaceElements == 0)
        #expect(stem.workspaceElements > 0, "without packed filters the im2col path still needs its workspace")
        #expect(!stem.readsImplicitColumns(packed: false))
        // A 1x1 stride-2 convolution is a subsample then a pointwise product (StridedConvolutionTests).
        let downsample = try geometry(batch: 1, channels: 256, side: 56, kernel: 1, stride: 2, pad: 0)
        #expect(!downsample.readsImplicitColumns(packed: true))
        let small = try geometry(batch: 1, channels: 512, side: 7, kernel: 3, stride: 1, pad: 1)
        #expect(!small.readsImplicitColumns(packed: true) && small.packedWorkspaceElements == small.workspaceElements)
        let batched = try geometry(batch: 8, channels: 512, side: 7, kernel: 3, stride: 1, pad: 1)
        #expect(!batched.readsImplicitColumns(packed: true) && batched.packedWorkspaceElements == small.workspaceElements)
        // Stride-2 3x3 convolutions with rows of at least 14 outputs read a padded copy of each image instead.
        for (batch, channels, side) in [(1, 128, 56), (8, 128, 56), (1, 256, 28)] {
            let padded = try geometry(batch: batch, channels: channels, side: side, kernel: 3, stride: 2, pad: 1)
            #expect(padded.readsPaddedInput && !padded.readsImplicitColumns(packed: true))
            #expect(padded.packedWorkspaceElements == channels * (side + 1) * (side + 1), "one image, padded above and left only")
        }
        #expect(!(try geometry(batch: 1, channels: 512, side: 14, kernel: 3, stride: 2, pad: 1)).readsPaddedInput, "7 outputs a row")
        #expect(!(try geometry(batch: 1, channels: 256, side: 56, kernel: 1, stride: 1, pad: 0)).implicitColumns)
        #expect(!(try geometry(batch: 8, channels: 256, side: 56, kernel: 1, stride: 1, pad: 0)).implicitColumns)
        #expect(!(try geometry(batch: 2, channels: 256, side: 14, kernel: 1, stride: 1, pad: 0)).implicitColumns)
    }
}
