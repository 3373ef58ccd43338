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
        if let packedWeight, geometry.runsDirectly {
            directConvolution(input: input, packedWeight: packedWeight, output: output, geometry: geometry, epilogue: epilogue,
                              pool: pool, instructionSet: instructionSet)
            return
        }
        if let packedWeight, geometry.readsPaddedInput, let workspace {
            paddedDirectConvolution(input: input, packedWeight: packedWeight, output: output, geometry: geometry, epilogue: epilogue,
                                    workspace: workspace, pool: pool, instructionSet: instructionSet)
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
                    // With a band per thread (`columnCopies`) each thread copies its own inside the product.
                    let ownCopies = bands && packedWeight != nil && geometry.columnCopies > 1 && (pool?.threads ?? 1) > 1
                    let columns: UnsafePointer<Float>
                    if pointwise {
                        columns = source
                    } else if ownCopies {
                        columns = UnsafePointer(workspace!)
                    } else if bands {
                        bandIm2col(source, geometry: geometry, firstRow: firstRow, rowCount: rowCount, into: workspace!, pool: pool,
                                   instructionSet: instructionSet)
                        columns = UnsafePointer(workspace!)
                    } else if let pool, pool.threads > 1, rows * columnCount >= 1 << 16, geometry.channelsPerGroup > 1 {
                        // 1-D and 3-D convolutions: split by input channel.
                        let tasks = min(geometry.channelsPerGroup, pool.threads * 4)
                        var split = Im2colSplit(input: source, geometry: geometry, columns: workspace!, tasks: tasks)
                        withUnsafePointer(to: &split) { context in
                            pool.forEach(tasks, context: context) { raw, task in
                                let s = raw.assumingMemoryBound(to: Im2colSplit.self).pointee
                                let channels = s.geometry.channelsPerGroup
                                let first = task * channels / s.tasks
                                let last = (task + 1) * channels / s.tasks
                                Kernels.im2colGeneric(s.input + first * s.geometry.inputPlane, channels: last - first, geometry: s.geometry,
                                                      into: s.columns + first * s.geometry.kernelVolume * s.geometry.outputPlane)
                            }
                        }
                        columns = UnsafePointer(workspace!)
                    } else {
                        im2colGeneric(source, channels: geometry.channelsPerGroup, geometry: geometry, into: workspace!)
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
                        if ownCopies, let pool {
                            ownColumnsProduct(source, geometry: geometry, firstRow: firstRow, problem: problem, copies: workspace!,
                                              pool: pool, instructionSet: instructionSet)
                        } else {
                            fusedGEMM(pool: pool, problem: problem, instructionSet: instructionSet)
                        }
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
        var gather = implicitColumns(of: input, geometry: geometry)
        let bounds = epilogue.activation.bounds
        withUnsafePointer(to: &gather) { gather in
            let problem = resin_gemm_problem(
                m: geometry.outputChannels, n: geometry.batch * geometry.outputPlane, k: geometry.columnRows, packed: packedWeight,
                b: nil, ldb: 0, c: output, ldc: geometry.outputPlane,
                epilogue: resin_gemm_epilogue(bias: epilogue.bias, skip: epilogue.skip, min: bounds.min, max: bounds.max), gather: gather)
            fusedGEMM(pool: pool, problem: problem, instructionSet: instructionSet)
        }
    }

    /// The product's columns as the kernels read them straight from `input` (`resin_gemm_gather`): the whole
    /// batch, or one group of one image when `input` points at it and `geometry` is that group's. A pointwise
    /// convolution is described as one row per image.
    static func implicitColumns(of input: UnsafePointer<Float>, geometry: ConvolutionGeometry, channels: Int? = nil) -> resin_gemm_gather {
        let window = geometry.window
        let flat = geometry.isPointwise
        return resin_gemm_gather(
            input: input, channels: channels ?? geometry.inputChannels,
            input_height: flat ? 1 : geometry.inputSpatial[0], input_width: flat ? geometry.inputPlane : geometry.inputSpatial[1],
            output_height: flat ? 1 : geometry.outputSpatial[0], output_width: flat ? geometry.outputPlane : geometry.outputSpatial[1],
            kernel_height: flat ? 1 : window.kernel[0], kernel_width: flat ? 1 : window.kernel[1],
            stride_height: flat ? 1 : window.strides[0], stride_width: flat ? 1 : window.strides[1],
            dilation_height: flat ? 1 : window.dilations[0], dilation_width: flat ? 1 : window.dilations[1],
            pad_top: flat ? 0 : window.padsBegin[0], pad_left: flat ? 0 : window.padsBegin[1],
            input_image_stride: geometry.inputChannels * geometry.inputPlane,
            output_image_stride: geometry.outputChannels * geometry.outputPlane, padded_direct: 0)
    }

    /// One band of output rows of a 2-D convolution's im2col, for one group of one image (`source` its first
    /// input channel), written by the kernels' copy (stride-2 rows deinterleaved in registers) into
    /// `columns` (`[C/group * kernel, rowCount * outputWidth]`). Threads split the matrix's rows evenly, so
    /// both threads copy alike whatever the channel count (the stem's 3 channels are 147 rows). Against the
    /// scalar Swift copy it replaced, whole convolutions took 0.78 (ResNet-50's 256x28x28 3x3 stride 2), 0.91
    /// (512x14x14) and 0.86 (ResNet-18's 128x28x28) of the CPU time (one thread, medians of 5 alternating
    /// runs, machine loaded by 3 other builds); its im2col is still 13% of the first one's time.
    private static func bandIm2col(
        _ source: UnsafePointer<Float>, geometry: ConvolutionGeometry, firstRow: Int, rowCount: Int,
        into columns: UnsafeMutablePointer<Float>, pool: WorkerPool?, instructionSet: InstructionSet
    ) {
        var split = BandIm2col(gather: implicitColumns(of: source, geometry: geometry, channels: geometry.channelsPerGroup),
                               columns: columns, firstColumn: firstRow * geometry.outputSpatial[1],
                               count: rowCount * geometry.outputSpatial[1], rows: geometry.columnRows, tasks: 1,
                               instructionSet: instructionSet)
        // Below 64 Ki floats the copy takes a few microseconds: not worth waking a thread.
        if let pool, pool.threads > 1, split.rows * split.count >= 1 << 16 { split.tasks = min(pool.threads, split.rows) }
        let tasks = split.tasks
        withUnsafePointer(to: &split) { context in
            (pool ?? .serial).forEach(tasks, context: context) { raw, task in
                let s = raw.assumingMemoryBound(to: BandIm2col.self)
                let first = task * s.pointee.rows / s.pointee.tasks, last = (task + 1) * s.pointee.rows / s.pointee.tasks
                withUnsafePointer(to: s.pointee.gather) { gather in
                    s.pointee.instructionSet.im2col(gather, columns: s.pointee.firstColumn..<(s.pointee.firstColumn + s.pointee.count),
                                                    rows: first..<last, into: s.pointee.columns + first * s.pointee.count,
                                                    rowStride: s.pointee.count)
                }
            }
        }
    }

    /// One band's product split over the threads by panels, each thread copying the whole band into its own
    /// copy in `copies` (`ConvolutionGeometry.columnCopies`) and multiplying its panels by it, in one task: no
    /// line of the band passes between the cores. `problem.b` is the first copy; task `t` copies into and reads
    /// copy `t`.
    private static func ownColumnsProduct(
        _ source: UnsafePointer<Float>, geometry: ConvolutionGeometry, firstRow: Int, problem: resin_gemm_problem,
        copies: UnsafeMutablePointer<Float>, pool: WorkerPool, instructionSet: InstructionSet
    ) {
        let tasks = min(pool.threads, geometry.columnCopies)
        var split = OwnColumns(problem: problem, gather: implicitColumns(of: source, geometry: geometry, channels: geometry.channelsPerGroup),
                               firstColumn: firstRow * geometry.outputSpatial[1], copies: copies, tasks: tasks, instructionSet: instructionSet)
        withUnsafePointer(to: &split) { context in
            pool.forEach(tasks, context: context) { raw, task in
                let s = raw.assumingMemoryBound(to: OwnColumns.self)
                var problem = s.pointee.problem
                let copy = s.pointee.copies + task * problem.n * problem.k
                problem.b = UnsafePointer(copy)
                withUnsafePointer(to: s.pointee.gather) { gather in
                    s.pointee.instructionSet.im2col(gather, columns: s.pointee.firstColumn..<(s.pointee.firstColumn + problem.n),
                                                    rows: 0..<problem.k, into: copy, rowStride: problem.n)
                }
                let panels = (problem.m + PackedFilters.panel - 1) / PackedFilters.panel, tasks = s.pointee.tasks
                withUnsafePointer(to: problem) { problem in
                    s.pointee.instructionSet.fusedGEMM(problem, panels: (task * panels / tasks)..<((task + 1) * panels / tasks),
                                                       columns: 0..<problem.pointee.n)
                }
            }
        }
    }

    /// What every task of `ownColumnsProduct` shares.
    private struct OwnColumns {
        var problem: resin_gemm_problem
        var gather: resin_gemm_gather
        /// The band's first column.
        var firstColumn: Int
        var copies: UnsafeMutablePointer<Float>
        var tasks: Int
        var instructionSet: InstructionSet
    }

    /// What every task of a band's im2col shares.
    private struct BandIm2col {
        var gather: resin_gemm_gather
        var columns: UnsafeMutablePointer<Float>
        /// The band's first column and its column count (the matrix's row stride).
        var firstColumn: Int, count: Int
        /// Rows of the matrix, split over `tasks`.
        var rows: Int, tasks: Int
        var instructionSet: InstructionSet
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

    /// im2col of a 1-D or 3-D convolution split by input channel: what every task shares.
    fileprivate struct Im2colSplit {
        var input: UnsafePointer<Float>
        var geometry: ConvolutionGeometry
        var columns: UnsafeMutablePointer<Float>
        var tasks: Int
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
