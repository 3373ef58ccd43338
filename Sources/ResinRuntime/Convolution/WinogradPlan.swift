import CResinKernels
import ResinIR

/// Whether a convolution runs direct (im2col and a GEMM), as Winograd F(2x2, 3x3) or as F(4x4, 3x3) (at
/// stride 2: direct or the stride-2 F(2x2, 3x3)), and how its tiles are banded. A function of the shapes and
/// the batch only, never of the processor, so a converter writes the same file everywhere.
///
/// `.whenFaster` compares estimated times: each algorithm's multiply-adds at one assumed rate, its transform
/// (or im2col) traffic at another, and the bytes of filters one inference reads at an assumed memory
/// bandwidth. F(4x4) does 36 products per 4x4 outputs against F(2x2)'s 16 per 2x2 (a further 1.8x fewer
/// multiplies) but reads 4x the original filters against 16/9x: on ResNet-50's 14x14 and 7x7 stages at
/// batch 1 (256 and 512 channels) the filter bytes cost more than the saved multiplies, and a 7x7 map crops
/// 23 of every 64 outputs of its 4x4 tiles (the tile count is rounded up, so cropping is priced in).
struct WinogradPlan {
    /// 0 (direct), 2 or 4.
    var tile = 0
    /// 1, or 2 for the stride-2 F(2x2, 3x3).
    var stride = 1
    var tileColumns = 0
    var bandTileRows = 0

    // The cost model's constants, all in one place. Assumed rates for one core of a current x86-64 server
    // (they only need to be right relative to each other):
    /// Multiply-adds per second of the products: the packed kernel's 85 to 90 GFLOP/s per core measured on
    /// ResNet-50's shapes (PackedFilters), rounded down to 40 G multiply-adds for the slower sets.
    static let multiplyAddsPerSecond = 40e9
    /// Floats per second the transforms (and im2col) write or read: 4 G, a tenth of the product rate; the
    /// transforms do a few additions per float and are bound by memory traffic through the caches.
    static let transformFloatsPerSecond = 4e9
    /// Bytes of filters per second from memory at batch 1, where each inference streams every filter once
    /// and the cores share the memory bus: 5 GB/s. Measured on ResNet-50 (Xeon, Sapphire Rapids class, 2 threads,
    /// AVX-512, runs of two files alternating, medians of 3 x 10 runs): forcing F(4x4) on the 14x14 stage
    /// made its 3x3 convolutions 1.8 to 2.3x slower than F(2x2) (about 3.0 against 1.45 ms), and on the 7x7
    /// stage 1.3 to 2.0x slower than im2col (4.5 to 6.9 against 3.4 ms), while F(4x4) beat F(2x2) on the
    /// 56x56 and 28x28 stages (about 2.3 against 4.4 ms, 2.0 against 2.7 ms). With 10 GB/s the model called
    /// the 14x14 stage nearly even; at 5 GB/s it ranks all four stages as measured.
    static let filterBytesPerSecond = 5e9
    /// F(2x2) keeps the earlier measured floor: below 32 tiles per image (outputs under about 11x11) its
    /// products are too narrow, equal or slower than im2col on ResNet-50's 7x7 stage for 16/9 of the filters.
    static let minimumTiles2x2 = 32
    /// No more tile columns than the C transforms' stack rows hold (outputs up to 1024 wide for F(2x2),
    /// 2048 for F(4x4)).
    static let maximumTileColumns = Int(RESIN_WINOGRAD_MAX_TILE_COLUMNS)

    init(
        batch: Int, inputChannels: Int, outputChannels: Int, group: Int, inputSpatial: [Int], window: ResolvedWindow,
        choice: WinogradChoice, workspaceLimit: Int
    ) {
        let outputs = window.outputSizes
        // 3x3 undilated ungrouped convolutions with enough channels to repay the transforms.
        guard choice != .never, inputSpatial.count == 2, window.kernel == [3, 3], window.dilations == [1, 1], group == 1,
              inputChannels >= 16, outputChannels >= 16, outputs.count == 2 else { return }
        if window.strides == [2, 2] {
            self = Self.stride2(batch: batch, inputChannels: inputChannels, outputChannels: outputChannels, outputs: outputs,
                                choice: choice, workspaceLimit: workspaceLimit)
            return
        }
        guard window.strides == [1, 1], choice != .whenEligibleStride2, outputs[0] >= 4, outputs[1] >= 4 else { return }
        let fits4x4 = (outputs[1] + 3) / 4 <= Self.maximumTileColumns
        guard (outputs[1] + 1) / 2 <= Self.maximumTileColumns else { return }
        let chosen: Int
        switch choice {
        case .never, .whenEligibleStride2: return
        case .whenEligible: chosen = 2
        case .whenEligible4x4:
            guard fits4x4 else { return }
            chosen = 4
        case .whenFaster:
            let costs = [0, 2, 4].map { tile -> Double in
                Self.cost(tile: tile, batch: batch, channels: inputChannels, filters: outputChannels, outputs: outputs,
                          limit: workspaceLimit)
            }
            var best = 0
            // F(2x2) products run on OpenBLAS unless they have at most 256 columns per band; narrower ones
            // on OpenBLAS fall to Resin's plain loop, where Winograd loses to im2col.
            let band2 = Self.band(tile: 2, channels: inputChannels, filters: outputChannels, outputs: outputs, limit: workspaceLimit)
            let packed2 = outputChannels >= PackedFilters.panel && band2.rows * band2.columns <= PackedFilters.maximumColumns
            let products2 = outputChannels * inputChannels * band2.rows * band2.columns
            let tiles2 = ((outputs[0] + 1) / 2) * ((outputs[1] + 1) / 2)
            if (products2 > smallProductLimit || packed2) && tiles2 >= Self.minimumTiles2x2 && costs[1] < costs[best] { best = 1 }
            // F(4x4) products run on the packed kernel only, whose panels are 32 filters: fewer would waste most
            // of each panel (the model counts none of that), so it needs at least one full panel.
            if fits4x4 && outputChannels >= PackedFilters.panel && costs[2] < costs[best] { best = 2 }
            chosen = [0, 2, 4][best]
        }
        guard chosen != 0 else { return }
        let band = Self.band(tile: chosen, channels: inputChannels, filters: outputChannels, outputs: outputs, limit: workspaceLimit)
        tile = chosen
        tileColumns = band.columns
        bandTileRows = band.rows
    }

    /// The stride-2 F(2x2, 3x3) (Kernels+WinogradStride2.swift) where it is eligible and chosen: its 16 distinct
    /// filters always packed (panels of 32 filters, so at least one full panel), at least `minimumTiles2x2`
    /// tiles per image like F(2x2), and under `.whenFaster` where the cost model ranks it ahead of direct.
    private static func stride2(batch: Int, inputChannels: Int, outputChannels: Int, outputs: [Int], choice: WinogradChoice,
                                workspaceLimit: Int) -> WinogradPlan {
        var plan = WinogradPlan()
        let tiles = ((outputs[0] + 1) / 2) * ((outputs[1] + 1) / 2)
        guard outputChannels >= PackedFilters.panel, (outputs[1] + 1) / 2 <= Self.maximumTileColumns else { return plan }
        switch choice {
        case .whenEligibleStride2: break
        case .whenFaster:
            let cost = { (tile: Int) in
                Self.cost(tile: tile, stride: 2, batch: batch, channels: inputChannels, filters: outputChannels, outputs: outputs,
                          limit: workspaceLimit)
            }
            guard tiles >= Self.minimumTiles2x2, cost(2) < cost(0) else { return plan }
        default: return plan
        }
        let band = Self.band(tile: 2, stride: 2, channels: inputChannels, filters: outputChannels, outputs: outputs, limit: workspaceLimit)
        plan.tile = 2
        plan.stride = 2
        plan.tileColumns = band.columns
        plan.bandTileRows = band.rows
        return plan
    }

    /// Direct.
    private init() {}

    /// Transformed positions per tile and distinct transformed filters: 16, 36, or at stride 2 25 sharing 16.
    static func positions(tile: Int, stride: Int) -> (transforms: Int, filters: Int) {
        stride == 2 ? (25, 16) : ((tile + 2) * (tile + 2), (tile + 2) * (tile + 2))
    }

    /// Tile columns, and tile rows per band such that a band's transformed input and products fit `limit` floats.
    static func band(tile: Int, stride: Int = 1, channels: Int, filters: Int, outputs: [Int], limit: Int) -> (columns: Int, rows: Int) {
        let positions = Self.positions(tile: tile, stride: stride).transforms
        let columns = (outputs[1] + tile - 1) / tile
        let rowsTotal = (outputs[0] + tile - 1) / tile
        return (columns, max(1, min(rowsTotal, limit / (positions * (channels + filters) * columns))))
    }

    /// Times one convolution of the whole batch reads its filters from memory as F(`tile`): once when the
    /// transformed filters run the fused schedule (at most `WinogradSchedule.filterBytesLimit`, every block then
    /// reads them from L2), else once per band of every image, as the phased schedule runs each image's bands in
    /// turn and each band's products read every position's filters. Without it the model chose F(4x4) for
    /// ResNet-50's 7x7 stage at batch 8 (counting its 38 MB of transforms once where 8 images read 302 MB), and
    /// those convolutions took 22 to 24 ms against ONNX Runtime's 6.3 (2 threads, AVX-512).
    static func filterPasses(tile: Int, stride: Int = 1, batch: Int, channels: Int, filters: Int, outputs: [Int], limit: Int) -> Int {
        let positions = Self.positions(tile: tile, stride: stride).filters
        guard positions * channels * filters * 4 > WinogradSchedule.filterBytesLimit else { return 1 }
        let band = band(tile: tile, stride: stride, channels: channels, filters: filters, outputs: outputs, limit: limit)
        let tileRows = (outputs[0] + tile - 1) / tile
        return batch * ((tileRows + band.rows - 1) / band.rows)
    }

    /// Estimated seconds of one convolution of the whole batch as direct (tile 0), F(2x2) or F(4x4) (at `stride`
    /// 2: direct or the stride-2 F(2x2)), its bands of transforms at most `limit` floats (`band`).
    static func cost(tile: Int, stride: Int = 1, batch: Int, channels: Int, filters: Int, outputs: [Int], limit: Int) -> Double {
        let images = Double(batch), c = Double(channels), m = Double(filters)
        let multiplyAdds: Double, transformFloats: Double, filterFloats: Double
        if tile == 0 {
            let columns = Double(outputs[0] * outputs[1])
            multiplyAdds = images * m * c * 9 * columns
            transformFloats = images * c * 9 * columns  // im2col's columns
            filterFloats = m * c * 9
        } else {
            let positions = Self.positions(tile: tile, stride: stride)
            let tiles = Double(((outputs[0] + tile - 1) / tile) * ((outputs[1] + tile - 1) / tile))
            multiplyAdds = images * Double(positions.transforms) * m * c * tiles
            transformFloats = images * Double(positions.transforms) * (c + m) * tiles
            filterFloats = Double(positions.filters) * m * c
                * Double(filterPasses(tile: tile, stride: stride, batch: batch, channels: channels, filters: filters, outputs: outputs,
                                      limit: limit))
        }
        return multiplyAdds / multiplyAddsPerSecond + transformFloats / transformFloatsPerSecond
            + filterFloats * 4 / filterBytesPerSecond
    }
}

/// How a Winograd convolution is run: fused blocks of tile rows (`blockTileRows > 0`) or phased bands. A
/// function of the shapes and batch only, never of the thread count, so every split gives the same bits.
struct WinogradSchedule {
    /// Transformed positions and distinct filters (`ConvolutionGeometry.winogradFilterPositions`).
    var positions = 0, filterPositions = 0, channels = 0, filters = 0
    /// Tile rows and columns of one image.
    var tileRows = 0, tileColumns = 0
    /// Most tile rows of a fused block; 0 runs the phased schedule.
    var blockTileRows = 0
    var blocksPerImage = 0, blocks = 0
    /// Floats one fused task uses (its block's transformed input and products), and how many fit the workspace.
    var slotElements = 0, slots = 0

    var blockTiles: Int { blockTileRows * tileColumns }

    /// Fused tasks at most, each with its own slot of the workspace: more threads than this share them.
    static let maximumSlots = 8
    /// Floats all slots may take together (16 MiB).
    static let slotFloatsLimit = 1 << 22

    /// Floats of workspace a Winograd convolution needs: a phased band's transformed input (a copy per thread
    /// for the split by filters, `ConvolutionGeometry.winogradInputCopies`) and products, and the fused
    /// schedule's slots. Every convolution may run phased (a packed choice is made per call).
    static func workspaceElements(_ geometry: ConvolutionGeometry) -> Int {
        let band = geometry.winogradPositions * (geometry.inputChannels * geometry.winogradInputCopies + geometry.outputChannels)
            * geometry.winogradBandTileRows * geometry.winogradTileColumns
        let fused = WinogradSchedule(geometry: geometry, packed: true)
        return max(band, fused.slots * fused.slotElements)
    }

    /// Largest transformed input (bytes) of a band that the split by filters copies per thread
    /// (`ConvolutionGeometry.winogradInputCopies`): each thread writes its copy and then reads all of it in every
    /// position's product, so it should stay in the core's L2 (1 or 2 MiB on the processors measured). Wide
    /// ResNet-50-2's 1.6 to 1.8 MB ones did not pay (AMD EPYC Zen 5, 2 threads, alternating profiles classified
    /// by round-trip probes, 2026-12-04): its 56x56 3x3s took 0.14 to 0.16 ms longer split with the cores close
    /// and gained nothing apart, and the whole model ran 1.008 of the time apart (1.003 close) with the probe
    /// choosing; ResNet-50's and ResNet-101's (0.8 and 0.9 MB) gained 2.5 and 4.5% apart.
    static let inputCopyBytesLimit = 1 << 20

    /// Tiles one fused block aims at: the Winograd product's widest tile (48 tiles, three AVX-512 registers), so
    /// a block's product runs on whole tiles and its transformed input (C rows of 48) is read from L1 by each.
    static let targetTiles = 48
    /// Largest transformed filters (bytes) the fused schedule takes: every block reads all of them, where the
    /// phased schedule reads each position's once per band. Measured on one core (AVX-512, Sapphire Rapids
    /// class, 2 MB L2, machine shared, minimum of 1000 runs, alternating): ResNet-50's 56x56 layer (0.6 MB of
    /// transforms) 0.70 ms fused against 0.72 phased; the 28x28 layer (2.4 MB) 0.80 against 0.70; the 14x14
    /// F(2x2) layer (4 MB) 1.18 against 1.15. So only filters well inside L2 run fused.
    static let filterBytesLimit = 1 << 20

    init(geometry: ConvolutionGeometry, packed: Bool) {
        let tile = geometry.winogradTile
        guard tile > 0 else { return }
        positions = geometry.winogradPositions
        filterPositions = geometry.winogradFilterPositions
        channels = geometry.inputChannels
        filters = geometry.outputChannels
        tileRows = (geometry.outputSpatial[0] + tile - 1) / tile
        tileColumns = geometry.winogradTileColumns
        guard packed, filterPositions * channels * filters * 4 <= Self.filterBytesLimit else { return }
        let most = max(1, min(tileRows, Self.targetTiles / max(tileColumns, 1)))
        // The fewest blocks of at most `most` tile rows, one more per image when the batch's count is odd and
        // above 1: tasks take blocks in turn, so an odd count leaves one thread of two a block more (ResNet-50's
        // 56x56 layer at batch 1: blocks of 3, 3, 3, 3 and 2 rows, 8 rows against 6, the other thread idle 60
        // microseconds of each). Block i holds rows i * tileRows / blocksPerImage up to the next block's
        // (`rows(ofBlock:)`), so 14 rows in 6 blocks are 2, 2, 3, 2, 2, 3: 7 and 7.
        let fewest = (tileRows + most - 1) / most
        let odd = (geometry.batch * fewest) % 2 == 1 && geometry.batch * fewest > 1
        let perImage = odd && fewest < tileRows ? fewest + 1 : fewest
        let rows = (tileRows + perImage - 1) / perImage
        slotElements = positions * (channels + filters) * rows * tileColumns
        let blocks = geometry.batch * perImage
        // A slot per block that may run at once, up to the fewest blocks: the block the even split adds
        // shares the work out and needs no slot of its own (a sixth would have grown ResNet-50's arena by
        // 0.7 MiB); tasks take slots by their number, so fewer slots only cap how many threads run blocks.
        let capacity = Self.slotFloatsLimit / slotElements
        let slots = min(Self.maximumSlots, geometry.batch * fewest, capacity)
        // Too few slots for the blocks (very wide images) would leave threads idle: run those phased.
        guard capacity >= min(geometry.batch * fewest, Self.maximumSlots / 2) else { return }
        self.slots = slots
        self.blocks = blocks
        blockTileRows = rows
        blocksPerImage = perImage
    }

    /// The tile rows of block `index` of an image: an even share of the image's, at most `blockTileRows`.
    func rows(ofBlock index: Int) -> Range<Int> {
        (index * tileRows / blocksPerImage)..<((index + 1) * tileRows / blocksPerImage)
    }
}
