import CResinKernels

/// Filters packed for Resin's own matrix kernel (`CResinKernels`), used by every ungrouped convolution that
/// does not run as Winograd: the kernel applies the bias, the residual and the activation to each tile
/// before storing it, so no pass over the output follows.
///
/// The packed form is `[ceil(M / 32), K, 32]`: panels of 32 output channels, each the panel's filters
/// column by column (K is `C * kernel`), rows past M zero. It is a permutation of the filters, made once
/// (when a native file is written, or when a session is made from an ONNX model). Every instruction set's
/// kernel reads this one layout (a step of a panel as vectors, or any 4 or 8 of its lanes by broadcast), so
/// whether filters are packed depends on the shapes alone and a native file is the same bytes wherever it
/// was converted.
public enum PackedFilters {
    /// Output channels per panel.
    public static let panel = Int(RESIN_PACKED_PANEL)

    /// Product columns up to which Winograd's packed products count as few (`pay(forWinograd:)` and the
    /// Winograd choice). Measured on ResNet-50's shapes with cold filters (tools' C benchmark, one core,
    /// AVX-512): 85 to 91 GFLOPS against OpenBLAS's 59 to 72 at 49 columns, 87 to 90 against 85 to 86 at 196.
    public static let maximumColumns = 256

    /// Whether a convolution runs on packed filters: every ungrouped one that is not Winograd. Measured on
    /// every product of ResNet-50 at batch 1 (one core, cold filters, alternating in one process with this
    /// machine's OpenBLAS sgemm on the plain filters, machine shared by other builds): AVX-512 82 to 141
    /// GFLOPS and AVX2 40 to 79 where OpenBLAS ran 15 to 33, on every product. So OpenBLAS is kept only for
    /// filters that are not constant. A property of the shapes alone, so a file written anywhere packs the
    /// same filters.
    public static func pay(for geometry: ConvolutionGeometry) -> Bool {
        geometry.group == 1 && !geometry.usesWinograd && geometry.inputSpatial.count >= 1
    }

    /// Whether a Winograd convolution's 16 products are worth running on packed transforms: few tiles per
    /// band (the products' columns), at least one full panel. Measured on ResNet-50's 28x28 and 14x14
    /// stages (196 and 49 tiles): 15 to 25% faster convolutions than OpenBLAS on the plain transforms.
    /// F(4x4, 3x3) and the stride-2 F(2x2, 3x3) always run on packed transforms (they have no OpenBLAS path).
    public static func pay(forWinograd geometry: ConvolutionGeometry) -> Bool {
        if geometry.winogradTile == 4 || geometry.winogradStride == 2 { return true }
        return geometry.usesWinograd && geometry.outputChannels >= panel
            && geometry.winogradBandTileRows * geometry.winogradTileColumns <= maximumColumns
    }

    /// Packs Winograd transforms `[positions][M][C]` position by position: `[positions][ceil(M / 32)][C][32]`
    /// (16 positions for F(2x2, 3x3), 36 for F(4x4, 3x3)).
    public static func packWinograd(_ transforms: UnsafePointer<Float>, positions: Int = 16, filters: Int, channels: Int) -> [Float] {
        let stride = floats(filters: filters, inner: channels)
        return [Float](unsafeUninitializedCapacity: positions * stride) { buffer, count in
            for position in 0..<positions {
                resin_pack_filters(transforms + position * filters * channels, filters, channels, buffer.baseAddress! + position * stride)
            }
            count = positions * stride
        }
    }

    /// Floats of the packed form of `filters x inner` filters.
    public static func floats(filters: Int, inner: Int) -> Int { resin_packed_filter_floats(filters, inner) }

    /// The shape the packed form is stored with.
    public static func shape(filters: Int, inner: Int) -> [Int] { [(filters + panel - 1) / panel, inner, panel] }

    /// Packs row-major `filters x inner` filters.
    public static func pack(_ weight: UnsafePointer<Float>, filters: Int, inner: Int) -> [Float] {
        [Float](unsafeUninitializedCapacity: floats(filters: filters, inner: inner)) { buffer, count in
            resin_pack_filters(weight, filters, inner, buffer.baseAddress!)
            count = buffer.count
        }
    }
}

extension Kernels {
    /// `C[m x n] = W * B` (`+=` when `accumulate`) with W packed (`PackedFilters`), B row-major `k x n`
    /// with row stride `ldb`, C row-major with row stride `ldc`; `instructionSet` picks the kernel.
    static func packedGEMM(
        pool: WorkerPool?, m: Int, n: Int, k: Int, packed: UnsafePointer<Float>, b: UnsafePointer<Float>, ldb: Int,
        c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool, instructionSet: InstructionSet
    ) {
        let epilogue = resin_gemm_epilogue(bias: nil, skip: accumulate ? UnsafePointer(c) : nil, min: -.infinity, max: .infinity)
        fusedGEMM(pool: pool, problem: resin_gemm_problem(m: m, n: n, k: k, packed: packed, b: b, ldb: ldb, c: c, ldc: ldc,
                                                          epilogue: epilogue),
                  instructionSet: instructionSet)
    }

    /// The fused packed product `C = clamp(W * B + bias + skip)` (`resin_gemm_problem`), split over the pool
    /// into a grid of panels of output channels by units of columns (`fusedPlan`).
    static func fusedGEMM(pool: WorkerPool?, problem: resin_gemm_problem, instructionSet: InstructionSet) {
        let stridedGather = problem.gather.map { $0.pointee.stride_width > 1 || $0.pointee.stride_height > 1 } ?? false
        let plan = fusedPlan(m: problem.m, n: problem.n, gathered: problem.gather != nil, stridedGather: stridedGather,
                             threads: pool?.threads ?? 1, instructionSet: instructionSet)
        let panels = plan.panels, grid = plan.grid
        withUnsafePointer(to: problem) { problem in
            guard let pool, grid.panels * grid.columns > 1 else {
                instructionSet.fusedGEMM(problem, panels: 0..<panels, columns: 0..<problem.pointee.n)
                return
            }
            var split = FusedSplit(problem: problem, instructionSet: instructionSet, panels: panels, units: plan.units, unit: plan.unit,
                                   gridPanels: grid.panels, gridColumns: grid.columns)
            withUnsafePointer(to: &split) { context in
                pool.forEach(grid.panels * grid.columns, context: context) { raw, task in
                    let s = raw.assumingMemoryBound(to: FusedSplit.self).pointee
                    let (row, column) = task.quotientAndRemainder(dividingBy: s.gridColumns)
                    let firstUnit = column * s.units / s.gridColumns, lastUnit = (column + 1) * s.units / s.gridColumns
                    let columns = (firstUnit * s.unit)..<min(s.problem.pointee.n, lastUnit * s.unit)
                    s.instructionSet.fusedGEMM(s.problem, panels: (row * s.panels / s.gridPanels)..<((row + 1) * s.panels / s.gridPanels),
                                               columns: columns)
                }
            }
        }
    }

    /// How `fusedGEMM` splits an `m x n` product over `threads`: its panels, its columns in `units` of `unit`
    /// (the last one possibly partial), and the grid of tasks over both.
    static func fusedPlan(
        m: Int, n: Int, gathered: Bool, stridedGather: Bool, threads: Int, instructionSet: InstructionSet
    ) -> (panels: Int, units: Int, unit: Int, grid: (panels: Int, columns: Int)) {
        let panels = (m + PackedFilters.panel - 1) / PackedFilters.panel
        // Few plain columns run on the channel-vectorised tile (its columns are the unit of a column split);
        // more columns, or an implicit B, on the column-vectorised one.
        let channelTile = n <= PackedFilters.maximumColumns && !gathered
        let unit = channelTile ? instructionSet.channelTileColumns : Int(RESIN_FUSED_COLUMN_BLOCK)
        let units = (n + unit - 1) / unit
        if channelTile {
            let grid = splitsColumns(m: m, n: n, threads: threads)
                ? fusedGrid(panels: 1, columnBlocks: units, threads: threads) : fusedGrid(panels: panels, columnBlocks: 1, threads: threads)
            return (panels, units, unit, grid)
        }
        // An implicit B is gathered from the input once per block of columns and panel task, and a stride-2
        // gather costs a quarter of the product: split its columns only, when there are enough (ResNet-50's
        // 128x56x56 3x3 stride-2 convolution on 2 threads took 0.77 of the time of the panel split, ResNet-18's
        // 64x56x56 0.65 to 0.86; alternating runs, machine loaded). Stride-1 gathers were not measured: unchanged.
        let gridPanels = stridedGather && units >= threads ? 1 : panels
        return (panels, units, unit, fusedGrid(panels: gridPanels, columnBlocks: units, threads: threads, copiesInputs: units > 1))
    }

    /// Whether threads split the columns of a product on the channel-vectorised tile rather than its panels.
    /// Split by panels, every thread reads all of B (`k x n`); split by columns, every thread reads all the
    /// filters (`m x k`). B is the previous layer's output, just written half by each core, so a thread's
    /// read of the other half crosses between the cores, while the filters stream in order from memory with
    /// prefetching: B's bytes measured about four times as dear. Columns split when `4 n >= m`: ResNet-50's
    /// 14x14 1024-to-256 products (196 columns) took 0.75 to 0.82 of their time split by columns, its
    /// 14x14 1024-to-512 one 0.81 and the 3x3 stride-2 256x28x28 one 0.79; the 7x7 products (49 columns, 512
    /// to 2048 channels) 1.07 to 1.16 times as long, and the 14x14 256-to-1024 ones 1.03 to 1.07 (2 threads,
    /// AVX-512, alternating runs of the whole model, minimums of 2; machine shared). The bits are the same
    /// either way: each column's sum runs in one tile in the same order.
    static func splitsColumns(m: Int, n: Int, threads: Int) -> Bool { threads > 1 && 4 * n >= m }

    /// How a product of `panels` x `columnBlocks` units splits over `threads`: of the grids whose slowest thread
    /// does the fewest units (tasks are claimed in rounds of `threads`), the one splitting the shared operand the
    /// least, then the fewest tasks. The channel-vectorised tile reads the filters once per column task, so it
    /// splits columns last; the column-vectorised one (`copiesInputs`) copies each block of inputs once per panel
    /// task, so it splits panels last: ResNet-50's 64-channel 56x56 products went from 1.07x to 1.5x faster on 2
    /// threads than on one when their two panels stopped being the split.
    ///
    /// For the column-vectorised tile "the fewest units" allows `columnSplitSlack` more: split by panels, every
    /// thread reads all of B, which the layer before wrote split by columns, half of it on the other core.
    /// ResNet-50's 28x28 products have 17 blocks of 48 columns, so 16 panels split 8 and 8 (136 units a thread)
    /// beat the columns' 9 and 8 blocks (144) by 6%, and they split by panels; with the guest's two cores apart
    /// (a cache line's round trip about 330 ns) layer2's 128-to-512 1x1s took 0.79 ms that way against 0.55 split
    /// by columns. The whole model on AMD EPYC Zen 4, 2 threads: 0.974 to 0.981 of the time apart, 0.984 and 0.998
    /// close (Docs/PERFORMANCE.md, "The 28x28 products split by columns"). The bits are the same either way: each
    /// column's sum runs in one tile in the same order.
    static func fusedGrid(panels: Int, columnBlocks: Int, threads: Int, copiesInputs: Bool = false) -> (panels: Int, columns: Int) {
        guard threads > 1 else { return (1, 1) }
        let limit = 4 * threads
        func slowest(_ rows: Int, _ columns: Int) -> Int {
            ((rows * columns + threads - 1) / threads) * ((panels + rows - 1) / rows) * ((columnBlocks + columns - 1) / columns)
        }
        var fewest = Int.max
        for rows in 1...min(panels, limit) {
            for columns in 1...min(columnBlocks, limit / rows) { fewest = min(fewest, slowest(rows, columns)) }
        }
        let allowed = copiesInputs ? fewest + fewest * columnSplitSlack.numerator / columnSplitSlack.denominator : fewest
        var best = (panels: 1, columns: 1)
        var bestCost = (Int.max, Int.max, Int.max)
        for rows in 1...min(panels, limit) {
            for columns in 1...min(columnBlocks, limit / rows) {
                let units = slowest(rows, columns)
                guard units <= allowed else { continue }
                let cost = (copiesInputs ? rows : units, copiesInputs ? units : columns, rows * columns)
                if cost < bestCost {
                    bestCost = cost
                    best = (rows, columns)
                }
            }
        }
        return best
    }

    /// How many more units (a fraction of the fewest) the column-vectorised tile's slowest thread may do to split
    /// by columns rather than panels (`fusedGrid`).
    static let columnSplitSlack = (numerator: 1, denominator: 10)

    /// What every task of a split fused product shares.
    private struct FusedSplit {
        var problem: UnsafePointer<resin_gemm_problem>
        var instructionSet: InstructionSet
        /// Panels, and units of `unit` columns (the last one possibly partial), split over the grid.
        var panels: Int, units: Int, unit: Int
        var gridPanels: Int, gridColumns: Int
    }
}

extension resin_gemm_problem {
    /// A product of a plain B (no `gather`), as before implicit columns existed.
    init(m: Int, n: Int, k: Int, packed: UnsafePointer<Float>, b: UnsafePointer<Float>, ldb: Int, c: UnsafeMutablePointer<Float>,
         ldc: Int, epilogue: resin_gemm_epilogue) {
        self.init(m: m, n: n, k: k, packed: packed, b: b, ldb: ldb, c: c, ldc: ldc, epilogue: epilogue, gather: nil)
    }

    /// A product with no product after it to fetch filters for (`next_packed` NULL).
    init(m: Int, n: Int, k: Int, packed: UnsafePointer<Float>, b: UnsafePointer<Float>?, ldb: Int, c: UnsafeMutablePointer<Float>,
         ldc: Int, epilogue: resin_gemm_epilogue, gather: UnsafePointer<resin_gemm_gather>?) {
        self.init(m: m, n: n, k: k, packed: packed, b: b, ldb: ldb, c: c, ldc: ldc, epilogue: epilogue, gather: gather, next_packed: nil)
    }
}
