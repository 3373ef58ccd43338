import ResinIR

/// One kernel call with every pointer and shape bound: the executor runs a list of these.
///
/// A `switch` only dispatches, one line per case; each payload knows how to run itself.
enum Step {
    case convolution(ConvolutionStep)
    case gemm(GemmStep)
    case matMul(MatMulStep)
    case copy(CopyStep)
    case fill(FillStep)
    case batchNormalization(BatchNormalizationStep)
    case channelAffine(ChannelAffineStep)
    case activation(ActivationStep)
    case binary(BinaryStep)
    case sum(SumStep)
    case pool(PoolStep)
    case globalPool(GlobalPoolStep)
    case lrn(LRNStep)
    case softmax(SoftmaxStep)
    case transpose(TransposeStep)
    case concat(ConcatStep)
    case gather(GatherStep)
    case pad(PadStep)
    case reduceMean(ReduceMeanStep)

    /// Runs the kernel; `node` names it in errors.
    func run(node: Node) throws {
        do {
            switch self {
            case .convolution(let step): step.run()
            case .gemm(let step): step.run()
            case .matMul(let step): step.run()
            case .copy(let step): step.run()
            case .fill(let step): step.run()
            case .batchNormalization(let step): step.run()
            case .channelAffine(let step): step.run()
            case .activation(let step): step.run()
            case .binary(let step): try step.run()
            case .sum(let step): step.run()
            case .pool(let step): step.run()
            case .globalPool(let step): step.run()
            case .lrn(let step): step.run()
            case .softmax(let step): step.run()
            case .transpose(let step): step.run()
            case .concat(let step): step.run()
            case .gather(let step): try step.run()
            case .pad(let step): step.run()
            case .reduceMean(let step): step.run()
            }
        } catch let error as KernelError {
            throw RuntimeError.kernel(node: node.displayName, opType: node.opType, reason: error.reason)
        }
    }
}

/// A Conv or FusedConv node: the convolution, then its epilogue (bias, residual, activation) in one pass;
/// in place when the output is the residual's own buffer.
struct ConvolutionStep {
    var input: UnsafePointer<Float>
    var weight: UnsafePointer<Float>
    var output: UnsafeMutablePointer<Float>
    var geometry: ConvolutionGeometry
    var epilogue: ConvolutionEpilogue
    var workspace: UnsafeMutablePointer<Float>?
    var pool: WorkerPool
    /// Winograd-transformed filters, when the convolution runs that way; the step keeps them alive.
    var transformedWeight: TensorStorage?
    /// Transformed filters a native file provided (kept alive by the session's constants).
    var preparedWeight: UnsafePointer<Float>? = nil
    /// Winograd transforms packed for Resin's own kernel: made with the step, or provided by a native file.
    var packedTransforms: TensorStorage? = nil
    var preparedPackedTransforms: UnsafePointer<Float>? = nil
    /// Filters packed for Resin's own kernel, made when the step was (the step keeps them alive) or
    /// provided by a native file.
    var packedStorage: TensorStorage? = nil
    var preparedPacked: UnsafePointer<Float>? = nil

    func run() {
        Kernels.convolution(input: input, weight: weight, output: output, geometry: geometry, epilogue: epilogue,
                            workspace: workspace, pool: pool,
                            transformedWeight: preparedWeight ?? transformedWeight?.bytes.baseAddress?.assumingMemoryBound(to: Float.self),
                            packedTransformedWeight: preparedPackedTransforms
                                ?? packedTransforms?.bytes.baseAddress?.assumingMemoryBound(to: Float.self),
                            packedWeight: preparedPacked ?? packedStorage?.bytes.baseAddress?.assumingMemoryBound(to: Float.self))
    }
}

/// A Gemm or FusedGemm node: the product, then the activation over the output in place.
struct GemmStep {
    var a: UnsafePointer<Float>
    var b: UnsafePointer<Float>
    var c: UnsafePointer<Float>?
    var output: UnsafeMutablePointer<Float>
    var geometry: GemmGeometry
    var pool: WorkerPool
    /// The fused activation, reading and writing the output; nil for a plain Gemm.
    var activation: ActivationStep?

    func run() {
        Kernels.gemm(a: a, b: b, c: c, output: output, geometry: geometry, pool: pool)
        activation?.run()
    }
}

/// A MatMul node.
struct MatMulStep {
    var a: UnsafePointer<Float>
    var b: UnsafePointer<Float>
    var output: UnsafeMutablePointer<Float>
    var geometry: MatMulGeometry
    var pool: WorkerPool

    func run() { Kernels.matMul(a: a, b: b, output: output, geometry: geometry, pool: pool) }
}

/// Copies bytes: views folded at session creation, constants, a one-input Sum.
struct CopyStep {
    var source: UnsafeRawPointer
    var destination: UnsafeMutableRawPointer
    var byteCount: Int

    func run() {
        if byteCount > 0, source != UnsafeRawPointer(destination) {
            destination.copyMemory(from: source, byteCount: byteCount)
        }
    }
}

/// Writes one element's bytes repeatedly: ConstantOfShape, Shape and inference-mode masks.
struct FillStep {
    /// The elements to write, repeated until `byteCount` is filled.
    var pattern: [UInt8]
    var destination: UnsafeMutableRawPointer
    var byteCount: Int

    func run() {
        guard !pattern.isEmpty else { return }
        pattern.withUnsafeBytes { source in
            var offset = 0
            while offset < byteCount {
                let length = min(source.count, byteCount - offset)
                (destination + offset).copyMemory(from: source.baseAddress!, byteCount: length)
                offset += length
            }
        }
    }
}
