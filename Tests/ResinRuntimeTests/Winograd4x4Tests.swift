import Foundation
import ResinIR
import Testing
import TestSupport
@testable import ResinRuntime

/// Winograd F(4x4, 3x3) and F(2x2, 3x3) against the double-precision direct convolution, and the cost model
/// that chooses between them and im2col from the shapes and batch alone.
@Suite struct Winograd4x4Tests {
    struct Case: Sendable, CustomTestStringConvertible {
        var seed: Int
        var tile: Int
        var testDescription: String { "F(\(tile)x\(tile)) seed \(seed)" }
    }

    static let cases: [Case] = (0..<12).flatMap { seed in [Case(seed: seed, tile: 4), Case(seed: seed, tile: 2)] }

    /// Seeded shapes: odd and even maps (partial tiles), asymmetric pads, channel counts not multiples of 32,
    /// batch 1 to 3, small bands, bias or none, no residual, a separate one or one in place, none/relu/clip;
    /// under every instruction set the processor runs, on 1, 2 and 3 threads.
    @Test(arguments: cases)
    func winogradMatchesTheReference(_ test: Case) throws {
        var random = SplitMix64(seed: test.seed * 7919 + test.tile)
        let channels = 16 + Int(random.next() % 40)
        let filters = 16 + Int(random.next() % 60)
        // At least 6 rows and columns, so every output is at least a 4x4 tile whatever the pads.
        let height = 6 + Int(random.next() % 13), width = 6 + Int(random.next() % 13)
        let pads = (0..<4).map { _ in Int(random.next() % 2) }
        let batch = 1 + test.seed % 3
        let residual = test.seed % 3  // 0 none, 1 separate, 2 in place
        let activation: FusedActivation = [.none, .relu, .clip(min: -0.5, max: 0.75)][(test.seed / 3) % 3]
        let hasBias = test.seed % 4 != 3
        let window = try WindowAttributes(pads: pads).resolve(spatial: [height, width], kernel: [3, 3])
        try #require(window.outputSizes.allSatisfy { $0 >= 4 })
        let bandLimit = test.seed % 2 == 0 ? ConvolutionGeometry.winogradWorkspaceLimit : 4096
        let geometry = ConvolutionGeometry(batch: batch, inputChannels: channels, outputChannels: filters, group: 1,
                                           inputSpatial: [height, width], window: window,
                                           winograd: test.tile == 4 ? .whenEligible4x4 : .whenEligible, winogradWorkspaceLimit: bandLimit)
        try #require(geometry.winogradTile == test.tile)
        let convolution = WinogradCase(geometry: geometry, random: &random, hasBias: hasBias, residual: residual, activation: activation)
        let w = convolution.weight
        let transforms: [Float]
        if test.tile == 4 {
            transforms = Kernels.winograd4x4PackedWeights(w, filters: filters, channels: channels)
        } else {
            transforms = Kernels.winogradWeights(w, filters: filters, channels: channels).withUnsafeBufferPointer {
                PackedFilters.packWinograd($0.baseAddress!, filters: filters, channels: channels)
            }
        }
        // F(4x4)'s transforms combine up to 36 products with weights up to 25 (B^T's 5s and 4s times G's), so
        // its float rounding is a few times F(2x2)'s: about 1.5e-4 at 55 channels.
        convolution.expectMatches(transforms: transforms, atol: test.tile == 4 ? 4e-4 : 1e-4)
    }

    /// F(4x4) on a ResNet-sized layer (64 channels, 56x56) stays close to the reference: the transforms'
    /// rounding grows with the channel count.
    @Test func resNetStageOneStaysAccurate() throws {
        var random = SplitMix64(seed: 56)
        let window = try WindowAttributes(pads: [1, 1, 1, 1]).resolve(spatial: [56, 56], kernel: [3, 3])
        let geometry = ConvolutionGeometry(batch: 1, inputChannels: 64, outputChannels: 64, group: 1, inputSpatial: [56, 56],
                                           window: window, winograd: .whenFaster)
        try #require(geometry.winogradTile == 4)
        let x = random.floats(64 * 56 * 56), w = random.floats(64 * 64 * 9)
        var reference = [Float](repeating: 0, count: 64 * 56 * 56)
        Kernels.referenceConvolution(input: x, weight: w, bias: nil, output: &reference, geometry: geometry)
        let transforms = Kernels.winograd4x4PackedWeights(w, filters: 64, channels: 64)
        var workspace = [Float](repeating: .nan, count: geometry.workspaceElements)
        for instructionSet in InstructionSet.supported {
            var output = [Float](repeating: .nan, count: reference.count)
            Kernels.convolution(input: x, weight: w, output: &output, geometry: geometry, epilogue: ConvolutionEpilogue(),
                                workspace: &workspace, pool: WorkerPool(threads: 2), packedTransformedWeight: transforms,
                                instructionSet: instructionSet)
            // Sums of 576 products of values in [-1, 1] (about 8 in size); F(4x4)'s rounding measured at 2.6e-4.
            expectClose(output, reference, rtol: 1e-4, atol: 5e-4, "\(instructionSet)")
        }
    }

    /// The cost model on ResNet-50's 3x3 stride-1 layers: F(4x4) on the 56x56 and 28x28 stages, F(2x2) on
    /// 14x14 (F(4x4)'s filters cost more to read than the multiplies it saves), and im2col on 7x7 (cropped
    /// tiles, large filters). Batch 8 changes neither: transforms past the fused schedule's limit are read once
    /// per image (`WinogradPlan.filterPasses`), so F(4x4)'s 9.4 MB at 14x14 and 38 MB at 7x7 stay dear.
    @Test func costModelChoosesByShapesAndBatch() throws {
        func tile(_ channels: Int, _ size: Int, batch: Int = 1) throws -> Int {
            let window = try WindowAttributes(pads: [1, 1, 1, 1]).resolve(spatial: [size, size], kernel: [3, 3])
            return ConvolutionGeometry(batch: batch, inputChannels: channels, outputChannels: channels, group: 1, inputSpatial: [size, size],
                                       window: window, winograd: .whenFaster).winogradTile
        }
        #expect(try tile(64, 56) == 4)
        #expect(try tile(128, 28) == 4)
        #expect(try tile(256, 14) == 2)
        #expect(try tile(256, 14, batch: 8) == 2)
        #expect(try tile(512, 7) == 0)
        #expect(try tile(512, 7, batch: 8) == 0)
        // Not eligible: fewer than 16 channels, or an output narrower than a tile.
        #expect(try tile(8, 56) == 0)
        #expect(try tile(64, 3) == 0)
        // Fewer filters than a panel of the packed kernel: not F(4x4).
        #expect(try tile(16, 56) != 4)
    }

    /// A file's choice (F(4x4) transforms stored) is kept even where the cost model would pick im2col, and
    /// the workspace is sized for its 36 positions.
    @Test func aStoredF4x4ChoiceIsKept() throws {
        let window = try WindowAttributes(pads: [1, 1, 1, 1]).resolve(spatial: [7, 7], kernel: [3, 3])
        let stored = ConvolutionGeometry(batch: 1, inputChannels: 512, outputChannels: 512, group: 1, inputSpatial: [7, 7],
                                         window: window, winograd: .whenEligible4x4)
        #expect(stored.winogradTile == 4)
        #expect(stored.workspaceElements == 36 * 1024 * stored.winogradBandTileRows * stored.winogradTileColumns)
        #expect(!ConvolutionGeometry(batch: 1, inputChannels: 512, outputChannels: 512, group: 1, inputSpatial: [7, 7],
                                     window: window, winograd: .whenFaster).usesWinograd)
    }
}
