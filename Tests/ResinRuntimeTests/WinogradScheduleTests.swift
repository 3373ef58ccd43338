import CResinKernels
import ResinIR
import Testing
import TestSupport
@testable import ResinRuntime

/// The two ways a Winograd convolution runs (WinogradSchedule): fused blocks of tile rows over the whole batch,
/// and phased bands of one image; each against the double-precision direct convolution, under every
/// instruction set the processor runs, on 1, 2 and 3 threads.
@Suite struct WinogradScheduleTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var batch: Int, channels: Int, filters: Int, height: Int, width: Int
        var tile: Int
        /// 0 no residual, 1 a separate one, 2 in place.
        var residual: Int
        var fused: Bool
        /// Floats of transformed input and products a band may use (`ConvolutionGeometry.winogradWorkspaceLimit`).
        var bandLimit = ConvolutionGeometry.winogradWorkspaceLimit
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        // 34x26 outputs: 9 tile rows of 7 tiles, blocks of 4 and 5 rows (28 and 35 tiles), the last tile row and
        // column cropped; 40 filters, not a multiple of the product's 8-filter tile; three images in one pass.
        Case(name: "F(4x4) fused, batch 3, odd tiles, in place", batch: 3, channels: 24, filters: 40, height: 34, width: 26,
             tile: 4, residual: 2, fused: true),
        Case(name: "F(4x4) fused, batch 2, separate residual", batch: 2, channels: 32, filters: 36, height: 21, width: 45,
             tile: 4, residual: 1, fused: true),
        Case(name: "F(2x2) fused, batch 2, odd tiles", batch: 2, channels: 20, filters: 33, height: 15, width: 17,
             tile: 2, residual: 0, fused: true),
        // ResNet's 56x56 map: 14 tile rows of 14 tiles, at most 3 rows a block, 6 blocks (not 5) of 2, 2, 3, 2, 2, 3.
        Case(name: "F(4x4) fused, 56x56, uneven blocks", batch: 1, channels: 16, filters: 20, height: 56, width: 56,
             tile: 4, residual: 2, fused: true),
        // Transformed filters over the fused limit (36 x 160 x 72 floats, 1.7 MB): phased, a band of 4 tile rows;
        // 160 channels run the product in two blocks of channels (128 and 32), 72 filters end in a partial panel.
        Case(name: "F(4x4) phased, batch 2, in place", batch: 2, channels: 160, filters: 72, height: 14, width: 14,
             tile: 4, residual: 2, fused: false),
        // F(2x2) filters over the fused limit (16 x 136 x 130 floats, 1.1 MB): phased, one band of 7 x 7 = 49 tiles,
        // wider than a fused block, so the products run on the packed product's channel-vectorised tile (every
        // set); 130 filters end in a panel of 2.
        Case(name: "F(2x2) phased, 49 tiles, batch 2, separate residual", batch: 2, channels: 136, filters: 130, height: 14,
             width: 14, tile: 2, residual: 1, fused: false),
    ]

    @Test(arguments: cases)
    func scheduleMatchesTheReference(_ test: Case) throws {
        let geometry = try Self.geometry(test)
        let schedule = WinogradSchedule(geometry: geometry, packed: true)
        try #require((schedule.blockTileRows > 0) == test.fused)
        if test.fused {
            // More than one block per image, and a workspace slot for each of up to 3 threads.
            #expect(schedule.blocksPerImage > 1)
            // The blocks cover the image's tile rows in order, each at most `blockTileRows`.
            let blocks = (0..<schedule.blocksPerImage).map { schedule.rows(ofBlock: $0) }
            #expect(blocks.first?.lowerBound == 0 && blocks.last?.upperBound == schedule.tileRows)
            #expect(zip(blocks, blocks.dropFirst()).allSatisfy { $0.upperBound == $1.lowerBound })
            #expect(blocks.allSatisfy { !$0.isEmpty && $0.count <= schedule.blockTileRows })
            #expect(schedule.slots >= min(3, schedule.blocks))
            #expect(schedule.slots * schedule.slotElements <= geometry.workspaceElements)
        }
        let data = Operands(test)
        let reference = data.reference(geometry)
        for instructionSet in InstructionSet.supported {
            for pool in [WorkerPool.serial, WorkerPool(threads: 2), WorkerPool(threads: 3)] {
                let output = data.convolve(geometry, pool: pool, instructionSet: instructionSet).output
                // F(4x4)'s rounding grows with the channels (Winograd4x4Tests: 2.6e-4 at 64), so about the square
                // root of 160 / 64 times that at 160.
                expectClose(output, reference, rtol: 1e-4, atol: test.tile == 2 ? 1e-4 : test.channels > 64 ? 1e-3 : 6e-4,
                            "\(test.name), \(instructionSet), \(pool.threads) threads")
            }
        }
    }

    /// Phased convolutions the schedule split by filters takes (`ConvolutionGeometry.winogradInputCopies`): more
    /// than two panels of filters a thread, bands wider than a fused block.
    static let splitCases: [Case] = [
        // F(2x2) on 26x28: 13 tile rows of 14 tiles in bands of 5, 5 and 3 rows (70, 70 and 42 tiles), so on
        // AVX-512 the last band's products run on the Winograd tile and that band runs in phases; 200 filters in
        // 7 panels, the last of 8.
        Case(name: "F(2x2) split, three bands, batch 2, in place", batch: 2, channels: 136, filters: 200, height: 26, width: 28,
             tile: 2, residual: 2, fused: false, bandLimit: 5 * 16 * (136 + 200) * 14),
        // F(4x4) on 28x28: one band of 7 x 7 = 49 tiles; 96 channels, 200 filters (2.8 MB of transforms).
        Case(name: "F(4x4) split, 49 tiles, separate residual", batch: 1, channels: 96, filters: 200, height: 28, width: 28,
             tile: 4, residual: 1, fused: false),
    ]

    /// The phased schedule split by filters (`WinogradBand.runFilterShare`), which a pool runs when its cores
    /// are apart: a transformed input per thread planned in the workspace and written by each thread, and one
    /// thread's bits (which match the reference convolution) on 2 and 3 threads, cores apart and close, under
    /// every instruction set the processor runs.
    @Test(arguments: splitCases)
    func splitByFiltersGivesThePhasesBits(_ test: Case) throws {
        let one = try Self.geometry(test)
        try #require(WinogradSchedule(geometry: one, packed: true).blockTileRows == 0 && one.winogradInputCopies == 1)
        let data = Operands(test)
        let reference = data.reference(one)
        let copyElements = one.winogradPositions * test.channels * one.winogradBandTileRows * one.winogradTileColumns
        for instructionSet in InstructionSet.supported {
            let serial = data.convolve(one, pool: .serial, instructionSet: instructionSet).output
            expectClose(serial, reference, rtol: 1e-4, atol: test.tile == 2 ? 1e-4 : 1e-3, "\(test.name), \(instructionSet)")
            for threads in [2, 3] {
                let geometry = try Self.geometry(test, threads: threads)
                #expect(geometry.winogradInputCopies == threads)
                #expect(geometry.workspaceElements == one.winogradPositions * (test.channels * threads + test.filters)
                    * one.winogradBandTileRows * one.winogradTileColumns)
                for apart in [false, true] {
                    let pool = WorkerPool(threads: threads)
                    pool.coresApart = apart
                    let (output, workspace) = data.convolve(geometry, pool: pool, instructionSet: instructionSet)
                    let context = "\(test.name), \(instructionSet), \(threads) threads, cores \(apart ? "apart" : "close")"
                    #expect(output.map(\.bitPattern) == serial.map(\.bitPattern), "\(context)")
                    // The last thread's copy of the transformed input is written only by the split.
                    let lastCopy = workspace[((threads - 1) * copyElements)..<(threads * copyElements)]
                    #expect(lastCopy.contains { !$0.isNaN } == apart, "\(context)")
                }
            }
        }
    }

    static func geometry(_ test: Case, threads: Int = 1) throws -> ConvolutionGeometry {
        let window = try WindowAttributes(pads: [1, 1, 1, 1]).resolve(spatial: [test.height, test.width], kernel: [3, 3])
        let geometry = ConvolutionGeometry(batch: test.batch, inputChannels: test.channels, outputChannels: test.filters, group: 1,
                                           inputSpatial: [test.height, test.width], window: window,
                                           winograd: test.tile == 4 ? .whenEligible4x4 : .whenEligible,
                                           winogradWorkspaceLimit: test.bandLimit, threads: threads)
        try #require(geometry.winogradTile == test.tile)
        return geometry
    }

    /// A case's seeded input, filters, bias and residual, and its packed transforms.
    struct Operands {
        var test: Case
        var x: [Float], w: [Float], bias: [Float], skip: [Float], transforms: [Float]

        init(_ test: Case) {
            self.test = test
            var random = SplitMix64(seed: test.channels * 131 + test.filters)
            x = random.floats(test.batch * test.channels * test.height * test.width)
            w = random.floats(test.filters * test.channels * 9)
            bias = random.floats(test.filters)
            skip = random.floats(test.batch * test.filters * test.height * test.width)
            if test.tile == 4 {
                transforms = Kernels.winograd4x4PackedWeights(w, filters: test.filters, channels: test.channels)
            } else {
                transforms = Kernels.winogradWeights(w, filters: test.filters, channels: test.channels).withUnsafeBufferPointer {
                    PackedFilters.packWinograd($0.baseAddress!, filters: test.filters, channels: test.channels)
                }
            }
        }

        /// Relu of the double-precision direct convolution with bias, plus the residual if any.
        func reference(_ geometry: ConvolutionGeometry) -> [Float] {
            var reference = [Float](repeating: 0, count: skip.count)
            Kernels.referenceConvolution(input: x, weight: w, bias: bias, output: &reference, geometry: geometry)
            for index in reference.indices { reference[index] = max(0, reference[index] + (test.residual == 0 ? 0 : skip[index])) }
            return reference
        }

        /// The convolution with the epilogue on `pool`, and the workspace it ran in (NaN where it wrote nothing).
        func convolve(_ geometry: ConvolutionGeometry, pool: WorkerPool, instructionSet: InstructionSet)
            -> (output: [Float], workspace: [Float]) {
            var workspace = [Float](repeating: .nan, count: geometry.workspaceElements)
            var output = test.residual == 2 ? skip : [Float](repeating: .nan, count: skip.count)
            output.withUnsafeMutableBufferPointer { out in
                bias.withUnsafeBufferPointer { b in
                    skip.withUnsafeBufferPointer { s in
                        let skipPointer: UnsafePointer<Float>? = test.residual == 1 ? s.baseAddress
                            : test.residual == 2 ? UnsafePointer(out.baseAddress) : nil
                        let epilogue = ConvolutionEpilogue(bias: b.baseAddress, skip: skipPointer, activation: .relu)
                        Kernels.convolution(input: x, weight: w, output: out.baseAddress!, geometry: geometry, epilogue: epilogue,
                                            workspace: &workspace, pool: pool, packedTransformedWeight: transforms,
                                            instructionSet: instructionSet)
                    }
                }
            }
            return (output, workspace)
        }
    }

    /// The schedule depends on the shapes and batch alone: ResNet-50's 56x56 layer runs fused in 6 blocks of 2
    /// or 3 tile rows at batch 1 (at most 42 tiles, within the product's 48-tile width; an even count, so two
    /// threads take 7 rows each), the 28x28 and 14x14 layers phased (their transformed filters, 2.4 and 4 MB,
    /// would be read once per block).
    @Test func resNetLayersSchedule() throws {
        func schedule(_ channels: Int, _ size: Int, width: Int? = nil, batch: Int = 1) throws -> WinogradSchedule {
            let spatial = [size, width ?? size]
            let window = try WindowAttributes(pads: [1, 1, 1, 1]).resolve(spatial: spatial, kernel: [3, 3])
            let geometry = ConvolutionGeometry(batch: batch, inputChannels: channels, outputChannels: channels, group: 1,
                                               inputSpatial: spatial, window: window, winograd: .whenFaster)
            return WinogradSchedule(geometry: geometry, packed: true)
        }
        let first = try schedule(64, 56)
        #expect(first.blockTileRows == 3 && first.blocksPerImage == 6 && first.blocks == 6)
        // Slots for the 5 blocks the rows need at least: the sixth, which evens the split, needs none of its own.
        #expect(first.slots == 5)
        #expect((0..<6).map { first.rows(ofBlock: $0).count } == [2, 2, 3, 2, 2, 3])
        // At batch 8 the 40 blocks of the fewest rows are already even.
        #expect(try schedule(64, 56, batch: 8).blocks == 40)
        // Three blocks at batch 1 become four in three slots, still fused; one block stays one.
        let three = try schedule(64, 36, width: 56)
        #expect(three.blockTileRows > 0 && three.blocksPerImage == 4 && three.slots == 3)
        let one = try schedule(64, 12, width: 56)
        #expect(one.blockTileRows > 0 && one.blocksPerImage == 1 && one.slots == 1)
        #expect(try schedule(128, 28).blockTileRows == 0)
        #expect(try schedule(256, 14).blockTileRows == 0)
    }

    /// The Winograd product kernel of every set (the AVX2 and plain C ones included, which convolutions leave to
    /// the packed product) against a double-precision loop: 70 filters (a partial panel and a partial 8-filter tile), 150
    /// channels (a block of 128 and one of 22), 53 tiles (full and partial registers), two positions.
    @Test func productMatchesTheReference() {
        var random = SplitMix64(seed: 53)
        let filters = 70, channels = 150, tiles = 53, positions = 2
        let u = random.floats(positions * filters * channels), v = random.floats(positions * channels * tiles)
        let packed = u.withUnsafeBufferPointer {
            PackedFilters.packWinograd($0.baseAddress!, positions: positions, filters: filters, channels: channels)
        }
        var reference = [Float](repeating: 0, count: positions * filters * tiles)
        for p in 0..<positions {
            for f in 0..<filters {
                for t in 0..<tiles {
                    var sum = 0.0
                    for c in 0..<channels { sum += Double(u[(p * filters + f) * channels + c]) * Double(v[(p * channels + c) * tiles + t]) }
                    reference[(p * filters + f) * tiles + t] = Float(sum)
                }
            }
        }
        var band = resin_winograd_band(channels: channels, filters: filters, height: 0, width: 0, pad_top: 0, pad_left: 0,
                                       out_height: 0, out_width: 0, first_tile_row: 0, tile_rows: 1, tile_columns: tiles,
                                       stream: 0)
        for instructionSet in InstructionSet.supported {
            var products = [Float](repeating: .nan, count: reference.count)
            instructionSet.kernels.pointee.winograd_product(&band, packed, PackedFilters.floats(filters: filters, inner: channels),
                                                            0, positions, v, &products)
            expectClose(products, reference, rtol: 1e-4, atol: 1e-4, "\(instructionSet)")
        }
    }
}
