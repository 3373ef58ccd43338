import CResinKernels

/// Filters packed for Resin's own matrix kernel (`CResinKernels`), used by convolutions whose products
/// have few columns: ResNet's last stages at batch 1, where OpenBLAS repacks cold filters on every call.
///
/// The packed form is `[ceil(M / 32), K, 32]`: panels of 32 output channels, each the panel's filters
/// column by column (K is `C * kernel`), rows past M zero. It is a permutation of the filters, made once
/// (when a native file is written, or when a session is made from an ONNX model). Every instruction set's
/// kernel reads this one layout (AVX-512 a step of a panel as two registers, AVX2 as four in two halves), so whether filters are
/// packed depends on the shapes alone and a native file is the same bytes wherever it was converted.
public enum PackedFilters {
    /// Output channels per panel.
    public static let panel = Int(RESIN_PACKED_PANEL)

    /// Product columns (output elements per channel and image) up to which packed filters are used.
    /// Measured on ResNet-50's shapes with cold filters (tools' C benchmark, one core, AVX-512): 85 to 91
    /// GFLOPS against OpenBLAS's 59 to 72 at 49 columns, 87 to 90 against 85 to 86 at 196; OpenBLAS wins
    /// from 784 columns on.
    public static let maximumColumns = 256

    /// Whether a convolution's filters are worth packing: one group, not Winograd, few columns, at least
    /// one full panel. A property of the shapes alone, so a file written anywhere packs the same filters.
    public static func pay(for geometry: ConvolutionGeometry) -> Bool {
        geometry.group == 1 && !geometry.usesWinograd && geometry.outputPlane <= maximumColumns
            && geometry.outputChannels >= panel && geometry.inputSpatial.count >= 1
    }

    /// Whether a Winograd convolution's 16 products are worth running on packed transforms: few tiles per
    /// band (the products' columns), at least one full panel. Measured on ResNet-50's 28x28 and 14x14
    /// stages (196 and 49 tiles): 15 to 25% faster convolutions than OpenBLAS on the plain transforms.
    /// F(4x4, 3x3) always runs its 36 products on packed transforms (it has no OpenBLAS path).
    public static func pay(forWinograd geometry: ConvolutionGeometry) -> Bool {
        if geometry.winogradTile == 4 { return true }
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
    /// with row stride `ldb`, C row-major with row stride `ldc`; the panels of output channels are split
    /// over the pool; `instructionSet` picks the kernel.
    static func packedGEMM(
        pool: WorkerPool?, m: Int, n: Int, k: Int, packed: UnsafePointer<Float>, b: UnsafePointer<Float>, ldb: Int,
        c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool, instructionSet: InstructionSet
    ) {
        let panels = (m + PackedFilters.panel - 1) / PackedFilters.panel
        let tasks = min(pool?.threads ?? 1, panels)
        guard let pool, tasks > 1 else {
            instructionSet.packedGEMM(m: m, n: n, k: k, panels: 0..<panels, packed: packed, b: b, ldb: ldb, c: c, ldc: ldc,
                                      accumulate: accumulate)
            return
        }
        var split = PackedSplit(m: m, n: n, k: k, panels: panels, tasks: tasks, packed: packed, b: b, ldb: ldb, c: c, ldc: ldc,
                                accumulate: accumulate, instructionSet: instructionSet)
        withUnsafePointer(to: &split) { context in
            pool.forEach(tasks, context: context) { raw, task in
                let s = raw.assumingMemoryBound(to: PackedSplit.self).pointee
                s.instructionSet.packedGEMM(m: s.m, n: s.n, k: s.k, panels: (task * s.panels / s.tasks)..<((task + 1) * s.panels / s.tasks),
                                            packed: s.packed, b: s.b, ldb: s.ldb, c: s.c, ldc: s.ldc, accumulate: s.accumulate)
            }
        }
    }

    /// What every task of a split packed product shares.
    private struct PackedSplit {
        var m: Int, n: Int, k: Int, panels: Int, tasks: Int
        var packed: UnsafePointer<Float>
        var b: UnsafePointer<Float>, ldb: Int
        var c: UnsafeMutablePointer<Float>, ldc: Int
        var accumulate: Bool
        var instructionSet: InstructionSet
    }
}
