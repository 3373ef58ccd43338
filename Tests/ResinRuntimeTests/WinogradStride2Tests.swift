import Foundation
import ResinIR
import Testing
import TestSupport
@testable import ResinRuntime

/// The stride-2 Winograd F(2x2, 3x3) against the double-precision direct convolution, and the cost model that
/// chooses it over direct convolution from the shapes and batch alone.
@Suite struct WinogradStride2Tests {
    /// Seeded shapes: odd and even maps (partial tiles, inputs ending inside a tile or past it), asymmetric
    /// pads, channel and filter counts not multiples of 32, batch 1 to 3, bias or none, no residual, a
    /// separate one or one in place, none/relu/clip; filters small enough for the fused schedule and (seeds
    /// from 8, 16 x 136 x 136 x 4 bytes > 1 MiB) large enough for the phased one, in one band or several;
    /// under every instruction set the processor runs, on 1, 2 and 3 threads.
    @Test(arguments: 0..<16)
    func stride2MatchesTheReference(_ seed: Int) throws {
        var random = SplitMix64(seed: seed * 104_729 + 2)
        let phased = seed >= 8
        let channels = phased ? 136 + Int(random.next() % 9) : 16 + Int(random.next() % 40)
        let filters = phased ? 136 + Int(random.next() % 9) : 32 + Int(random.next() % 60)
        let height = 7 + Int(random.next() % 24), width = 7 + Int(random.next() % 24)
        let pads = (0..<4).map { _ in Int(random.next() % 2) }
        let batch = 1 + seed % 3
        let residual = seed % 3  // 0 none, 1 separate, 2 in place
        let activation: FusedActivation = [.none, .relu, .clip(min: -0.5, max: 0.75)][(seed / 3) % 3]
        let hasBias = seed % 4 != 3
        let window = try WindowAttributes(strides: [2, 2], pads: pads).resolve(spatial: [height, width], kernel: [3, 3])
        let bandLimit = seed % 2 == 0 ? ConvolutionGeometry.winogradWorkspaceLimit : 25 * (channels + filters) * 8
        let geometry = ConvolutionGeometry(batch: batch, inputChannels: channels, outputChannels: filters, group: 1,
                                           inputSpatial: [height, width], window: window, winograd: .whenEligibleStride2,
                                           winogradWorkspaceLimit: bandLimit)
        try #require(geometry.winogradTile == 2 && geometry.winogradStride == 2)
        let schedule = WinogradSchedule(geometry: geometry, packed: true)
        #expect((schedule.blockTileRows == 0) == phased, "fused or phased as the filters' size says")
        let convolution = WinogradCase(geometry: geometry, random: &random, hasBias: hasBias, residual: residual, activation: activation)
        let transforms = Kernels.winogradStride2PackedWeights(convolution.weight, filters: filters, channels: channels)
        // Every transform coefficient is 0 or 1: the rounding is direct convolution's, sums of up to 1305 products
        // of values in [-1, 1] (about 12 in size).
        convolution.expectMatches(transforms: transforms, atol: 2e-4)
    }

    /// The 16 distinct transformed filters are `G' g G'^T` with `G'` picking g0, g0 + g2, g2 and g1: checked
    /// entry by entry on one filter whose taps are powers of two, so every sum is exact.
    @Test func filterTransformPicksTheTaps() {
        let g: [Float] = (0..<9).map { Float(1 << $0) }
        let u = Kernels.winogradStride2Weights(g, filters: 1, channels: 1)
        let rows: [[Int]] = [[0], [0, 2], [2], [1]]
        for i in 0..<4 {
            for j in 0..<4 {
                let expected = rows[i].flatMap { r in rows[j].map { c in g[r * 3 + c] } }.reduce(0, +)
                #expect(u[i * 4 + j] == expected, "position (\(i), \(j))")
            }
        }
        // Filters with 1, 2 or 4 runs, laid out in order over the 25.
        let runs = (0..<16).map { Kernels.runs(ofFilter: $0) }
        #expect(runs.map(\.count) == [1, 1, 1, 2, 1, 1, 1, 2, 1, 1, 1, 2, 2, 2, 2, 4])
        #expect(zip(runs, runs.dropFirst()).allSatisfy { $0.first + $0.count == $1.first } && runs.last.map { $0.first + $0.count } == 25)
    }

    /// The cost model on ResNet-50's three stride-2 3x3 convolutions: the stride-2 F(2x2) on the 56x56 and 28x28
    /// inputs (1 and 4 MiB of transforms), direct on 14x14 (16 MiB of transforms for 16 tiles); a stride-1 or
    /// grouped shape never, nor fewer filters than a panel.
    @Test func costModelChoosesByShapes() throws {
        func stride(_ channels: Int, _ size: Int, filters: Int? = nil, batch: Int = 1, strides: [Int] = [2, 2], group: Int = 1) throws -> Int {
            let window = try WindowAttributes(strides: strides, pads: [1, 1, 1, 1]).resolve(spatial: [size, size], kernel: [3, 3])
            let geometry = ConvolutionGeometry(batch: batch, inputChannels: channels, outputChannels: filters ?? channels, group: group,
                                               inputSpatial: [size, size], window: window, winograd: .whenFaster)
            return geometry.usesWinograd ? geometry.winogradStride : 0
        }
        #expect(try stride(128, 56) == 2)
        #expect(try stride(256, 28) == 2)
        #expect(try stride(512, 14) == 0)
        #expect(try stride(512, 14, batch: 8) == 0)
        #expect(try stride(64, 56, filters: 128) == 2)  // ResNet-18's first downsampling 3x3
        #expect(try stride(64, 56, strides: [1, 1]) == 1)
        #expect(try stride(128, 56, group: 32) == 0)
        #expect(try stride(64, 56, filters: 16) == 0)
        // A file's stride-2 choice is not taken for a stride-1 shape.
        let window = try WindowAttributes(pads: [1, 1, 1, 1]).resolve(spatial: [28, 28], kernel: [3, 3])
        #expect(!ConvolutionGeometry(batch: 1, inputChannels: 64, outputChannels: 64, group: 1, inputSpatial: [28, 28], window: window,
                                     winograd: .whenEligibleStride2).usesWinograd)
    }
}
