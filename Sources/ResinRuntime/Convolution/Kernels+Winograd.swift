import CResinKernels

/// Winograd F(2x2, 3x3) (Lavin and Gray, "Fast Algorithms for Convolutional Neural Networks", 2016), and the
/// band driver shared with F(4x4, 3x3) (Kernels+Winograd4x4.swift); the input and output transforms of both
/// are C kernels per instruction set (CResinKernels/winograd_body.h). F(2x2):
/// each 2x2 output tile is `A^T [(G g G^T) . (B^T d B)] A` over a 4x4 input tile d, so a 3x3 filter costs
/// 16 multiplies per tile instead of 36. With the 16 transformed positions as separate matrices, the
/// element-wise products over channels become 16 GEMMs: `M[k] (filters x tiles) = U[k] (filters x channels)
/// x V[k] (channels x tiles)`.
extension Kernels {
    /// Transforms 3x3 filters `[M, C, 3, 3]` to `U = G g G^T`, laid out `[16][M][C]` for the GEMMs.
    /// `G = [[1, 0, 0], [1/2, 1/2, 1/2], [1/2, -1/2, 1/2], [0, 0, 1]]`. Done once, when a session is made.
    public static func winogradWeights(_ weight: UnsafePointer<Float>, filters: Int, channels: Int) -> [Float] {
        [Float](unsafeUninitializedCapacity: 16 * filters * channels) { out, initialized in
            let stride = filters * channels
            for filter in 0..<filters {
                for channel in 0..<channels {
                    let g = weight + (filter * channels + channel) * 9
                    // Rows: t = G g, three columns at a time.
                    let g0 = SIMD4(g[0], g[1], g[2], 0), g1 = SIMD4(g[3], g[4], g[5], 0), g2 = SIMD4(g[6], g[7], g[8], 0)
                    let rows = (g0, 0.5 * (g0 + g1 + g2), 0.5 * (g0 - g1 + g2), g2)
                    // Columns: u = t G^T, written to position (row, column) of the 4x4 transform.
                    let base = out.baseAddress! + filter * channels + channel
                    for row in 0..<4 {
                        let t: SIMD4<Float>
                        switch row {
                        case 0: t = rows.0
                        case 1: t = rows.1
                        case 2: t = rows.2
                        default: t = rows.3
                        }
                        let position = base + row * 4 * stride
                        position[0] = t[0]
                        position[stride] = 0.5 * (t[0] + t[1] + t[2])
                        position[2 * stride] = 0.5 * (t[0] - t[1] + t[2])
                        position[3 * stride] = t[2]
                    }
                }
            }
            initialized = 16 * filters * channels
        }
    }

    /// A Winograd convolution of the whole batch, F(2x2, 3x3), F(4x4, 3x3) or the stride-2 F(2x2, 3x3) as
    /// `geometry.winogradTile` and `winogradStride` say:
    /// writes `activation(conv(input) + bias + skip)` into `output` `[N, M, OH, OW]`, the epilogue applied by
    /// the output transform (no separate pass). When `accumulates`, the output holds the residual and the
    /// convolution is added to it (`skip` is then ignored). `workspace` holds `geometry.workspaceElements` floats.
    ///
    /// `packedTransforms` says `transformedWeight` is packed position by position for Resin's matrix kernel
    /// (`PackedFilters.packWinograd`, run by `instructionSet`'s kernel), else `[16][M][C]` for sgemm; F(4x4)
    /// and stride-2 transforms are always packed.
    ///
    /// Two schedules, chosen by `WinogradSchedule` from the shapes alone (so every thread count gives the same
    /// bits): blocks of tile rows, each transformed, multiplied and transformed back by one task in its own
    /// slot of the workspace, with no barrier between the phases; or bands of one image in three phases
    /// (input transform split by channels, the products by position, the output transform by filters), or,
    /// when the pool's cores are apart, split by filters (`runFilterShare`), with the same bits.
    static func winogradConvolution(
        input: UnsafePointer<Float>, transformedWeight: UnsafePointer<Float>, packedTransforms: Bool = false,
        output: UnsafeMutablePointer<Float>, geometry: ConvolutionGeometry, epilogue: ConvolutionEpilogue = ConvolutionEpilogue(),
        skip: UnsafePointer<Float>? = nil, accumulates: Bool, workspace: UnsafeMutablePointer<Float>, pool: WorkerPool,
        instructionSet: InstructionSet = .active
    ) {
        let tile = geometry.winogradTile
        let (minimum, maximum) = epilogue.activation.bounds
        let packed = packedTransforms || tile == 4 || geometry.winogradStride == 2
        let band = WinogradBand(
            input: input, weights: transformedWeight, packedWeights: packed, instructionSet: instructionSet,
            output: output, geometry: geometry, accumulates: accumulates,
            bias: epilogue.bias, skip: accumulates ? nil : skip, minimum: minimum, maximum: maximum,
            transformedInput: workspace, products: workspace, firstTileRow: 0, tileRows: 0,
            channelTasks: min(geometry.inputChannels, pool.threads * 4), filterTasks: min(geometry.outputChannels, pool.threads * 4),
            runTasks: min(25, pool.threads))
        let schedule = WinogradSchedule(geometry: geometry, packed: packed)
        if schedule.blockTileRows > 0 {
            runBlocks(band, schedule: schedule, workspace: workspace, pool: pool)
            return
        }
        for image in 0..<geometry.batch {
            runPhases(band.image(image), workspace: workspace, pool: pool)
        }
    }

    /// The fused schedule: blocks of up to `schedule.blockTileRows` tile rows of every image, dealt to one task per
    /// workspace slot; each task runs input transform, products and output transform of a block in turn, so
    /// its transformed input and products stay in the core's own cache and no phase waits for another thread.
    ///
    /// Each task takes a contiguous run of blocks (the top rows to the first task), the way the neighbouring
    /// pointwise convolutions split their columns, so a thread mostly reads rows its own core wrote. Dealt in
    /// turn (block `i` to task `i % tasks`), half of each block's input came from the other core: when the
    /// guest's two cores answered each other in about 370 ns (a cache line's round trip, against 70 to 110 ns
    /// at other times), ResNet-50's three 56x56 3x3 convolutions took 0.35 to 0.38, 0.28 to 0.30 and 0.28 to
    /// 0.30 ms on 2 threads dealt in turn, and 0.31 to 0.34, 0.23 to 0.25 and 0.23 to 0.24 in runs (6
    /// alternating profiles each).
    private static func runBlocks(_ band: WinogradBand, schedule: WinogradSchedule, workspace: UnsafeMutablePointer<Float>,
                                  pool: WorkerPool) {
        let tasks = min(pool.threads, schedule.slots, schedule.blocks)
        var blocks = WinogradBlocks(band: band, workspace: workspace, schedule: schedule, tasks: tasks)
        withUnsafePointer(to: &blocks) { context in
            pool.forEach(tasks, context: context) { raw, task in
                let blocks = raw.assumingMemoryBound(to: WinogradBlocks.self).pointee
                let schedule = blocks.schedule
                let slot = blocks.workspace + task * schedule.slotElements
                let transformed = schedule.positions * schedule.channels * schedule.blockTiles
                var block = task * schedule.blocks / blocks.tasks
                let end = (task + 1) * schedule.blocks / blocks.tasks
                while block < end {
                    let (image, index) = block.quotientAndRemainder(dividingBy: schedule.blocksPerImage)
                    var band = blocks.band.image(image)
                    let rows = schedule.rows(ofBlock: index)
                    band.firstTileRow = rows.lowerBound
                    band.tileRows = rows.count
                    band.transformedInput = slot
                    band.products = slot + transformed
                    band.transformInput(channels: 0..<schedule.channels)
                    band.multiply(positions: 0..<schedule.filterPositions)
                    band.transformOutput(filters: 0..<schedule.filters)
                    block += 1
                }
            }
        }
    }

    /// The phased schedule for one image: bands of tile rows, each in three parallel phases, or each split by
    /// filters when the pool's threads run on cores far apart (`WorkerPool.coresApart`) and the geometry has a
    /// transformed input per thread (`ConvolutionGeometry.winogradInputCopies`).
    ///
    /// Split in phases, every thread's products read the transformed input the other threads wrote, and its output
    /// transform reads their products: with a cache line's round trip of 330 ns instead of 65, those hand-overs
    /// cost more than the input transform each thread repeats when split by filters. Measured with both schedules
    /// in one build, 2 threads, alternating processes classified by round-trip probes (Docs/PERFORMANCE.md): on AMD
    /// EPYC Zen 5, cores apart, ResNet-101 took 0.955 of the time (layer3's 3x3s 0.34 against 0.39 ms each) and
    /// ResNet-50 0.975 (17.76 against 18.49 ms, the probe choosing), ResNet-18 0.995; on Zen 4 (an earlier
    /// build) ResNet-18 0.942 and ResNet-101 0.928. Cores close, the split cost 2.6 to 2.9%, hence the probe
    /// before each run (`WorkerPool.probeCoreDistance`), with which close runs took 0.998 to 1.003 of the time.
    private static func runPhases(_ image: WinogradBand, workspace: UnsafeMutablePointer<Float>, pool: WorkerPool) {
        let geometry = image.geometry
        let tile = geometry.winogradTile
        let tileRowsTotal = (geometry.outputSpatial[0] + tile - 1) / tile
        let copies = geometry.winogradInputCopies
        let splitsByFilters = copies > 1 && pool.coresApart && image.packedWeights
        var band = image
        band.transformedInput = workspace
        // On more than one thread the output transform stores whole lines non-temporally: the arena lines it
        // overwrites were mostly last read by the other threads too, and a plain store to such a line first takes
        // it back from their caches, a round trip per line when the cores are far apart. Measured on AMD EPYC
        // Zen 4, 2 threads, alternating processes, medians (2026-12-04, Docs/PERFORMANCE.md): with the cores apart
        // (a cache line's round trip about 330 ns) ResNet-101 82.58 against 86.35 ms, ResNet-50 39.96 against
        // 41.85; close, 0.997 to 1.010 of the time before (paired medians, ResNet-18 and ResNet-50). The input
        // transform's V streamed the same way gained more apart but cost 1.6% close, where the products then read
        // it from memory instead of the other core's cache.
        band.streams = pool.threads > 1
        band.products = workspace + geometry.winogradPositions * geometry.inputChannels * copies * geometry.winogradBandTileRows
            * geometry.winogradTileColumns
        var firstTileRow = 0
        while firstTileRow < tileRowsTotal {
            band.firstTileRow = firstTileRow
            band.tileRows = min(geometry.winogradBandTileRows, tileRowsTotal - firstTileRow)
            defer { firstTileRow += band.tileRows }
            if splitsByFilters && band.productsOnPackedTile {
                withUnsafePointer(to: &band) { context in
                    pool.forEach(copies, context: context) { raw, task in
                        let band = raw.assumingMemoryBound(to: WinogradBand.self).pointee
                        band.runFilterShare(task, of: band.geometry.winogradInputCopies)
                    }
                }
                continue
            }
            let channelTasks = band.channelTasks
            let filterTasks = band.filterTasks
            let runTasks = band.runTasks
            withUnsafePointer(to: &band) { context in
                pool.forEach(channelTasks, context: context) { raw, task in
                    let band = raw.assumingMemoryBound(to: WinogradBand.self).pointee
                    let channels = band.range(task, of: band.geometry.inputChannels, tasks: band.channelTasks)
                    band.transformInput(channels: channels)
                }
                if geometry.winogradStride == 2 {
                    // 16 filters with 1, 2 or 4 runs of tiles each: even shares of the 25 runs.
                    pool.forEach(runTasks, context: context) { raw, task in
                        let band = raw.assumingMemoryBound(to: WinogradBand.self).pointee
                        band.multiplyStride2(runs: band.range(task, of: 25, tasks: band.runTasks))
                    }
                } else {
                    pool.forEach(geometry.winogradPositions, context: context) { raw, position in
                        raw.assumingMemoryBound(to: WinogradBand.self).pointee.multiply(positions: position..<(position + 1))
                    }
                }
                pool.forEach(filterTasks, context: context) { raw, task in
                    let band = raw.assumingMemoryBound(to: WinogradBand.self).pointee
                    let filters = band.range(task, of: band.geometry.outputChannels, tasks: band.filterTasks)
                    band.transformOutput(filters: filters)
                }
            }
        }
    }
}

/// What the fused schedule's tasks share.
private struct WinogradBlocks {
    var band: WinogradBand
    var workspace: UnsafeMutablePointer<Float>
    var schedule: WinogradSchedule
    var tasks: Int
}

/// One band of tile rows of a Winograd convolution: what every task shares.
struct WinogradBand {
    var input: UnsafePointer<Float>
    var weights: UnsafePointer<Float>
    /// `weights` packed for Resin's matrix kernel rather than `[16][M][C]`.
    var packedWeights: Bool
    /// Whose kernels transform and multiply packed weights.
    var instructionSet: InstructionSet
    var output: UnsafeMutablePointer<Float>
    var geometry: ConvolutionGeometry
    /// The output holds the residual: add to it.
    var accumulates: Bool
    /// The epilogue: `[M]` or nil, a separate residual or nil, and the activation's bounds.
    var bias: UnsafePointer<Float>?
    var skip: UnsafePointer<Float>?
    var minimum: Float
    var maximum: Float
    /// `V`: `[positions][C][tiles]`.
    var transformedInput: UnsafeMutablePointer<Float>
    /// `M`: `[positions][M][tiles]`.
    var products: UnsafeMutablePointer<Float>
    var firstTileRow: Int
    var tileRows: Int
    /// How the input transform and output transform are split over the pool.
    var channelTasks: Int
    var filterTasks: Int
    /// How the stride-2 products' 25 runs are split over the pool.
    var runTasks: Int
    /// The output transform stores whole cache lines non-temporally (`resin_winograd_band.stream`).
    var streams = false

    var tiles: Int { tileRows * geometry.winogradTileColumns }

    /// The band moved to image `image` of the batch.
    func image(_ image: Int) -> WinogradBand {
        var band = self
        let inputImage = geometry.inputChannels * geometry.inputPlane, outputImage = geometry.outputChannels * geometry.outputPlane
        band.input = input + image * inputImage
        band.output = output + image * outputImage
        band.skip = skip.map { $0 + image * outputImage }
        return band
    }

    func range(_ task: Int, of count: Int, tasks: Int) -> Range<Int> {
        (task * count / tasks)..<((task + 1) * count / tasks)
    }

    /// Whether `multiply` runs this band's products on the packed product's channel-vectorised tile, which takes
    /// a range of panels (`runFilterShare`).
    var productsOnPackedTile: Bool {
        packedWeights && geometry.winogradStride == 1 && (instructionSet != .avx512 || tiles > WinogradSchedule.targetTiles)
    }

    /// Share `task` of `shares` of the band split by filters: the input transform of every channel into this
    /// share's own copy of the transformed input (`shares` copies side by side from `transformedInput`, the
    /// products after them), then every position's products for an even share of the panels of filters, then
    /// those filters' output transform. No other share reads what this one writes.
    func runFilterShare(_ task: Int, of shares: Int) {
        var band = self
        band.transformedInput = transformedInput + task * geometry.winogradPositions * geometry.inputChannels * tiles
        band.transformInput(channels: 0..<geometry.inputChannels)
        let panels = range(task, of: (geometry.outputChannels + PackedFilters.panel - 1) / PackedFilters.panel, tasks: shares)
        band.multiply(positions: 0..<geometry.winogradPositions, panels: panels)
        band.transformOutput(filters: (panels.lowerBound * PackedFilters.panel)..<min(geometry.outputChannels, panels.upperBound * PackedFilters.panel))
    }

    /// `M[k] = U[k] V[k]` for the positions `positions` of the 16 (or 36; at stride 2 the distinct filters of the
    /// 16, `multiplyStride2`): packed transforms on the packed
    /// product's channel-vectorised tile, or on Resin's Winograd product (winograd_product.h) for AVX-512's
    /// fused blocks; plain ones on sgemm. `panels` (the packed tile only) limits the products to those panels
    /// of filters; all of them when nil.
    func multiply(positions: Range<Int>, panels: Range<Int>? = nil) {
        let filters = geometry.outputChannels, channels = geometry.inputChannels
        if geometry.winogradStride == 2 {
            // Distinct filters `positions`: the runs from the first one's to the last one's end.
            let first = Kernels.runs(ofFilter: positions.lowerBound), last = Kernels.runs(ofFilter: positions.upperBound - 1)
            multiplyStride2(runs: first.first..<(last.first + last.count))
            return
        }
        if productsOnPackedTile {
            // Wider than a fused block (phased bands: 49 tiles on ResNet-50's 28x28 F(4x4) and 14x14 F(2x2)
            // layers), the packed product's channel-vectorised tile wins on both vector sets. Its tiles cover 49
            // as 14 + 14 + 14 + 7 (AVX-512), where the Winograd tile runs a block of 48 and then one of a single
            // tile that takes over a third as long (load-bound: 9 loads for 8 multiply-adds a step), and it
            // streams each position's filters from memory in even chunks. AVX-512, whole ResNet-50 at
            // batch 1 on 2 threads (alternating runs, per-layer minimums of 3): the 14x14 3x3 convolutions took
            // 3.68 against 5.33 ms, the 28x28 ones 2.55 against 3.02. AVX2's Winograd tile (4 filters by 24
            // tiles) lost likewise (one core: 2.18 against 1.63 ms at 14x14, 1.38 against 1.19 at 28x28).
            // Only AVX-512's Winograd tile runs the fused blocks of up to 48 tiles: ResNet-50's 56x56 layer took
            // 0.40 to 0.41 ms against 0.41 to 0.42 with the channel tile (one core, AMD Zen 5,
            // `tools/bench-kernels`). AVX2's keeps an accumulator on the stack (winograd_avx2.c) and took 1.06 to
            // 1.13 ms there against 0.70 to 0.71 with the channel tile (0.74 as a spill-free 4 x 16 tile; the same
            // processor under RESIN_ISA=avx2; an earlier build on another processor had it ahead, 1.38 against
            // 1.52). The plain C one (scalar, not vectorised by the compiler) lost everywhere (56x56: 4.96 against
            // 3.58 ms).
            let stride = PackedFilters.floats(filters: filters, inner: channels)
            for position in positions {
                // The next position's filters are fetched while this one's last chunk computes.
                let next = position + 1 < positions.upperBound ? weights + (position + 1) * stride : nil
                instructionSet.packedGEMM(m: filters, n: tiles, k: channels, panels: panels ?? 0..<((filters + PackedFilters.panel - 1) / PackedFilters.panel),
                                          packed: weights + position * stride, b: transformedInput + position * channels * tiles, ldb: tiles,
                                          c: products + position * filters * tiles, ldc: tiles, accumulate: false, next: next)
            }
            return
        }
        if packedWeights {
            var band = cBand
            instructionSet.kernels.pointee.winograd_product(
                &band, weights, PackedFilters.floats(filters: filters, inner: channels), positions.lowerBound, positions.upperBound,
                transformedInput, products)
            return
        }
        for position in positions {
            sgemm(m: filters, n: tiles, k: channels, a: weights + position * filters * channels, lda: channels,
                  b: transformedInput + position * channels * tiles, ldb: tiles,
                  c: products + position * filters * tiles, ldc: tiles)
        }
    }
}

extension WinogradBand {
    /// The stride-2 products of runs `runs` of the 25 (Kernels+WinogradStride2.swift): for each distinct filter
    /// whose runs meet them, one product of its packed transform by those of its runs, side by side in each
    /// row of the transformed input (`count` runs of tiles a row), on the packed product's channel tile.
    func multiplyStride2(runs: Range<Int>) {
        let filters = geometry.outputChannels, channels = geometry.inputChannels
        let stride = PackedFilters.floats(filters: filters, inner: channels)
        for filter in 0..<16 {
            let (first, count) = Kernels.runs(ofFilter: filter)
            let begin = max(first, runs.lowerBound), end = min(first + count, runs.upperBound)
            guard begin < end else { continue }
            let width = count * tiles, offset = (begin - first) * tiles
            instructionSet.packedGEMM(m: filters, n: (end - begin) * tiles, k: channels,
                                      panels: 0..<((filters + PackedFilters.panel - 1) / PackedFilters.panel),
                                      packed: weights + filter * stride, b: transformedInput + first * channels * tiles + offset, ldb: width,
                                      c: products + first * filters * tiles + offset, ldc: width, accumulate: false,
                                      next: filter < 15 && first + count < runs.upperBound ? weights + (filter + 1) * stride : nil)
        }
    }

    /// The band as the C transforms see it.
    var cBand: resin_winograd_band {
        resin_winograd_band(
            channels: geometry.inputChannels, filters: geometry.outputChannels,
            height: geometry.inputSpatial[0], width: geometry.inputSpatial[1],
            pad_top: geometry.window.padsBegin[0], pad_left: geometry.window.padsBegin[1],
            out_height: geometry.outputSpatial[0], out_width: geometry.outputSpatial[1],
            first_tile_row: firstTileRow, tile_rows: tileRows, tile_columns: geometry.winogradTileColumns, stream: streams ? 1 : 0)
    }

    /// The input transform of the band for some channels, by `instructionSet`'s kernel.
    func transformInput(channels: Range<Int>) {
        var band = cBand
        let kernels = instructionSet.kernels.pointee
        let transform = (geometry.winogradStride == 2 ? kernels.winograd2s2_input
            : geometry.winogradTile == 4 ? kernels.winograd4_input : kernels.winograd2_input)!
        transform(&band, input, channels.lowerBound, channels.upperBound, transformedInput)
    }

    /// The output transform with the epilogue, for some filters.
    func transformOutput(filters: Range<Int>) {
        var band = cBand
        let kernels = instructionSet.kernels.pointee
        let transform = (geometry.winogradStride == 2 ? kernels.winograd2s2_output
            : geometry.winogradTile == 4 ? kernels.winograd4_output : kernels.winograd2_output)!
        transform(&band, products, filters.lowerBound, filters.upperBound, output, bias, skip, accumulates ? 1 : 0, minimum, maximum)
    }
}
