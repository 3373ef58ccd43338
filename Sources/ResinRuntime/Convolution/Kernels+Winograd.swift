/// Winograd F(2x2, 3x3) (Lavin and Gray, "Fast Algorithms for Convolutional Neural Networks", 2016):
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

    /// A Winograd convolution of one image, F(2x2, 3x3) or F(4x4, 3x3) as `geometry.winogradTile` says:
    /// writes `activation(conv(input) + bias + skip)` into `output` `[M, OH, OW]`, the epilogue applied by the
    /// output transform (no separate pass). When `accumulates`, the output holds the residual and the
    /// convolution is added to it (`skip` is then ignored). `workspace` holds `geometry.workspaceElements` floats.
    ///
    /// `packedTransforms` says `transformedWeight` is packed position by position for Resin's matrix kernel
    /// (`PackedFilters.packWinograd`, run by `instructionSet`'s kernel), else `[16][M][C]` for sgemm; F(4x4)
    /// transforms are always packed.
    static func winogradConvolution(
        input: UnsafePointer<Float>, transformedWeight: UnsafePointer<Float>, packedTransforms: Bool = false,
        output: UnsafeMutablePointer<Float>, geometry: ConvolutionGeometry, epilogue: ConvolutionEpilogue = ConvolutionEpilogue(),
        skip: UnsafePointer<Float>? = nil, accumulates: Bool, workspace: UnsafeMutablePointer<Float>, pool: WorkerPool,
        instructionSet: InstructionSet = .active
    ) {
        let tileColumns = geometry.winogradTileColumns
        let tile = geometry.winogradTile
        let positions = geometry.winogradPositions
        let tileRowsTotal = (geometry.outputSpatial[0] + tile - 1) / tile
        var minimum = -Float.infinity, maximum = Float.infinity
        switch epilogue.activation {
        case .none: break
        case .relu: minimum = 0
        case .clip(let low, let high): (minimum, maximum) = (low, high)
        }
        var band = WinogradBand(
            input: input, weights: transformedWeight, packedWeights: packedTransforms || tile == 4, instructionSet: instructionSet,
            output: output, geometry: geometry, accumulates: accumulates,
            bias: epilogue.bias, skip: accumulates ? nil : skip, minimum: minimum, maximum: maximum,
            transformedInput: workspace,
            products: workspace + positions * geometry.inputChannels * geometry.winogradBandTileRows * tileColumns,
            firstTileRow: 0, tileRows: 0,
            channelTasks: min(geometry.inputChannels, pool.threads * 4), filterTasks: min(geometry.outputChannels, pool.threads * 4))
        var firstTileRow = 0
        while firstTileRow < tileRowsTotal {
            band.firstTileRow = firstTileRow
            band.tileRows = min(geometry.winogradBandTileRows, tileRowsTotal - firstTileRow)
            let channelTasks = band.channelTasks
            let filterTasks = band.filterTasks
            withUnsafePointer(to: &band) { context in
                pool.forEach(channelTasks, context: context) { raw, task in
                    let band = raw.assumingMemoryBound(to: WinogradBand.self).pointee
                    let channels = band.range(task, of: band.geometry.inputChannels, tasks: band.channelTasks)
                    if band.geometry.winogradTile == 4 { band.transformInput4x4(channels: channels) } else { band.transformInput(channels: channels) }
                }
                pool.forEach(positions, context: context) { raw, position in
                    raw.assumingMemoryBound(to: WinogradBand.self).pointee.multiply(position: position)
                }
                pool.forEach(filterTasks, context: context) { raw, task in
                    let band = raw.assumingMemoryBound(to: WinogradBand.self).pointee
                    let filters = band.range(task, of: band.geometry.outputChannels, tasks: band.filterTasks)
                    if band.geometry.winogradTile == 4 { band.transformOutput4x4(filters: filters) } else { band.transformOutput(filters: filters) }
                }
            }
            firstTileRow += band.tileRows
        }
    }
}

/// One band of tile rows of a Winograd convolution: what every task shares.
struct WinogradBand {
    var input: UnsafePointer<Float>
    var weights: UnsafePointer<Float>
    /// `weights` packed for Resin's matrix kernel rather than `[16][M][C]`.
    var packedWeights: Bool
    /// Whose kernels transform (F(4x4)) and multiply packed weights.
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

    var tiles: Int { tileRows * geometry.winogradTileColumns }

    func range(_ task: Int, of count: Int, tasks: Int) -> Range<Int> {
        (task * count / tasks)..<((task + 1) * count / tasks)
    }

    /// `V = B^T d B` for every tile of the band and the given channels, with
    /// `B^T = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]]`; cells outside the input read 0.
    func transformInput(channels: Range<Int>) {
        let height = geometry.inputSpatial[0], width = geometry.inputSpatial[1]
        let padTop = geometry.window.padsBegin[0], padLeft = geometry.window.padsBegin[1]
        let tileColumns = geometry.winogradTileColumns
        let tiles = self.tiles
        let channelCount = geometry.inputChannels
        for channel in channels {
            let plane = input + channel * height * width
            for tileRow in 0..<tileRows {
                let top = (firstTileRow + tileRow) * 2 - padTop
                for tileColumn in 0..<tileColumns {
                    let left = tileColumn * 2 - padLeft
                    // The 4x4 input tile, rows as vectors; cells outside the input read 0.
                    var d0 = SIMD4<Float>(), d1 = SIMD4<Float>(), d2 = SIMD4<Float>(), d3 = SIMD4<Float>()
                    for r in 0..<4 {
                        let y = top + r
                        if y < 0 || y >= height { continue }
                        let line = plane + y * width
                        var values = SIMD4<Float>()
                        if left >= 0, left + 3 < width {
                            values = SIMD4(line[left], line[left + 1], line[left + 2], line[left + 3])
                        } else {
                            for c in 0..<4 where left + c >= 0 && left + c < width { values[c] = line[left + c] }
                        }
                        switch r {
                        case 0: d0 = values
                        case 1: d1 = values
                        case 2: d2 = values
                        default: d3 = values
                        }
                    }
                    // Rows of B^T d, then the same combination across each row (t B).
                    let t0 = d0 - d2, t1 = d1 + d2, t2 = d2 - d1, t3 = d1 - d3
                    let tile = tileRow * tileColumns + tileColumn
                    let stride = channelCount * tiles
                    let origin = transformedInput + channel * tiles + tile
                    Self.storeRow(t0, at: origin, stride: stride)
                    Self.storeRow(t1, at: origin + 4 * stride, stride: stride)
                    Self.storeRow(t2, at: origin + 8 * stride, stride: stride)
                    Self.storeRow(t3, at: origin + 12 * stride, stride: stride)
                }
            }
        }
    }

    /// One row of `B^T d` times `B`: four positions, `stride` floats apart.
    @inline(__always)
    static func storeRow(_ t: SIMD4<Float>, at base: UnsafeMutablePointer<Float>, stride: Int) {
        base[0] = t[0] - t[2]
        base[stride] = t[1] + t[2]
        base[2 * stride] = t[2] - t[1]
        base[3 * stride] = t[1] - t[3]
    }

    /// `M[k] = U[k] V[k]` for one of the 16 (or 36) positions.
    func multiply(position: Int) {
        let filters = geometry.outputChannels, channels = geometry.inputChannels
        if packedWeights {
            let stride = PackedFilters.floats(filters: filters, inner: channels)
            instructionSet.packedGEMM(m: filters, n: tiles, k: channels, panels: 0..<((filters + PackedFilters.panel - 1) / PackedFilters.panel),
                                      packed: weights + position * stride, b: transformedInput + position * channels * tiles, ldb: tiles,
                                      c: products + position * filters * tiles, ldc: tiles, accumulate: false)
            return
        }
        sgemm(m: filters, n: tiles, k: channels, a: weights + position * filters * channels, lda: channels,
              b: transformedInput + position * channels * tiles, ldb: tiles,
              c: products + position * filters * tiles, ldc: tiles)
    }

    /// `Y = A^T M A` per tile, `A^T = [[1, 1, 1, 0], [0, 1, -1, -1]]`, written into the output with the epilogue.
    func transformOutput(filters: Range<Int>) {
        let outputHeight = geometry.outputSpatial[0], outputWidth = geometry.outputSpatial[1]
        let tileColumns = geometry.winogradTileColumns
        let tiles = self.tiles
        let filterCount = geometry.outputChannels
        let stride = filterCount * tiles
        for filter in filters {
            let plane = output + filter * outputHeight * outputWidth
            var residual: UnsafePointer<Float>? = accumulates ? UnsafePointer(plane) : nil
            if let skip { residual = skip + filter * outputHeight * outputWidth }
            let shift = bias?[filter] ?? 0
            for tileRow in 0..<tileRows {
                let y = (firstTileRow + tileRow) * 2
                for tileColumn in 0..<tileColumns {
                    let tile = tileRow * tileColumns + tileColumn
                    let base = products + filter * tiles + tile
                    // s = A^T m (2 x 4), then y = s A (2 x 2).
                    var s0 = SIMD4<Float>(), s1 = SIMD4<Float>()
                    for j in 0..<4 {
                        let m0 = base[j * stride], m1 = base[(4 + j) * stride]
                        let m2 = base[(8 + j) * stride], m3 = base[(12 + j) * stride]
                        s0[j] = m0 + m1 + m2
                        s1[j] = m1 - m2 - m3
                    }
                    let y00 = s0[0] + s0[1] + s0[2], y01 = s0[1] - s0[2] - s0[3]
                    let y10 = s1[0] + s1[1] + s1[2], y11 = s1[1] - s1[2] - s1[3]
                    let x = tileColumn * 2
                    let hasRight = x + 1 < outputWidth, hasBelow = y + 1 < outputHeight
                    let at = y * outputWidth + x
                    store(y00, plane: plane, residual: residual, at: at, shift: shift)
                    if hasRight { store(y01, plane: plane, residual: residual, at: at + 1, shift: shift) }
                    if hasBelow {
                        store(y10, plane: plane, residual: residual, at: at + outputWidth, shift: shift)
                        if hasRight { store(y11, plane: plane, residual: residual, at: at + outputWidth + 1, shift: shift) }
                    }
                }
            }
        }
    }

    /// One output with the epilogue: `clamp(value + bias + residual)`, with Clip's rules (NaN passes, a NaN
    /// bound clamps nothing).
    @inline(__always)
    func store(_ value: Float, plane: UnsafeMutablePointer<Float>, residual: UnsafePointer<Float>?, at index: Int, shift: Float) {
        var result = value + shift
        if let residual { result += residual[index] }
        if result < minimum { result = minimum }
        if result > maximum { result = maximum }
        plane[index] = result
    }
}
