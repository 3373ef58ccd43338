import CResinKernels
import ResinIR
import Testing
import TestSupport
@testable import ResinRuntime

/// Stride-2 convolutions that copy each image's input with its padding and read the copy in place
/// (`ConvolutionGeometry.readsPaddedInput`; on AVX-512 the channel-vectorised tile of `direct_product`), under
/// every instruction set this processor runs and on 1, 2 and 3 threads, against `Kernels.referenceConvolution`
/// followed by the epilogue (`StridedConvolutionTests.checkConvolution`).
@Suite struct PaddedConvolutionTests {
    typealias Skip = FusedGEMMKernelTests.Skip

    /// One shape: kernel, pads (top, left, bottom, right), channels, input size, filters, batch.
    struct Shape: Sendable, CustomTestStringConvertible {
        var kernel: (Int, Int), pads: [Int], channels: Int, height: Int, width: Int, filters: Int, batch: Int
        var testDescription: String {
            "\(batch)x\(channels)x\(height)x\(width), \(kernel.0)x\(kernel.1) pads \(pads), \(filters) filters"
        }
    }

    /// ResNet's 3x3 (odd and even inputs, so the last window ends on the input's edge or one short); output
    /// rows of 14 (one tile), 17 and 29 (partial tiles at each row's end); 57 channels of 3x3 (513 steps, so
    /// blocks and chunks of the inner dimension start inside a channel's taps); 5x5 and 7x7 (49 taps) with
    /// asymmetric pads; a 2x2 kernel without pads; a 3x1 kernel; partial panels of filters; batches of 2 and 3.
    /// Kernels at least 3 wide have more than 256 taps (channels x kernel), which the direct kernel of few
    /// channels would otherwise take (`runsDirectly`).
    static let shapes: [Shape] = [
        Shape(kernel: (3, 3), pads: [1, 1, 1, 1], channels: 32, height: 28, width: 28, filters: 32, batch: 1),
        Shape(kernel: (3, 3), pads: [1, 1, 1, 1], channels: 30, height: 33, width: 33, filters: 40, batch: 2),
        Shape(kernel: (3, 3), pads: [1, 1, 1, 1], channels: 57, height: 40, width: 58, filters: 37, batch: 1),
        Shape(kernel: (5, 5), pads: [2, 1, 0, 2], channels: 11, height: 21, width: 36, filters: 33, batch: 3),
        Shape(kernel: (7, 7), pads: [3, 2, 3, 3], channels: 6, height: 16, width: 30, filters: 20, batch: 1),
        Shape(kernel: (2, 2), pads: [0, 0, 0, 0], channels: 7, height: 12, width: 58, filters: 65, batch: 2),
        Shape(kernel: (3, 1), pads: [1, 0, 1, 0], channels: 11, height: 15, width: 34, filters: 8, batch: 1),
    ]

    @Test(arguments: shapes.indices)
    func matchesTheReference(_ index: Int) throws {
        let shape = Self.shapes[index]
        var random = SplitMix64(seed: UInt64(7700 + index))
        let window = try WindowAttributes(strides: [2, 2], pads: shape.pads)
            .resolve(spatial: [shape.height, shape.width], kernel: [shape.kernel.0, shape.kernel.1])
        let geometry = ConvolutionGeometry(batch: shape.batch, inputChannels: shape.channels, outputChannels: shape.filters, group: 1,
                                           inputSpatial: [shape.height, shape.width], window: window)
        try #require(geometry.readsPaddedInput, "\(shape.testDescription) must take the padded path")
        // The copy the kernels read: pads 0, every window inside, and (on AVX-512) the channel tile's shape.
        let padded = geometry.paddedInputSpatial
        var gather = resin_gemm_gather(
            input: nil, channels: shape.channels, input_height: padded[0], input_width: padded[1],
            output_height: geometry.outputSpatial[0], output_width: geometry.outputSpatial[1], kernel_height: shape.kernel.0,
            kernel_width: shape.kernel.1, stride_height: 2, stride_width: 2, dilation_height: 1, dilation_width: 1, pad_top: 0,
            pad_left: 0, input_image_stride: 0, output_image_stride: 0, padded_direct: 1)
        #expect(resin_padded_direct_supported(&gather) != 0)
        for (variant, skip) in Skip.allCases.enumerated() {
            StridedConvolutionTests.checkConvolution(
                geometry: geometry, skip: skip, hasBias: variant != 1, activation: FusedGEMMKernelTests.activations[(index + variant) % 3],
                random: &random)
        }
    }

    /// The padded copy by itself: each channel's plane holds the input at the leading pads' offset and zeros
    /// around it, written over a buffer of NaN so that any float left unwritten shows.
    @Test(arguments: [0, 3, 5])
    func copyHoldsTheInputAndZeros(_ index: Int) throws {
        let shape = Self.shapes[index]
        var random = SplitMix64(seed: UInt64(index))
        let window = try WindowAttributes(strides: [2, 2], pads: shape.pads)
            .resolve(spatial: [shape.height, shape.width], kernel: [shape.kernel.0, shape.kernel.1])
        let geometry = ConvolutionGeometry(batch: 1, inputChannels: shape.channels, outputChannels: shape.filters, group: 1,
                                           inputSpatial: [shape.height, shape.width], window: window)
        try #require(geometry.readsPaddedInput)
        let x = random.floats(shape.channels * shape.height * shape.width)
        let size = geometry.paddedInputSpatial
        var expected = [Float](repeating: 0, count: geometry.packedWorkspaceElements)
        for channel in 0..<shape.channels {
            for row in 0..<size[0] {
                for column in 0..<size[1] {
                    let (y, x0) = (row - shape.pads[0], column - shape.pads[1])
                    if y >= 0, y < shape.height, x0 >= 0, x0 < shape.width {
                        expected[(channel * size[0] + row) * size[1] + column] = x[(channel * shape.height + y) * shape.width + x0]
                    }
                }
            }
        }
        for pool in FusedGEMMKernelTests.pools() {
            var copy = [Float](repeating: .nan, count: geometry.packedWorkspaceElements)
            x.withUnsafeBufferPointer { x in
                copy.withUnsafeMutableBufferPointer { Kernels.padInput(x.baseAddress!, geometry: geometry, into: $0.baseAddress!, pool: pool) }
            }
            #expect(copy == expected, "\(shape.testDescription), \(pool.threads) threads")
        }
    }
}
