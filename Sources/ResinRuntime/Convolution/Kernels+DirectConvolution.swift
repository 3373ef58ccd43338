import CResinKernels
import ResinIR

extension Kernels {
    /// An ungrouped convolution with few filter taps and stride 2 along rows (ResNet's 7x7 stem,
    /// `ConvolutionGeometry.runsDirectly`) on the direct kernels (`direct_conv_*.c`), on its packed filters,
    /// epilogue included.
    ///
    /// The packed product on implicit columns gathered and deinterleaved the stem's 147 rows of inputs for every
    /// block of 48 columns and reused each block for only 64 filters (8 row tiles). Here each band of input rows
    /// is split into stride phases once, and threads split the output rows of the whole batch evenly, so both
    /// do the same work and nothing is copied twice (but the few input rows two bands share).
    /// Parameters as in `convolution(input:weight:output:geometry:epilogue:...)`.
    static func directConvolution(
        input: UnsafePointer<Float>, packedWeight: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
        geometry: ConvolutionGeometry, epilogue: ConvolutionEpilogue, pool: WorkerPool?, instructionSet: InstructionSet
    ) {
        var accumulates = false
        if let skip = epilogue.skip { accumulates = skip == UnsafePointer(output) }
        var split = DirectSplit(
            shape: geometry.directShape(activation: epilogue.activation, accumulates: accumulates),
            kernel: instructionSet.kernels.pointee.direct_conv, input: input, packed: packedWeight, bias: epilogue.bias,
            skip: accumulates ? nil : epilogue.skip, output: output, geometry: geometry, tasks: 1)
        let rows = geometry.batch * geometry.outputSpatial[0]
        guard let pool, pool.threads > 1, rows > 1 else {
            split.run(0)
            return
        }
        split.tasks = min(pool.threads, rows)
        let tasks = split.tasks
        withUnsafePointer(to: &split) { context in
            pool.forEach(tasks, context: context) { raw, task in
                raw.assumingMemoryBound(to: DirectSplit.self).pointee.run(task)
            }
        }
    }

    /// The direct convolution's output rows over the whole batch, split into `tasks` even runs: what every
    /// task shares.
    fileprivate struct DirectSplit {
        var shape: resin_grouped_conv_shape
        var kernel: resin_direct_conv_fn
        var input: UnsafePointer<Float>
        var packed: UnsafePointer<Float>
        var bias: UnsafePointer<Float>?
        /// Nil when there is none or the output already holds it.
        var skip: UnsafePointer<Float>?
        var output: UnsafeMutablePointer<Float>
        var geometry: ConvolutionGeometry
        var tasks: Int

        /// Rows `task * rows / tasks ..< (task + 1) * rows / tasks` of the batch's rows, image by image.
        func run(_ task: Int) {
            let height = geometry.outputSpatial[0]
            let rows = geometry.batch * height
            var row = task * rows / tasks
            let end = (task + 1) * rows / tasks
            while row < end {
                let image = row / height
                let last = min(end, (image + 1) * height)
                let inputOffset = image * geometry.inputChannels * geometry.inputPlane
                let outputOffset = image * geometry.outputChannels * geometry.outputPlane
                withUnsafePointer(to: shape) { shape in
                    kernel(shape, input + inputOffset, packed, bias, skip.map { $0 + outputOffset }, output + outputOffset,
                           row - image * height, last - image * height)
                }
                row = last
            }
        }
    }
}

extension ConvolutionGeometry {
    /// The shape the direct kernels take, with the epilogue's activation and whether the output holds the
    /// residual.
    func directShape(activation: FusedActivation, accumulates: Bool) -> resin_grouped_conv_shape {
        var shape = ConvolutionGeometry.directShape(inputChannels, outputChannels, inputSpatial, window)
        let bounds = activation.bounds
        shape.activation_min = bounds.min
        shape.activation_max = bounds.max
        shape.accumulate = accumulates ? 1 : 0
        return shape
    }
}
