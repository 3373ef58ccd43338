import CAllocationCounter
import ResinIR
import Testing
import TestSupport
@testable import ResinRuntime

/// Convolutions of few input channels with a wide kernel and stride 2 (ResNet's stem), which run on the direct
/// kernels (`direct_conv_*.c`) on their packed filters, under every instruction set this processor runs and on
/// 1, 2 and 3 threads, against `Kernels.referenceConvolution` followed by the epilogue.
@Suite struct DirectConvolutionTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var seed: Int
        var testDescription: String { "seed \(seed)" }
    }

    /// Seeded convolutions: 3 and 4 input channels, 7x7 and 5x5 kernels, stride 2, pads 0 to 3 (asymmetric
    /// too), odd input sizes and widths leaving every remainder of the 16- and 8-float vectors, filter counts
    /// that are not whole tiles or panels, batch 1 and 2, every residual kind and activation.
    @Test(arguments: (0..<12).map(Case.init))
    func directConvolutionMatchesTheReference(_ test: Case) throws {
        var random = SplitMix64(seed: test.seed * 7717 + 11)
        let channels = 3 + test.seed % 2
        let kernel = [7, 5][test.seed / 2 % 2]
        let batch = 1 + test.seed / 4 % 2
        let pads = (0..<4).map { _ in Int(random.next() % 4) }
        let height = 9 + Int(random.next() % 12), width = 9 + Int(random.next() % 40)
        let filters = [64, 37, 5, 33][test.seed % 4]
        let window = try WindowAttributes(strides: [2, 2], pads: pads).resolve(spatial: [height, width], kernel: [kernel, kernel])
        let geometry = ConvolutionGeometry(batch: batch, inputChannels: channels, outputChannels: filters, group: 1,
                                           inputSpatial: [height, width], window: window)
        try #require(geometry.runsDirectly, "\(geometry)")
        #expect(geometry.packedWorkspaceElements == 0)
        let skip = ImplicitGEMMTests.Skip.allCases[test.seed % 3]
        let count = batch * filters * geometry.outputPlane
        let convolution = ImplicitGEMMTests.Convolution(
            geometry: geometry, x: random.floats(batch * channels * height * width), w: random.floats(filters * geometry.columnRows),
            bias: test.seed % 5 < 3 ? random.floats(filters) : nil, skip: skip,
            residual: skip == .none ? nil : random.floats(count, in: -2...2),
            activation: FusedGEMMKernelTests.activations[test.seed / 3 % 3])
        let expected = convolution.expected
        for instructionSet in InstructionSet.supported {
            for pool in FusedGEMMKernelTests.pools() {
                let actual = convolution.run(instructionSet, pool: pool)
                let label = "\(instructionSet), \(pool.threads) threads, batch \(batch) \(channels)x\(height)x\(width), "
                    + "\(kernel)x\(kernel) pads \(window.padsBegin + window.padsEnd), \(filters) filters, \(skip), "
                    + "bias \(convolution.bias != nil), \(convolution.activation)"
                expectClose(actual, expected, rtol: 1e-5, atol: FusedGEMMKernelTests.tolerance(k: geometry.columnRows),
                            Comment(rawValue: label))
            }
        }
    }

    /// A run allocates nothing on any thread: the band buffer and tap offsets live on the kernel's stack.
    @Test(.enabled(if: resin_allocation_counting_available() != 0, "a sanitizer's runtime owns malloc: nothing is counted"))
    func allocatesNothing() throws {
        var random = SplitMix64(seed: 5)
        let window = try WindowAttributes(strides: [2, 2], pads: [3, 3, 3, 3]).resolve(spatial: [30, 30], kernel: [7, 7])
        let geometry = ConvolutionGeometry(batch: 2, inputChannels: 3, outputChannels: 40, group: 1, inputSpatial: [30, 30],
                                           window: window)
        try #require(geometry.runsDirectly)
        let x = random.floats(2 * 3 * 30 * 30), w = random.floats(40 * geometry.columnRows), bias = random.floats(40)
        let packed = w.withUnsafeBufferPointer { PackedFilters.pack($0.baseAddress!, filters: 40, inner: geometry.columnRows) }
        let input = UnsafeMutablePointer<Float>.allocate(capacity: x.count)
        let filters = UnsafeMutablePointer<Float>.allocate(capacity: packed.count)
        let biases = UnsafeMutablePointer<Float>.allocate(capacity: 40)
        let y = UnsafeMutablePointer<Float>.allocate(capacity: 2 * 40 * geometry.outputPlane)
        defer { input.deallocate(); filters.deallocate(); biases.deallocate(); y.deallocate() }
        input.initialize(from: x, count: x.count)
        filters.initialize(from: packed, count: packed.count)
        biases.initialize(from: bias, count: 40)
        // Threads started inside the group are counted with the test's own.
        resin_allocation_group_join()
        defer { resin_allocation_group_leave() }
        let pool = WorkerPool(threads: 2)
        let epilogue = ConvolutionEpilogue(bias: biases, activation: .relu)
        for instructionSet in InstructionSet.supported {
            let run = {
                Kernels.convolution(input: input, weight: filters, output: y, geometry: geometry, epilogue: epilogue, workspace: nil,
                                    pool: pool, packedWeight: filters, instructionSet: instructionSet)
            }
            run()
            resin_allocation_counting_begin()
            run()
            let allocations = resin_allocation_counting_end()
            #expect(allocations == 0, "\(instructionSet) allocated \(allocations) times")
        }
    }

    /// The choice depends on shapes alone: ResNet's stem runs directly whatever the batch; its 3x3 stride-2
    /// convolutions (too many taps), 1x1 downsamples (a kernel 1 wide), stride-1, grouped and dilated
    /// convolutions do not.
    @Test func choiceFollowsShapes() throws {
        func geometry(batch: Int = 1, channels: Int, side: Int, kernel: Int, stride: Int, pad: Int, group: Int = 1,
                      dilation: Int = 1) throws -> ConvolutionGeometry {
            let window = try WindowAttributes(strides: [stride, stride], dilations: [dilation, dilation], pads: [pad, pad, pad, pad])
                .resolve(spatial: [side, side], kernel: [kernel, kernel])
            return ConvolutionGeometry(batch: batch, inputChannels: channels, outputChannels: 64, group: group,
                                       inputSpatial: [side, side], window: window)
        }
        #expect(try geometry(channels: 3, side: 224, kernel: 7, stride: 2, pad: 3).runsDirectly)
        #expect(try geometry(batch: 8, channels: 3, side: 224, kernel: 7, stride: 2, pad: 3).runsDirectly)
        #expect(!(try geometry(channels: 128, side: 56, kernel: 3, stride: 2, pad: 1)).runsDirectly)
        #expect(!(try geometry(channels: 3, side: 56, kernel: 1, stride: 2, pad: 0)).runsDirectly)
        #expect(!(try geometry(channels: 3, side: 224, kernel: 7, stride: 1, pad: 3)).runsDirectly)
        #expect(!(try geometry(channels: 4, side: 56, kernel: 7, stride: 2, pad: 3, group: 2)).runsDirectly)
        #expect(!(try geometry(channels: 3, side: 56, kernel: 5, stride: 2, pad: 3, dilation: 2)).runsDirectly)
    }
}
