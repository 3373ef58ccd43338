import CResinKernels
import ResinIR

/// What a convolution does to its output after the GEMMs, in one pass per output channel plane:
/// `y = activation(y + bias[c] + skip)`.
///
/// When `skip` is the output itself, the convolution runs in place: the output already holds the residual,
/// the GEMMs accumulate onto it (`beta = 1`), and the pass adds only the bias and applies the activation.
public struct ConvolutionEpilogue: Equatable {
    /// `[M]`, or nil.
    public var bias: UnsafePointer<Float>?
    /// The residual, shaped like the output; nil for none.
    public var skip: UnsafePointer<Float>?
    public var activation: FusedActivation

    public init(bias: UnsafePointer<Float>? = nil, skip: UnsafePointer<Float>? = nil, activation: FusedActivation = .none) {
        self.bias = bias
        self.skip = skip
        self.activation = activation
    }
}

extension Kernels {
    /// Convolution as im2col then GEMM (Docs/DESIGN.md): for each image and group, the input patches become the
    /// columns of a `[C/group * kernel, outputPlane]` matrix in `workspace`, and one sgemm with the
    /// filters `[M/group, C/group * kernel]` (the weight's own layout, so nothing is repacked) writes the
    /// output plane rows. A pointwise convolution skips im2col and multiplies the input directly. On packed
    /// filters, a convolution with many columns skips it too (`ConvolutionGeometry.implicitColumns`).
    ///
    /// - Parameters:
    ///   - input: `[N, C, spatial...]`.
    ///   - weight: `[M, C/group, kernel...]`.
    ///   - bias: `[M]`, or nil.
    ///   - output: `[N, M, outputSpatial...]`.
    ///   - workspace: `geometry.workspaceElements` floats.
    ///   - pool: threads for im2col (split by input channel) and the GEMM (split by rows or columns).
    public static func convolution(
        input: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
        output: UnsafeMutablePointer<Float>, geometry: ConvolutionGeometry, workspace: UnsafeMutablePointer<Float>?,
        pool: WorkerPool? = nil
    ) {
        convolution(input: input, weight: weight, output: output, geometry: geometry, epilogue: ConvolutionEpilogue(bias: bias),
                    workspace: workspace, pool: pool)
    }

    /// Convolution with an epilogue: `output = activation(conv(input, weight) + bias + skip)`.
    ///
    /// `output` must not alias `input`, `weight` or `workspace`; it may be `epilogue.skip` (in-place residual
    /// accumulation), and then it holds the residual on entry. `transformedWeight` are the Winograd filters
    /// when `geometry.usesWinograd`, or `packedTransformedWeight` the same packed for Resin's own kernel
    /// (`PackedFilters.packWinograd`); `packedWeight`, the filters packed for Resin's own kernel
    /// (`PackedFilters`), replace OpenBLAS for the products of an ungrouped convolution, and that kernel then
    /// applies the epilogue to each tile before its store (no pass over the output follows). `instructionSet`
    /// picks the kernel (tests run each set the processor has). Other parameters as in the plain entry.
    public static func convolution(
        input: UnsafePointer<Float>, weight: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
        geometry: ConvolutionGeometry, epilogue: ConvolutionEpilogue, workspace: UnsafeMutablePointer<Float>?,
        pool: WorkerPool? = nil, transformedWeight: UnsafePointer<Float>? = nil, packedTransformedWeight: UnsafePointer<Float>? = nil,
        packedWeight: UnsafePointer<Float>? = nil, instructionSet: InstructionSet = .active
    ) {
        // Grouped 2-D convolutions run on Resin's direct kernels (Kernels+GroupedConvolution.swift).
        if geometry.group > 1, groupedConvolution(input: input, weight: weight, output: output, geometry: geometry, epilogue: epilogue,
                                                  pool: pool, instructionSet: instructionSet) { return }
        let filters = geometry.filtersPerGroup
        let rows = geometry.columnRows
        let inputPlane = geometry.inputPlane
        let outputPlane = geometry.outputPlane
        let pointwise = geometry.isPointwise
        // In place: the output holds the residual, so the GEMMs add onto it instead of overwriting it.
        var accumulates = false
        if let skip = epilogue.skip { accumulates = skip == UnsafePointer(output) }
        let beta: Float = accumulates ? 1 : 0
        if geometry.usesWinograd, let transforms = packedTransformedWeight ?? transformedWeight, let workspace {
            // The output transform applies the epilogue.
            Kernels.winogradConvolution(
                input: input, transformedWeight: transforms, packedTransforms: packedTransformedWeight != nil, output: output,
                geometry: geometry, epilogue: epilogue, skip: epilogue.skip, accumulates: accumulates, workspace: workspace,
                pool: pool ?? .serial, instructionSet: instructionSet)
            return
        }
        if let packedWeight, geometry.readsImplicitColumns(packed: true) {
            implicitConvolution(input: input, packedWeight: packedWeight, output: output, geometry: geometry, epilogue: epilogue,
                                pool: pool, instructionSet: instructionSet)
            return
        }
        let bands = geometry.inputSpatial.count == 2 && !pointwise
        let bandRows = bands ? geometry.tileRows : 1
        let outputRows = bands ? geometry.outputSpatial[0] : 1
        let outputWidth = bands ? geometry.outputSpatial[1] : outputPlane
        for image in 0..<geometry.batch {
            for group in 0..<geometry.group {
                let source = input + (image * geometry.inputChannels + group * geometry.channelsPerGroup) * inputPlane
                let destination = output + (image * geometry.outputChannels + group * filters) * outputPlane
                let filterBlock = weight + group * filters * rows
                var firstRow = 0
                while firstRow < outputRows {
                    // One band of output rows (all of them when not tiling): im2col, then one GEMM.
                    let rowCount = bands ? min(bandRows, outputRows - firstRow) : 1
                    let columnCount = bands ? rowCount * outputWidth : outputPlane
                    let columns: UnsafePointer<Float>
                    if pointwise {
                        columns = source
                    } else if let pool, pool.threads > 1, rows * columnCount >= 1 << 16,
                              geometry.channelsPerGroup > 1 || (bands && rowCount > 1) {
                        // Split by input channel, or, when there are fewer channels than tasks want (the stem's 3),
                        // by output rows of the band: 3 channel tasks left one of 2 threads idle a third of the time.
                        let byRows = bands && geometry.channelsPerGroup < 2 * pool.threads && rowCount >= 2 * pool.threads
                        let tasks = byRows ? min(rowCount, pool.threads * 4) : min(geometry.channelsPerGroup, pool.threads * 4)
                        var split = Im2colSplit(input: source, geometry: geometry, columns: workspace!, tasks: tasks,
                                                firstRow: firstRow, rowCount: rowCount, byRows: byRows)
                        withUnsafePointer(to: &split) { context in
                            pool.forEach(tasks, context: context) { raw, task in
                                let s = raw.assumingMemoryBound(to: Im2colSplit.self).pointee
                                if s.byRows {
                                    let first = task * s.rowCount / s.tasks, last = (task + 1) * s.rowCount / s.tasks
                                    let width = s.geometry.outputSpatial[1]
                                    Kernels.im2col(s.input, channels: 0..<s.geometry.channelsPerGroup, geometry: s.geometry,
                                                   rows: (s.firstRow + first)..<(s.firstRow + last), into: s.columns + first * width,
                                                   rowStride: s.rowCount * width)
                                    return
                                }
                                let channels = s.geometry.channelsPerGroup
                                let first = task * channels / s.tasks
                                let last = (task + 1) * channels / s.tasks
                                let bandColumns = s.geometry.inputSpatial.count == 2 ? s.rowCount * s.geometry.outputSpatial[1] : s.geometry.outputPlane
                                Kernels.im2col(s.input, channels: first..<last, geometry: s.geometry, rows: s.firstRow..<(s.firstRow + s.rowCount),
                                               into: s.columns + first * s.geometry.kernelVolume * bandColumns)
                            }
                        }
                        columns = UnsafePointer(workspace!)
                    } else {
                        im2col(source, channels: 0..<geometry.channelsPerGroup, geometry: geometry, rows: firstRow..<(firstRow + rowCount),
                               into: workspace!)
                        columns = UnsafePointer(workspace!)
                    }
                    let target = destination + firstRow * outputWidth
                    if let packedWeight, geometry.group == 1 {
                        // The epilogue runs in the kernel, on each tile before its store.
                        let skip = epilogue.skip.map { $0 + (target - output) }
                        let bounds = epilogue.activation.bounds
                        let problem = resin_gemm_problem(
                            m: filters, n: columnCount, k: rows, packed: packedWeight, b: columns, ldb: columnCount, c: target, ldc: outputPlane,
                            epilogue: resin_gemm_epilogue(bias: epilogue.bias, skip: skip, min: bounds.min, max: bounds.max))
                        fusedGEMM(pool: pool, problem: problem, instructionSet: instructionSet)
                    } else if let pool {
                        parallelSGEMM(pool: pool, m: filters, n: columnCount, k: rows, a: filterBlock, lda: rows,
                                      b: columns, ldb: columnCount, beta: beta, c: target, ldc: outputPlane)
                    } else {
                        sgemm(m: filters, n: columnCount, k: rows, a: filterBlock, lda: rows,
                              b: columns, ldb: columnCount, beta: beta, c: target, ldc: outputPlane)
                    }
                    firstRow += bands ? rowCount : outputRows
                }
            }
        }
        if packedWeight == nil || geometry.group != 1 {
            finish(output: output, geometry: geometry, epilogue: epilogue, accumulates: accumulates, pool: pool)
        }
    }

    /// A convolution on packed filters as one fused product over the whole batch whose columns the kernel
    /// reads straight from the input (`ConvolutionGeometry.implicitColumns`): no im2col, no workspace, and
    /// the epilogue in the kernel. A pointwise convolution is described as one row per image.
    private static func implicitConvolution(
        input: UnsafePointer<Float>, packedWeight: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
        geometry: ConvolutionGeometry, epilogue: ConvolutionEpilogue, pool: WorkerPool?, instructionSet: InstructionSet
    ) {
        let window = geometry.window
        let flat = geometry.isPointwise
        var gather = resin_gemm_gather(
            input: input, channels: geometry.inputChannels,
            input_height: flat ? 1 : geometry.inputSpatial[0], input_width: flat ? geometry.inputPlane : geometry.inputSpatial[1],
            output_height: flat ? 1 : geometry.outputSpatial[0], output_width: flat ? geometry.outputPlane : geometry.outputSpatial[1],
            kernel_height: flat ? 1 : window.kernel[0], kernel_width: flat ? 1 : window.kernel[1],
            stride_height: flat ? 1 : window.strides[0], stride_width: flat ? 1 : window.strides[1],
            dilation_height: flat ? 1 : window.dilations[0], dilation_width: flat ? 1 : window.dilations[1],
            pad_top: flat ? 0 : window.padsBegin[0], pad_left: flat ? 0 : window.padsBegin[1],
            input_image_stride: geometry.inputChannels * geometry.inputPlane,
            output_image_stride: geometry.outputChannels * geometry.outputPlane)
        let bounds = epilogue.activation.bounds
        withUnsafePointer(to: &gather) { gather in
            let problem = resin_gemm_problem(
                m: geometry.outputChannels, n: geometry.batch * geometry.outputPlane, k: geometry.columnRows, packed: packedWeight,
                b: nil, ldb: 0, c: output, ldc: geometry.outputPlane,
                epilogue: resin_gemm_epilogue(bias: epilogue.bias, skip: epilogue.skip, min: bounds.min, max: bounds.max), gather: gather)
            fusedGEMM(pool: pool, problem: problem, instructionSet: instructionSet)
        }
    }

    /// The epilogue pass over the whole output, split over the pool by planes when large.
    private static func finish(
        output: UnsafeMutablePointer<Float>, geometry: ConvolutionGeometry, epilogue: ConvolutionEpilogue, accumulates: Bool,
        pool: WorkerPool?
    ) {
        let outputPlane = geometry.outputPlane
        var pass = EpiloguePass(output: output, bias: epilogue.bias, skip: accumulates ? nil : epilogue.skip,
                                activation: epilogue.activation, channels: geometry.outputChannels,
                                planes: geometry.batch * geometry.outputChannels, plane: outputPlane, tasks: 1)
        if pass.bias == nil, pass.skip == nil, case .none = pass.activation { return }
        let tasks = pool?.taskCount(forElements: pass.planes * outputPlane) ?? 1
        guard let pool, tasks > 1, pass.planes > 1 else {
            pass.run(planes: 0..<pass.planes)
            return
        }
        pass.tasks = min(tasks, pass.planes)
        let taskCount = pass.tasks
        withUnsafePointer(to: &pass) { context in
            pool.forEach(taskCount, context: context) { raw, task in
                let pass = raw.assumingMemoryBound(to: EpiloguePass.self).pointee
                pass.run(planes: (task * pass.planes / pass.tasks)..<((task + 1) * pass.planes / pass.tasks))
            }
        }
    }

    /// The epilogue over a range of output planes: what every task shares.
    fileprivate struct EpiloguePass {
        var output: UnsafeMutablePointer<Float>
        var bias: UnsafePointer<Float>?
        /// Nil when there is none or the output already holds it.
        var skip: UnsafePointer<Float>?
        var activation: FusedActivation
        var channels: Int
        /// Planes of the whole output (`N * M`) and elements of each.
        var planes: Int
        var plane: Int
        var tasks: Int

        /// One pass per plane: add, then clamp, while the plane's elements are in registers.
        func run(planes range: Range<Int>) {
            for index in range {
                let y = output + index * plane
                let term = bias?[index % channels] ?? 0
                var skipPlane: UnsafePointer<Float>?
                if let skip { skipPlane = skip + index * plane }
                let bounds = activation.bounds
                Kernels.epilogue(y, skipPlane, bias: term, count: plane, min: bounds.min, max: bounds.max)
            }
        }
    }

    /// `y = clamp(y + bias + skip)` over `count` floats, with Clip's rules (NaN passes, a NaN bound clamps
    /// nothing); `skip` may be nil. Infinite bounds clamp nothing, so no activation needs no other loop.
    @inline(__always)
    static func epilogue(
        _ y: UnsafeMutablePointer<Float>, _ skip: UnsafePointer<Float>?, bias: Float, count: Int, min minimum: Float, max maximum: Float
    ) {
        if let skip {
            for index in 0..<count {
                var value = y[index] + bias + skip[index]
                if value < minimum { value = minimum }
                if value > maximum { value = maximum }
                y[index] = value
            }
        } else {
            for index in 0..<count {
                var value = y[index] + bias
                if value < minimum { value = minimum }
                if value > maximum { value = maximum }
                y[index] = value
            }
        }
    }

    /// im2col split by input channel: what every task shares.
    fileprivate struct Im2colSplit {
        var input: UnsafePointer<Float>
        var geometry: ConvolutionGeometry
        var columns: UnsafeMutablePointer<Float>
        var tasks: Int
        /// The band of output rows (2-D convolutions).
        var firstRow: Int
        var rowCount: Int
        /// Tasks split the band's output rows instead of the input channels.
        var byRows: Bool
    }

    /// Writes the patches of one group's input channels as columns: row `(c, kernel offset)`, column
    /// `output position`; positions that fall in the padding read zero.
    /// Only the rows of `channels` are written, starting at `columns`, so channel ranges can run in parallel.
    /// For 2-D convolutions only the output rows in `rows` are written (a band), each matrix row then
    /// holding `rows.count * outputWidth` columns, or `rowStride` when given (a task writing part of a band's
    /// rows); other ranks always write every position.
    static func im2col(
        _ input: UnsafePointer<Float>, channels: Range<Int>, geometry: ConvolutionGeometry, rows: Range<Int>,
        into columns: UnsafeMutablePointer<Float>, rowStride: Int? = nil
    ) {
        let window = geometry.window
        let input = input + channels.lowerBound * geometry.inputPlane
        if geometry.inputSpatial.count == 2 {
            im2col2D(input, channels: channels.count,
                     height: geometry.inputSpatial[0], width: geometry.inputSpatial[1],
                     firstRow: rows.lowerBound, rowCount: rows.count, outputWidth: geometry.outputSpatial[1],
                     kernelHeight: window.kernel[0], kernelWidth: window.kernel[1],
                     strideHeight: window.strides[0], strideWidth: window.strides[1],
                     dilationHeight: window.dilations[0], dilationWidth: window.dilations[1],
                     padTop: window.padsBegin[0], padLeft: window.padsBegin[1], into: columns,
                     rowStride: rowStride ?? rows.count * geometry.outputSpatial[1])
        } else {
            im2colGeneric(input, channels: channels.count, geometry: geometry, into: columns)
        }
    }

    // swiftlint:disable:next function_parameter_count
    static func im2col2D(
        _ input: UnsafePointer<Float>, channels: Int, height: Int, width: Int, firstRow: Int, rowCount: Int, outputWidth: Int,
        kernelHeight: Int, kernelWidth: Int, strideHeight: Int, strideWidth: Int,
        dilationHeight: Int, dilationWidth: Int, padTop: Int, padLeft: Int, into columns: UnsafeMutablePointer<Float>,
        rowStride: Int
    ) {
        var row = columns
        for channel in 0..<channels {
            let plane = input + channel * height * width
            for kh in 0..<kernelHeight {
                for kw in 0..<kernelWidth {
                    let columnOffset = kw * dilationWidth - padLeft
                    // Output columns whose input column lies inside [0, width).
                    let firstInside = columnOffset >= 0 ? 0 : (-columnOffset + strideWidth - 1) / strideWidth
                    let lastInside = width - 1 - columnOffset < 0 ? -1 : min(outputWidth - 1, (width - 1 - columnOffset) / strideWidth)
                    for band in 0..<rowCount {
                        let ih = (firstRow + band) * strideHeight - padTop + kh * dilationHeight
                        let out = row + band * outputWidth
                        if ih < 0 || ih >= height || lastInside < firstInside {
                            out.update(repeating: 0, count: outputWidth)
                            continue
                        }
                        let source = plane + ih * width + columnOffset
                        if firstInside > 0 { out.update(repeating: 0, count: firstInside) }
                        if strideWidth == 1 {
                            (out + firstInside).update(from: source + firstInside, count: lastInside - firstInside + 1)
                        } else {
                            var ow = firstInside
                            while ow <= lastInside {
                                out[ow] = source[ow * strideWidth]
                                ow += 1
                            }
                        }
                        if lastInside + 1 < outputWidth {
                            (out + lastInside + 1).update(repeating: 0, count: outputWidth - lastInside - 1)
                        }
                    }
                    row += rowStride
                }
            }
        }
    }

    /// im2col for any number of spatial axes (1-D and 3-D convolutions), by odometer over positions.
    static func im2colGeneric(
        _ input: UnsafePointer<Float>, channels: Int, geometry: ConvolutionGeometry, into columns: UnsafeMutablePointer<Float>
    ) {
        let window = geometry.window
        let rank = geometry.inputSpatial.count
        let inputSpatial = geometry.inputSpatial
        let outputSpatial = geometry.outputSpatial
        let outputPlane = geometry.outputPlane
        let kernelVolume = geometry.kernelVolume
        // Stack scratch: the kernel runs every inference and must not touch the heap.
        withUnsafeTemporaryAllocation(of: Int.self, capacity: 2 * rank) { scratch in
        let kernelIndex = scratch.baseAddress!
        let outputIndex = scratch.baseAddress! + rank
        for channel in 0..<channels {
            let plane = input + channel * geometry.inputPlane
            for k in 0..<kernelVolume {
                var rest = k
                for axis in stride(from: rank - 1, through: 0, by: -1) {
                    kernelIndex[axis] = rest % window.kernel[axis]
                    rest /= window.kernel[axis]
                }
                let row = columns + (channel * kernelVolume + k) * outputPlane
                for position in 0..<outputPlane {
                    var rest = position
                    for axis in stride(from: rank - 1, through: 0, by: -1) {
                        outputIndex[axis] = rest % outputSpatial[axis]
                        rest /= outputSpatial[axis]
                    }
                    var offset = 0
                    var inside = true
                    for axis in 0..<rank {
                        let coordinate = outputIndex[axis] * window.strides[axis] - window.padsBegin[axis]
                            + kernelIndex[axis] * window.dilations[axis]
                        if coordinate < 0 || coordinate >= inputSpatial[axis] { inside = false; break }
                        offset = offset * inputSpatial[axis] + coordinate
                    }
                    row[position] = inside ? plane[offset] : 0
                }
            }
        }
        }
    }
}

extension FusedActivation {
    /// The activation as clamp bounds; infinite bounds clamp nothing.
    var bounds: (min: Float, max: Float) {
        switch self {
        case .none: (-.infinity, .infinity)
        case .relu: (0, .infinity)
        case .clip(let minimum, let maximum): (minimum, maximum)
        }
    }
}
