import CResinKernels
import ResinIR

/// When a convolution runs as Winograd, and which.
public enum WinogradChoice: Sendable {
    /// Never: the filters are not constant, or the caller wants im2col.
    case never
    /// As the cost model of shapes and batch chooses (`WinogradPlan`): direct, F(2x2, 3x3) or F(4x4, 3x3), and
    /// for stride 2 direct or the stride-2 F(2x2, 3x3).
    case whenFaster
    /// F(2x2, 3x3) whenever the shape is eligible: the filters come already transformed (a native file's
    /// converter chose).
    case whenEligible
    /// F(4x4, 3x3) whenever the shape is eligible, likewise.
    case whenEligible4x4
    /// The stride-2 F(2x2, 3x3) whenever the shape is eligible, likewise.
    case whenEligibleStride2
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

    /// `workspaceLimit` caps the floats of im2col columns per band; tests lower it to exercise banding, and
    /// lower `implicitMinimumColumns` to reach the implicit kernels with small maps (images that end inside
    /// a register), and turn `padsInput` off to reach them with the strided shapes `readsPaddedInput` takes.
    public init(
        batch: Int, inputChannels: Int, outputChannels: Int, group: Int, inputSpatial: [Int], window: ResolvedWindow,
        workspaceLimit: Int = ConvolutionGeometry.workspaceLimit, winograd: WinogradChoice = .never,
        winogradWorkspaceLimit: Int = ConvolutionGeometry.winogradWorkspaceLimit,
        implicitMinimumColumns: Int = ConvolutionGeometry.implicitMinimumColumns, padsInput: Bool = true, threads: Int = 1
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
        runsDirectly = group == 1 && inputSpatial.count == 2 && window.strides == [2, 2] && window.dilations == [1, 1]
            && window.kernel[1] >= 3 && columnRows <= Int(RESIN_DIRECT_MAX_TAPS)
            && withUnsafePointer(to: ConvolutionGeometry.directShape(inputChannels, outputChannels, inputSpatial, window)) {
                resin_direct_conv_supported($0) != 0
            }
        // Decided from shapes only, per image.
        let unitKernel = window.kernel.allSatisfy { $0 == 1 } && window.padsBegin.allSatisfy { $0 == 0 }
            && window.padsEnd.allSatisfy { $0 == 0 }
        readsPaddedInput = padsInput && group == 1 && inputSpatial.count == 2 && !unitKernel && !runsDirectly
            && window.strides == [2, 2] && window.dilations == [1, 1] && kernelVolume <= Int(RESIN_PADDED_DIRECT_MAX_TAPS)
            && window.outputSizes[1] >= Int(RESIN_CHANNEL_TILE_COLUMNS_AVX512)
        implicitColumns = group == 1 && inputSpatial.count == 2 && !unitKernel && outputPlane > implicitMinimumColumns
            && !readsPaddedInput
        let plan = WinogradPlan(batch: batch, inputChannels: inputChannels, outputChannels: outputChannels, group: group,
                                inputSpatial: inputSpatial, window: window, choice: winograd, workspaceLimit: winogradWorkspaceLimit)
        winogradTile = plan.tile
        winogradStride = plan.stride
        winogradTileColumns = plan.tileColumns
        winogradBandTileRows = plan.bandTileRows
        let bandColumns = tileRows * (inputSpatial.count == 2 ? window.outputSizes[1] : 0)
        let panels = (outputChannels + PackedFilters.panel - 1) / PackedFilters.panel
        columnCopies = threads > 1 && group == 1 && inputSpatial.count == 2 && !isPointwise && !runsDirectly && !readsPaddedInput
            && !implicitColumns && plan.tile == 0 && bandColumns <= PackedFilters.maximumColumns
            && !Kernels.splitsColumns(m: outputChannels, n: bandColumns, threads: threads) && panels >= 2 * threads ? threads : 1
        let bandTiles = plan.bandTileRows * plan.tileColumns
        if threads > 1, plan.tile > 0, plan.stride == 1, panels >= 2 * threads, bandTiles > WinogradSchedule.targetTiles,
           (plan.tile + 2) * (plan.tile + 2) * inputChannels * bandTiles * 4 <= WinogradSchedule.inputCopyBytesLimit,
           WinogradSchedule(geometry: self, packed: true).blockTileRows == 0 {
            winogradInputCopies = threads
        }
    }

    /// Floats of Winograd transformed input and products one band may use (4 MiB). Every band of a phased
    /// convolution reads all the transformed filters, so more bands mean more passes over them: with 2 MiB,
    /// Wide ResNet-50-2's 14x14 512-channel layers ran in two bands and read their 16.8 MB of transforms twice;
    /// with 4 MiB they take one, and the whole model ran in 58 to 61 ms against 69 to 72 (2 threads, AVX-512,
    /// alternating, medians of 15). ResNet-50's largest band (its 14x14 stage's, 1.6 MB) fits either way.
    public static let winogradWorkspaceLimit = 1 << 20

    /// Output tile side when the convolution runs as Winograd: 2 for F(2x2, 3x3), 4 for F(4x4, 3x3); 0 when it
    /// does not (`WinogradPlan` chooses).
    public let winogradTile: Int
    /// The convolution's stride when it runs as Winograd: 1, or 2 for the stride-2 F(2x2, 3x3)
    /// (Kernels+WinogradStride2.swift).
    public let winogradStride: Int
    /// Whether the convolution runs as Winograd; the step then holds transformed weights.
    public var usesWinograd: Bool { winogradTile != 0 }
    /// Winograd: transformed positions per tile, `(tile + 2)^2` (16 or 36), or 25 at stride 2.
    public var winogradPositions: Int { winogradStride == 2 ? 25 : (winogradTile + 2) * (winogradTile + 2) }
    /// Winograd: distinct transformed filters, one per position but at stride 2, where 25 positions share 16.
    public var winogradFilterPositions: Int { winogradStride == 2 ? 16 : winogradPositions }
    /// Winograd: output tiles per tile row, and tile rows per band.
    public let winogradTileColumns: Int
    public let winogradBandTileRows: Int

    /// Floats of im2col columns one band may use (2 MiB).
    public static let workspaceLimit = 1 << 19

    /// Output rows per im2col band (2-D convolutions).
    public let tileRows: Int

    /// Copies of each im2col band, one per thread, when the band's product splits its panels over the threads
    /// (few columns, on the channel-vectorised tile: ResNet's 3x3 convolutions on 7x7 maps): each thread then
    /// copies the whole band itself and multiplies its own panels by its own copy, in one task, instead of
    /// the threads copying half each and then reading the other's half. When the host places the two cores of
    /// a virtual machine apart (a cache line's round trip about 330 ns instead of 65; Docs/PERFORMANCE.md),
    /// every line one core wrote and the other reads or overwrites costs a round trip, and the shared band
    /// (0.9 MB on ResNet-18's and ResNet-50's 512-channel 7x7 layers) made each of those layers about 0.3 ms
    /// slower apart than close. Measured on AMD EPYC Zen 4, 2 threads, alternating processes classified by
    /// round-trip probes, medians of paired ratios: ResNet-18 apart 0.965 of the time before (15.34 against
    /// 15.90 ms), close 0.992; ResNet-50 apart 0.991, close 1.000. The copies take workspace only where the
    /// activations are small (no model's arena grew), and the bits are the same: each column's sum runs in one
    /// tile in the same order. `threads` (the session's) of 1 keeps one shared band.
    public let columnCopies: Int

    /// Copies of a phased Winograd band's transformed input, one per thread, for the schedule split by filters
    /// (`Kernels.winogradConvolution`), which a session runs when its threads' cores are apart
    /// (`WorkerPool.coresApart`): each thread transforms the whole band's input into its own copy, multiplies its
    /// own panels of filters by it and transforms their products out, with no hand-over between the threads.
    /// Only stride-1 phased bands wider than a fused block (their products run on the packed product's tile
    /// on every instruction set, which takes a range of panels) whose transformed input fits
    /// `WinogradSchedule.inputCopyBytesLimit`, with at least two panels a thread; 1 elsewhere and on one thread.
    public private(set) var winogradInputCopies = 1

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

    /// Whether a convolution on packed filters (`PackedFilters`) that does not run as Winograd reads its
    /// product's columns straight from the input (`resin_gemm_gather`) instead of an im2col copy, and runs the
    /// whole batch as one product of `batch * outputPlane` columns (the filters read once, threads splitting
    /// columns across images). Only 2-D convolutions with more than `implicitMinimumColumns` output positions
    /// per image take it, whatever the batch:
    /// - Pointwise convolutions read their input directly anyway and run image by image: at batch 8 on 2
    ///   threads the 56x56 ones ran 1.2 to 1.7 times slower as one product (machine shared).
    /// - A 1x1 convolution with a stride (ResNet's downsampling) follows the pointwise rule: a subsample into
    ///   the workspace (the im2col band of a 1x1 kernel) then a pointwise product on a plain matrix, which
    ///   spares the stride-2 deinterleave in every block copy of every panel task: ResNet-50's 256x56x56 one
    ///   took 0.91 of the implicit path's CPU time (one thread, medians of 5 alternating runs, machine loaded).
    /// - Few columns per image keep im2col image by image, on the channel-vectorised tile, which reads a plain
    ///   matrix. Joining a batch of them (the rule until 2026-11) ran ResNet-50's 14x14 and 7x7 products at
    ///   batch 8 on the column tile with B far past the 1 MiB L2 (its 1024-channel 14x14 input is 6.4 MB): the
    ///   1024-to-256 products took 3.4 ms against 1.8 image by image, the 7x7 3x3s 6.1 against 4.2, and the
    ///   whole model at batch 8 169 to 172 ms against 151 to 156 (AMD EPYC Zen 5, 2 threads, alternating).
    /// Measured on ResNet-50 (`resin bench-kernels`, one core, AVX-512, alternating with the im2col build,
    /// machine shared, so single figures move by 30%): the stem 1.1 to 2.3 times the GFLOP/s, the 3x3
    /// stride-2 convolutions 0.9 to 2.1, strided 1x1 0.9 to 1.6, batch 8's 7x7-map products unchanged.
    public let implicitColumns: Bool
    /// Columns from which implicit columns run (above the packed product's switch to its column tile).
    public static let implicitMinimumColumns = PackedFilters.maximumColumns

    /// Whether a convolution on packed filters runs on the direct kernel of few channels (`direct_conv_*.c`,
    /// `Kernels.directConvolution`): ungrouped, 2-D, stride 2, no dilation, a kernel at least 3 wide and at most
    /// `RESIN_DIRECT_MAX_TAPS` taps (channels x kernel): ResNet's 7x7 stem. It ran 1.4 times as fast as the
    /// implicit columns on one core (C benchmark of the stem alone, minimums of 60 alternating runs, machine
    /// shared). Shapes only, so every processor and instruction set takes the same path.
    public let runsDirectly: Bool

    /// The shape the direct kernels take, the convolution as one group of one image, without epilogue.
    static func directShape(_ inputChannels: Int, _ outputChannels: Int, _ inputSpatial: [Int], _ window: ResolvedWindow)
        -> resin_grouped_conv_shape {
        let outputSpatial = window.outputSizes
        return resin_grouped_conv_shape(
            channels: inputChannels, filters: outputChannels,
            input_height: inputSpatial[0], input_width: inputSpatial[1],
            output_height: outputSpatial[0], output_width: outputSpatial[1],
            kernel_height: window.kernel[0], kernel_width: window.kernel[1],
            stride_height: window.strides[0], stride_width: window.strides[1],
            dilation_height: window.dilations[0], dilation_width: window.dilations[1],
            pad_top: window.padsBegin[0], pad_left: window.padsBegin[1],
            activation_min: -.infinity, activation_max: .infinity, accumulate: 0)
    }

    /// Whether a convolution runs on implicit columns given packed filters or not.
    public func readsImplicitColumns(packed: Bool) -> Bool { packed && implicitColumns && !usesWinograd }

    /// Whether a convolution on packed filters copies each image's input with its padding into the workspace
    /// and runs on the channel-vectorised tile reading that copy in place (`RESIN_PADDED_DIRECT_MAX_TAPS`,
    /// `Kernels.paddedDirectConvolution`): ungrouped 2-D convolutions of stride 2, no dilation, at most 49
    /// taps and at least 14 outputs a row (one tile's width on AVX-512), but the stem that runs directly.
    /// Shapes only, so every instruction set takes the same path and plans the same workspace; the portable
    /// kernel gathers from the copy as from implicit columns.
    public let readsPaddedInput: Bool

    /// The padded copy of one image's input `readsPaddedInput` reads: rows and columns of the padded
    /// planes, exactly those the windows cover.
    public var paddedInputSpatial: [Int] {
        (0..<2).map { (outputSpatial[$0] - 1) * window.strides[$0] + (window.kernel[$0] - 1) * window.dilations[$0] + 1 }
    }

    /// Floats of one image's padded input (`readsPaddedInput`), else 0.
    var paddedInputElements: Int { readsPaddedInput ? inputChannels * paddedInputSpatial.reduce(1, *) : 0 }

    /// Floats of workspace when the filters are packed: none when the columns are implicit, one image's padded
    /// input when `readsPaddedInput`.
    public var packedWorkspaceElements: Int {
        if readsPaddedInput { return paddedInputElements }
        return readsImplicitColumns(packed: true) || runsDirectly ? 0 : workspaceElements
    }

    /// Floats of im2col workspace one group of one image needs (none for pointwise convolutions), or of the
    /// padded input when that is more: filters packed when a session binds them (an `.onnx` model's) take the
    /// packed path on a workspace planned without knowing they would be packed.
    public var workspaceElements: Int {
        if usesWinograd { return WinogradSchedule.workspaceElements(self) }
        if isPointwise { return 0 }
        if inputSpatial.count == 2 { return max(columnRows * tileRows * outputSpatial[1] * columnCopies, paddedInputElements) }
        return columnRows * outputPlane
    }

    /// Multiply-accumulates of the whole convolution.
    public var multiplyAccumulates: Int { batch * outputChannels * outputPlane * columnRows }
}
