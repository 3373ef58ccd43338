import CResinKernels
import ResinIR

extension Kernels {
    /// A grouped 2-D convolution (group > 1: ResNeXt's 32 groups, depthwise) on Resin's direct kernels
    /// (`grouped_conv_*.c`), epilogue included; returns false, having written nothing, for shapes they do not
    /// take (not 2-D, or rows too wide for their stack buffer), which then run as im2col.
    ///
    /// im2col and one sgemm per group multiply matrices of 4 to 32 rows, too small for OpenBLAS's blocking, then
    /// pass over the output again for the epilogue; the direct kernel reads the filters in ONNX's layout (the
    /// file format is unchanged) and stores each output once. Tasks are (image, group, band of output rows):
    /// ResNeXt's 32 groups alone keep two threads busy, and rows split the work when there are few groups.
    /// Parameters as in `convolution(input:weight:output:geometry:epilogue:...)`.
    static func groupedConvolution(
        input: UnsafePointer<Float>, weight: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
        geometry: ConvolutionGeometry, epilogue: ConvolutionEpilogue, pool: WorkerPool?, instructionSet: InstructionSet
    ) -> Bool {
        guard geometry.group > 1, geometry.inputSpatial.count == 2, geometry.outputPlane > 0,
              geometry.channelsPerGroup > 0, geometry.filtersPerGroup > 0 else { return false }
        let window = geometry.window
        var accumulates = false
        if let skip = epilogue.skip { accumulates = skip == UnsafePointer(output) }
        let bounds = epilogue.activation.bounds
        let shape = resin_grouped_conv_shape(
            channels: geometry.channelsPerGroup, filters: geometry.filtersPerGroup,
            input_height: geometry.inputSpatial[0], input_width: geometry.inputSpatial[1],
            output_height: geometry.outputSpatial[0], output_width: geometry.outputSpatial[1],
            kernel_height: window.kernel[0], kernel_width: window.kernel[1],
            stride_height: window.strides[0], stride_width: window.strides[1],
            dilation_height: window.dilations[0], dilation_width: window.dilations[1],
            pad_top: window.padsBegin[0], pad_left: window.padsBegin[1],
            activation_min: bounds.min, activation_max: bounds.max, accumulate: accumulates ? 1 : 0)
        var split = GroupedSplit(
            shape: shape, kernel: instructionSet.kernels.pointee.grouped_conv, input: input, weight: weight,
            bias: epilogue.bias, skip: accumulates ? nil : epilogue.skip, output: output, geometry: geometry, bands: 1)
        guard withUnsafePointer(to: &split.shape, { resin_grouped_conv_supported($0) }) != 0 else { return false }
        let threads = pool?.threads ?? 1
        let planes = geometry.batch * geometry.group
        // At least four tasks per thread when the planes alone give fewer, so no thread idles at the end;
        // bands of fewer than 2 rows would copy the kernel's overlapping input rows more than they compute.
        if threads > 1, planes < 4 * threads {
            split.bands = max(1, min((4 * threads + planes - 1) / planes, geometry.outputSpatial[0] / 2))
        }
        let tasks = planes * split.bands
        guard let pool, threads > 1 else {
            for task in 0..<tasks { split.run(task) }
            return true
        }
        withUnsafePointer(to: &split) { context in
            pool.forEach(tasks, context: context) { raw, task in
                raw.assumingMemoryBound(to: GroupedSplit.self).pointee.run(task)
            }
        }
        return true
    }

    /// A grouped convolution split into (image, group, band of output rows) tasks: what every task shares.
    fileprivate struct GroupedSplit {
        var shape: resin_grouped_conv_shape
        var kernel: resin_grouped_conv_fn
        var input: UnsafePointer<Float>
        var weight: UnsafePointer<Float>
        var bias: UnsafePointer<Float>?
        /// Nil when there is none or the output already holds it.
        var skip: UnsafePointer<Float>?
        var output: UnsafeMutablePointer<Float>
        var geometry: ConvolutionGeometry
        /// Bands of output rows per plane of one group.
        var bands: Int

        func run(_ task: Int) {
            let band = task % bands
            let group = task / bands % geometry.group
            let image = task / (bands * geometry.group)
            let rows = geometry.outputSpatial[0]
            let filters = geometry.filtersPerGroup
            let firstFilter = image * geometry.outputChannels + group * filters
            let inputOffset = (image * geometry.inputChannels + group * geometry.channelsPerGroup) * geometry.inputPlane
            let outputOffset = firstFilter * geometry.outputPlane
            withUnsafePointer(to: shape) { shape in
                kernel(shape, input + inputOffset, weight + group * filters * geometry.columnRows, bias.map { $0 + group * filters },
                       skip.map { $0 + outputOffset }, output + outputOffset, band * rows / bands, (band + 1) * rows / bands)
            }
        }
    }
}
