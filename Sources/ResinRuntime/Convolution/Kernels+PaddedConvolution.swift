import CResinKernels

extension Kernels {
    /// A strided convolution on packed filters (`ConvolutionGeometry.readsPaddedInput`), image by image: the
    /// image's input is copied with its padding into `workspace`, then the fused product reads that copy in
    /// place. On AVX-512 and AVX2 the channel-vectorised tile broadcasts each output's inputs straight from
    /// the copy (`padded_direct`), where the column tile on implicit columns gathered and deinterleaved them
    /// again for every block of every panel task; the portable kernel gathers from the copy as from implicit
    /// columns, with no padding left to check. Parameters as in `convolution(input:weight:output:geometry:epilogue:...)`.
    static func paddedDirectConvolution(
        input: UnsafePointer<Float>, packedWeight: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
        geometry: ConvolutionGeometry, epilogue: ConvolutionEpilogue, workspace: UnsafeMutablePointer<Float>, pool: WorkerPool?,
        instructionSet: InstructionSet
    ) {
        let padded = geometry.paddedInputSpatial
        let window = geometry.window
        let bounds = epilogue.activation.bounds
        let inputImage = geometry.inputChannels * geometry.inputPlane
        let outputImage = geometry.outputChannels * geometry.outputPlane
        for image in 0..<geometry.batch {
            padInput(input + image * inputImage, geometry: geometry, into: workspace, pool: pool)
            var gather = resin_gemm_gather(
                input: workspace, channels: geometry.inputChannels, input_height: padded[0], input_width: padded[1],
                output_height: geometry.outputSpatial[0], output_width: geometry.outputSpatial[1],
                kernel_height: window.kernel[0], kernel_width: window.kernel[1], stride_height: window.strides[0],
                stride_width: window.strides[1], dilation_height: window.dilations[0], dilation_width: window.dilations[1],
                pad_top: 0, pad_left: 0, input_image_stride: geometry.inputChannels * padded[0] * padded[1],
                output_image_stride: outputImage, padded_direct: 1)
            let offset = image * outputImage
            withUnsafePointer(to: &gather) { gather in
                let problem = resin_gemm_problem(
                    m: geometry.outputChannels, n: geometry.outputPlane, k: geometry.columnRows, packed: packedWeight, b: nil, ldb: 0,
                    c: output + offset, ldc: geometry.outputPlane,
                    epilogue: resin_gemm_epilogue(bias: epilogue.bias, skip: epilogue.skip.map { $0 + offset }, min: bounds.min,
                                                  max: bounds.max),
                    gather: gather)
                fusedGEMM(pool: pool, problem: problem, instructionSet: instructionSet)
            }
        }
    }

    /// Copies one image's `[C][H][W]` input into `padded` as `[C][paddedInputSpatial]`: the input at the
    /// leading pads' offset, zeros around it, and nothing past what the windows cover. Threads split the
    /// channels when the copy is large enough to be worth waking them.
    static func padInput(_ input: UnsafePointer<Float>, geometry: ConvolutionGeometry, into padded: UnsafeMutablePointer<Float>,
                         pool: WorkerPool?) {
        var split = PadSplit(input: input, padded: padded, geometry: geometry, tasks: 1)
        if let pool, pool.threads > 1, geometry.paddedInputElements >= 1 << 16 {
            split.tasks = min(pool.threads, geometry.inputChannels)
        }
        let tasks = split.tasks
        withUnsafePointer(to: &split) { context in
            (pool ?? .serial).forEach(tasks, context: context) { raw, task in
                raw.assumingMemoryBound(to: PadSplit.self).pointee.run(task)
            }
        }
    }

    /// What every task of a padded copy shares.
    private struct PadSplit {
        var input: UnsafePointer<Float>
        var padded: UnsafeMutablePointer<Float>
        var geometry: ConvolutionGeometry
        var tasks: Int

        /// Channels `task * C / tasks ..< (task + 1) * C / tasks`.
        func run(_ task: Int) {
            let channels = geometry.inputChannels
            let (height, width) = (geometry.inputSpatial[0], geometry.inputSpatial[1])
            let size = geometry.paddedInputSpatial
            let (top, left) = (geometry.window.padsBegin[0], geometry.window.padsBegin[1])
            // The padded columns that hold input columns, and the first input column they hold.
            let firstColumn = max(0, left), lastColumn = min(size[1], left + width)
            let copied = max(0, lastColumn - firstColumn)
            for channel in (task * channels / tasks)..<((task + 1) * channels / tasks) {
                let source = input + channel * height * width
                let target = padded + channel * size[0] * size[1]
                for row in 0..<size[0] {
                    let line = target + row * size[1]
                    let inputRow = row - top
                    guard inputRow >= 0, inputRow < height, copied > 0 else {
                        line.update(repeating: 0, count: size[1])
                        continue
                    }
                    line.update(repeating: 0, count: firstColumn)
                    (line + firstColumn).update(from: source + inputRow * width + (firstColumn - left), count: copied)
                    (line + firstColumn + copied).update(repeating: 0, count: size[1] - firstColumn - copied)
                }
            }
        }
    }
}
