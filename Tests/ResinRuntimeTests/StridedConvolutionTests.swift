import CResinKernels
import ResinIR
import Testing
import TestSupport
@testable import ResinRuntime

/// Stride-2 convolutions (ResNet's 3x3 and 1x1 downsampling, the 7x7 stem) on packed filters, on whichever
/// path their shapes choose (im2col bands written by the kernels' copy, or implicit columns), under every
/// instruction set this processor runs and on 1, 2 and 3 threads, against `Kernels.referenceConvolution`
/// followed by the epilogue; and the kernels' im2col band against a plain loop.
@Suite struct StridedConvolutionTests {
    typealias Case = ImplicitGEMMTests.Case
    typealias Skip = FusedGEMMKernelTests.Skip

    /// Floats past the planned workspace that must stay untouched.
    static let guardFloats = 64

    /// Seeded stride-2 convolutions: kernels 1, 3 and 7, odd and even input sizes (so the last row and column
    /// phase differs), asymmetric pads (and none, where a 1x1 convolution only subsamples), odd channel counts,
    /// partial panels, batch 1 to 3, planes on both sides of the 256-column switch between the two tiles,
    /// bands of a few rows (a lowered workspace limit), every residual and activation. The workspace is the
    /// planned size followed by a guard that must keep its values.
    @Test(arguments: (0..<24).map(Case.init))
    func stridedConvolutionMatchesTheReference(_ test: Case) throws {
        var random = SplitMix64(seed: test.seed * 4099 + 11)
        let kernel = [1, 3, 1, 3, 7, 3][test.seed % 6]
        let padded = kernel > 1 || test.seed % 4 == 2
        let pads = (0..<4).map { _ in padded ? Int(random.next() % UInt64(kernel / 2 + 2)) : 0 }
        // Half the 1x1 and 3x3 cases have more than 256 output positions per image (the column tile), half fewer;
        // those keep to 2 images and 3 channels so that the debug reference stays quick.
        let large = test.seed / 2 % 2 == 1 && kernel < 7
        let batch = large ? 1 + test.seed % 2 : 1 + test.seed % 3
        let channels = 1 + 2 * Int(random.next() % (large ? 2 : 4)), filters = 1 + Int(random.next() % 40)
        let height = (large ? 35 : 9) + Int(random.next() % 6), width = (large ? 33 : 8) + Int(random.next() % 7)
        let window = try WindowAttributes(strides: [2, 2], pads: pads).resolve(spatial: [height, width], kernel: [kernel, kernel])
        let limit = test.seed % 5 == 4 ? 3 * channels * kernel * kernel * window.outputSizes[1] : ConvolutionGeometry.workspaceLimit
        let geometry = ConvolutionGeometry(batch: batch, inputChannels: channels, outputChannels: filters, group: 1,
                                           inputSpatial: [height, width], window: window, workspaceLimit: limit)
        let skip = Skip.allCases[test.seed / 3 % 3]
        let hasBias = test.seed % 5 < 3
        Self.checkConvolution(geometry: geometry, skip: skip, hasBias: hasBias, activation: FusedGEMMKernelTests.activations[test.seed / 2 % 3],
                              random: &random)
    }

    /// Runs a convolution of seeded inputs, filters, bias and residual on packed filters, under every set and
    /// on 1 to 3 threads, against `FusedConvolutionKernelTests.reference`, with a guard past the planned workspace.
    static func checkConvolution(geometry: ConvolutionGeometry, skip: Skip, hasBias: Bool, activation: FusedActivation,
                                 random: inout SplitMix64, sourceLocation: SourceLocation = #_sourceLocation) {
        let (batch, channels, filters) = (geometry.batch, geometry.inputChannels, geometry.outputChannels)
        let (height, width) = (geometry.inputSpatial[0], geometry.inputSpatial[1])
        let window = geometry.window
        let x = random.floats(batch * channels * height * width)
        let w = random.floats(filters * geometry.columnRows)
        let count = batch * filters * geometry.outputPlane
        let bias: [Float]? = hasBias ? random.floats(filters) : nil
        let residual: [Float]? = skip == .none ? nil : random.floats(count, in: -2...2)
        let expected = FusedConvolutionKernelTests.reference(x: x, w: w, bias: bias, skip: residual, activation: activation,
                                                             geometry: geometry)
        let packed = w.withUnsafeBufferPointer { PackedFilters.pack($0.baseAddress!, filters: filters, inner: geometry.columnRows) }
        let planned = geometry.packedWorkspaceElements
        for instructionSet in InstructionSet.supported {
            for pool in FusedGEMMKernelTests.pools() {
                var output = skip == .inPlace ? residual! : [Float](repeating: .nan, count: count)
                var workspace = [Float](repeating: 0, count: planned) + [Float](repeating: 12345, count: Self.guardFloats)
                let separate = residual ?? []
                bias.withOptionalPointer { b in
                    separate.withUnsafeBufferPointer { separate in
                        output.withUnsafeMutableBufferPointer { y in
                            workspace.withUnsafeMutableBufferPointer { workspace in
                                let skipPointer = skip.pointer(separate: separate.baseAddress, output: y.baseAddress!)
                                Kernels.convolution(input: x, weight: w, output: y.baseAddress!, geometry: geometry,
                                                    epilogue: ConvolutionEpilogue(bias: b, skip: skipPointer, activation: activation),
                                                    workspace: workspace.baseAddress, pool: pool, packedWeight: packed,
                                                    instructionSet: instructionSet)
                            }
                        }
                    }
                }
                let label = "\(instructionSet), \(pool.threads) threads, batch \(batch) \(channels)x\(height)x\(width), "
                    + "\(window.kernel) stride \(window.strides) pads \(window.padsBegin + window.padsEnd), \(filters) filters, \(skip), "
                    + "bias \(bias != nil), \(activation), band \(geometry.tileRows) of \(geometry.outputSpatial[0]) rows, "
                    + "implicit \(geometry.readsImplicitColumns(packed: true)), padded \(geometry.readsPaddedInput)"
                expectClose(output, expected, rtol: 1e-5, atol: FusedGEMMKernelTests.tolerance(k: geometry.columnRows),
                            Comment(rawValue: label), sourceLocation: sourceLocation)
                let guardKept = workspace[planned...].allSatisfy { $0 == 12345 }
                #expect(guardKept, "wrote past the planned workspace: \(label)", sourceLocation: sourceLocation)
            }
        }
    }

    /// Rows `k` and columns `j` of a band's im2col by the definition: input channel `k / taps` at tap
    /// `k % taps`, output position `j`; 0 in the padding.
    static func im2colReference(x: [Float], geometry: ConvolutionGeometry, rows: Range<Int>, columns: Range<Int>) -> [Float] {
        let window = geometry.window
        let (height, width) = (geometry.inputSpatial[0], geometry.inputSpatial[1])
        var matrix = [Float]()
        for k in rows {
            let channel = k / geometry.kernelVolume, tap = k % geometry.kernelVolume
            let (kh, kw) = (tap / window.kernel[1], tap % window.kernel[1])
            for j in columns {
                let (oh, ow) = (j / geometry.outputSpatial[1], j % geometry.outputSpatial[1])
                let ih = oh * window.strides[0] - window.padsBegin[0] + kh * window.dilations[0]
                let iw = ow * window.strides[1] - window.padsBegin[1] + kw * window.dilations[1]
                let inside = ih >= 0 && ih < height && iw >= 0 && iw < width
                matrix.append(inside ? x[(channel * height + ih) * width + iw] : 0)
            }
        }
        return matrix
    }

    /// The kernels' im2col band (`resin_im2col_fn`) copies exactly: parts of the matrix as threads split it
    /// (a range of rows, starting mid-channel) and bands starting mid output row, strides 1, 2 and 3, widths
    /// leaving every remainder of the 16- and 8-float registers, a row stride wider than the band.
    @Test(arguments: [(1, 1, 0), (1, 2, 0), (3, 2, 1), (3, 1, 1), (7, 2, 3), (3, 3, 2), (2, 2, 0), (5, 2, 2)])
    func im2colBandMatchesThePlainLoop(kernel: Int, stride: Int, pad: Int) throws {
        try Self.checkIm2colBands(height: 13 + kernel, width: 19 + 2 * kernel, kernel: kernel, stride: stride, dilation: 1,
                                  pads: [pad, pad + 1, pad, pad], seed: kernel * 31 + stride * 7 + pad)
    }

    /// Bands whose rows are each a shifted copy of a channel's plane (stride 1, output rows as wide as the
    /// input's: ResNet's 3x3 convolutions on 7x7 maps, which the vector sets copy a register at a time) and
    /// strided or unevenly padded ones near them: maps narrower than a register (a register spans rows),
    /// planes over 256 columns (more than one block of registers), dilation, 5x5 windows, rows padded only
    /// above or below, strided output rows on both sides of a register's 16 (AVX-512 gathers the short ones).
    @Test(arguments: [
        (7, 7, 3, 1, 1, [1, 1, 1, 1]), (14, 14, 3, 2, 1, [1, 1, 1, 1]), (9, 5, 3, 1, 1, [1, 1, 1, 1]),
        (21, 23, 3, 1, 1, [1, 1, 1, 1]), (17, 15, 5, 1, 1, [2, 2, 2, 2]), (12, 11, 3, 1, 2, [2, 2, 2, 2]),
        (10, 13, 3, 1, 1, [0, 1, 2, 1]), (11, 9, 3, 1, 1, [2, 1, 0, 1]), (8, 6, 3, 1, 1, [1, 0, 1, 2]),
        (13, 12, 1, 1, 1, [1, 0, 0, 0]), (20, 18, 3, 2, 2, [2, 2, 2, 2]), (6, 5, 7, 1, 1, [3, 3, 3, 3]),
        (9, 40, 3, 2, 1, [1, 1, 1, 1]), (6, 34, 1, 2, 1, [0, 0, 0, 0]),
    ])
    func im2colBandOfShiftedPlanesMatchesThePlainLoop(height: Int, width: Int, kernel: Int, stride: Int, dilation: Int,
                                                      pads: [Int]) throws {
        try Self.checkIm2colBands(height: height, width: width, kernel: kernel, stride: stride, dilation: dilation, pads: pads,
                                  seed: height * 101 + width * 13 + kernel + dilation * 7)
    }

    /// Every instruction set's im2col band of a 3-channel input against `im2colReference`, for the whole matrix
    /// and two parts of it; the columns past each band row must keep their NaN.
    static func checkIm2colBands(height: Int, width: Int, kernel: Int, stride: Int, dilation: Int, pads: [Int], seed: Int,
                                 sourceLocation: SourceLocation = #_sourceLocation) throws {
        var random = SplitMix64(seed: seed)
        let channels = 3
        let window = try WindowAttributes(strides: [stride, stride], dilations: [dilation, dilation], pads: pads)
            .resolve(spatial: [height, width], kernel: [kernel, kernel])
        let geometry = ConvolutionGeometry(batch: 1, inputChannels: channels, outputChannels: 1, group: 1, inputSpatial: [height, width],
                                           window: window)
        let x = random.floats(channels * height * width)
        let plane = geometry.outputPlane
        let parts = [(0..<geometry.columnRows, 0..<plane), (kernel..<(geometry.columnRows - 1), 3..<(plane - 2)), (1..<2, 0..<1)]
        for instructionSet in InstructionSet.supported {
            for (rows, columns) in parts {
                let rowStride = columns.count + 5
                var matrix = [Float](repeating: .nan, count: rows.count * rowStride)
                x.withUnsafeBufferPointer { x in
                    var gather = Kernels.implicitColumns(of: x.baseAddress!, geometry: geometry)
                    matrix.withUnsafeMutableBufferPointer { matrix in
                        instructionSet.im2col(&gather, columns: columns, rows: rows, into: matrix.baseAddress!, rowStride: rowStride)
                    }
                }
                var written = [Float](), gapsHoldNaN = true
                for row in 0..<rows.count {
                    written += matrix[(row * rowStride)..<(row * rowStride + columns.count)]
                    gapsHoldNaN = gapsHoldNaN && matrix[(row * rowStride + columns.count)..<((row + 1) * rowStride)].allSatisfy { $0.isNaN }
                }
                let label = "\(instructionSet), \(height)x\(width), \(kernel)x\(kernel) stride \(stride) dilation \(dilation) pads \(pads), "
                    + "rows \(rows), columns \(columns)"
                let expected = Self.im2colReference(x: x, geometry: geometry, rows: rows, columns: columns)
                #expect(written == expected, "\(label)", sourceLocation: sourceLocation)
                #expect(gapsHoldNaN, "wrote past the band's columns: \(label)", sourceLocation: sourceLocation)
            }
        }
    }

    /// The routing depends on shapes only: a 1x1 stride-2 convolution without pads is a subsample followed by
    /// a pointwise product (its workspace holds one image's subsampled input), whatever the plane and batch.
    @Test func downsamplingRunsAsSubsampleThenPointwise() throws {
        func geometry(batch: Int, channels: Int, side: Int) throws -> ConvolutionGeometry {
            let window = try WindowAttributes(strides: [2, 2]).resolve(spatial: [side, side], kernel: [1, 1])
            return ConvolutionGeometry(batch: batch, inputChannels: channels, outputChannels: 512, group: 1, inputSpatial: [side, side],
                                       window: window)
        }
        for (channels, side) in [(256, 56), (512, 28), (1024, 14), (64, 56)] {
            let downsample = try geometry(batch: 1, channels: channels, side: side)
            #expect(!downsample.readsImplicitColumns(packed: true))
            #expect(downsample.packedWorkspaceElements == channels * side / 2 * side / 2)
        }
        for (channels, side) in [(1024, 14), (256, 56)] {
            let batched = try geometry(batch: 8, channels: channels, side: side)
            #expect(!batched.readsImplicitColumns(packed: true))
            #expect(batched.packedWorkspaceElements == channels * side / 2 * side / 2)
        }
    }
}
