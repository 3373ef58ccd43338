import ResinIR

/// When a convolution runs as Winograd F(2x2, 3x3).
public enum WinogradChoice: Sendable {
    /// Never: the filters are not constant, or the caller wants im2col.
    case never
    /// When the shape is eligible and large enough for the transforms to pay (constant filters).
    case whenFaster
    /// Whenever the shape is eligible: the filters come already transformed (a native file's converter chose).
    case whenEligible
}

/// Everything a convolution kernel needs to know about its shapes, resolved once per session.
public struct ConvolutionGeometry: Equatable, Sendable {
    public var batch: Int
    public var inputChannels: Int
    public var outputChannels: Int
    public var group: Int
    public var inputSpatial: [Int]
    public var outputSpatial: [Int]
    public var window: ResolvedWindow

    /// `workspaceLimit` caps the floats of im2col columns per band; tests lower it to exercise banding.
    public init(
        batch: Int, inputChannels: Int, outputChannels: Int, group: Int, inputSpatial: [Int], window: ResolvedWindow,
        workspaceLimit: Int = ConvolutionGeometry.workspaceLimit, winograd: WinogradChoice = .never,
        winogradWorkspaceLimit: Int = ConvolutionGeometry.winogradWorkspaceLimit
    ) {
        self.batch = batch
        self.inputChannels = inputChannels
        self.outputChannels = outputChannels
        self.group = group
        self.inputSpatial = inputSpatial
        self.outputSpatial = window.outputSizes
        self.window = window
        // Derived sizes are stored, not computed: kernels read them every inference, and generic array
        // algorithms allocate in unoptimised builds.
        channelsPerGroup = inputChannels / group
        filtersPerGroup = outputChannels / group
        inputPlane = inputSpatial.reduce(1, *)
        outputPlane = window.outputSizes.reduce(1, *)
        kernelVolume = window.kernel.reduce(1, *)
        columnRows = channelsPerGroup * kernelVolume
        isPointwise = window.kernel.allSatisfy { $0 == 1 } && window.strides.allSatisfy { $0 == 1 }
            && window.padsBegin.allSatisfy { $0 == 0 } && window.padsEnd.allSatisfy { $0 == 0 }
        // 2-D im2col runs over bands of output rows small enough that the columns stay near the caches
        // and the workspace stays small: ResNet's 7x7 stem would otherwise need 7 MiB of columns, the
        // largest block of the whole memory plan.
        if inputSpatial.count == 2, !isPointwise, window.outputSizes[1] > 0 {
            let perRow = columnRows * window.outputSizes[1]
            tileRows = max(1, min(window.outputSizes[0], workspaceLimit / max(perRow, 1)))
        } else {
            tileRows = inputSpatial.count == 2 ? window.outputSizes[0] : 0
        }
        // Winograd F(2x2, 3x3) for 3x3 stride-1 undilated ungrouped convolutions with enough channels to
        // repay the transforms: 16 products of 2x2 output tiles instead of 36 (Lavin and Gray, 2016).
        let outputs = window.outputSizes
        let eligible = winograd != .never && inputSpatial.count == 2 && window.kernel == [3, 3] && window.strides == [1, 1]
            && window.dilations == [1, 1] && group == 1 && inputChannels >= 16 && outputChannels >= 16
            && outputs.count == 2 && outputs[0] >= 4 && outputs[1] >= 4
        var tileColumns = 0
        var tileRowsTotal = 0
        var bandTileRows = 0
        if eligible {
            tileColumns = (outputs[1] + 1) / 2
            tileRowsTotal = (outputs[0] + 1) / 2
            let perTileRow = 16 * (inputChannels + outputChannels) * tileColumns
            bandTileRows = max(1, min(tileRowsTotal, winogradWorkspaceLimit / perTileRow))
        }
        // Each of the 16 products must be large enough for OpenBLAS's blocked kernels; smaller ones run in
        // Resin's plain loop (see `smallProductLimit`), where Winograd would lose to im2col. Below 32 tiles
        // per image (outputs under about 11x11) it does not pay either: on ResNet-50's 7x7 stage the
        // 16-column products and the quarter of tile outputs cropped away cancel the saved multiplications
        // (measured equal or slower, for 16/9 of the filter memory).
        // Products with at most 256 columns run on Resin's packed kernel (every instruction set has one),
        // which has no such minimum: ResNet's 56x56 3x3 convolutions (64 filters, 252 tiles per band) then
        // gain about 13% over im2col. The choice reads the shapes only, so a converter writes the same file
        // on every processor.
        let packedProducts = outputChannels >= PackedFilters.panel
            && bandTileRows * tileColumns <= PackedFilters.maximumColumns
        let faster = (outputChannels * inputChannels * bandTileRows * tileColumns > smallProductLimit || packedProducts)
            && tileColumns * tileRowsTotal >= ConvolutionGeometry.winogradMinimumTiles
        usesWinograd = eligible && (winograd == .whenEligible || faster)
        winogradTileColumns = usesWinograd ? tileColumns : 0
        winogradBandTileRows = usesWinograd ? bandTileRows : 0
    }

    /// 2x2 output tiles per image below which Winograd is not chosen by `.whenFaster`.
    public static let winogradMinimumTiles = 32

    /// Floats of Winograd transformed input and products one band may use (2 MiB).
    public static let winogradWorkspaceLimit = 1 << 19

    /// Whether the convolution runs as Winograd F(2x2, 3x3); the step then holds transformed weights.
    public let usesWinograd: Bool
    /// Winograd: 2x2 output tiles per tile row, and tile rows per band.
    public let winogradTileColumns: Int
    public let winogradBandTileRows: Int

    /// Floats of im2col columns one band may use (2 MiB).
    public static let workspaceLimit = 1 << 19

    /// Output rows per im2col band (2-D convolutions).
    public let tileRows: Int

    /// Input channels each group reads.
    public let channelsPerGroup: Int
    /// Filters each group owns.
    public let filtersPerGroup: Int
    /// Elements of one input channel plane.
    public let inputPlane: Int
    /// Elements of one output channel plane.
    public let outputPlane: Int
    /// Elements of the kernel window.
    public let kernelVolume: Int
    /// Rows of the column matrix, and the inner dimension of the GEMM: C/group x kernel.
    public let columnRows: Int
    /// A 1x1, stride-1, unpadded convolution reads its input as the GEMM's right matrix directly.
    public let isPointwise: Bool

    /// Floats of im2col workspace one group of one image needs (none for pointwise convolutions).
    public var workspaceElements: Int {
        if usesWinograd { return 16 * (inputChannels + outputChannels) * winogradBandTileRows * winogradTileColumns }
        if isPointwise { return 0 }
        if inputSpatial.count == 2 { return columnRows * tileRows * outputSpatial[1] }
        return columnRows * outputPlane
    }

    /// Multiply-accumulates of the whole convolution.
    public var multiplyAccumulates: Int { batch * outputChannels * outputPlane * columnRows }
}
