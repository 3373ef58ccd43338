import ResinIR

/// Relu, LeakyRelu and Clip over a contiguous tensor.
struct ActivationStep {
    enum Kind {
        case relu
        case leakyRelu(alpha: Float)
        /// Bounds either fixed (attributes, constants) or read from scalar inputs at run time.
        case clip(min: Float, max: Float, minInput: UnsafePointer<Float>?, maxInput: UnsafePointer<Float>?)
    }

    var kind: Kind
    var input: UnsafePointer<Float>
    var output: UnsafeMutablePointer<Float>
    var count: Int
    var pool: WorkerPool

    init(kind: Kind, input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, count: Int, pool: WorkerPool) {
        self.kind = kind
        self.input = input
        self.output = output
        self.count = count
        self.pool = pool
    }

    /// A fused operator's activation over `count` floats at `values`, in place; nil for none.
    init?(inPlace activation: FusedActivation, over values: UnsafeMutablePointer<Float>, count: Int, pool: WorkerPool) {
        let kind: Kind
        switch activation {
        case .none: return nil
        case .relu: kind = .relu
        case .clip(let low, let high): kind = .clip(min: low, max: high, minInput: nil, maxInput: nil)
        }
        self.init(kind: kind, input: UnsafePointer(values), output: values, count: count, pool: pool)
    }

    func run() {
        let tasks = pool.taskCount(forElements: count)
        if tasks == 1 { return run(range: 0..<count) }
        withUnsafePointer(to: self) { context in
            pool.forEach(tasks, context: context) { raw, task in
                let step = raw.assumingMemoryBound(to: ActivationStep.self).pointee
                let tasks = step.pool.taskCount(forElements: step.count)
                step.run(range: (task * step.count / tasks)..<((task + 1) * step.count / tasks))
            }
        }
    }

    private func run(range: Range<Int>) {
        let x = input + range.lowerBound
        let y = output + range.lowerBound
        switch kind {
        case .relu: Kernels.relu(x, into: y, count: range.count)
        case .leakyRelu(let alpha): Kernels.leakyRelu(x, into: y, count: range.count, alpha: alpha)
        case .clip(let low, let high, let minInput, let maxInput):
            Kernels.clip(x, into: y, count: range.count, min: minInput?.pointee ?? low, max: maxInput?.pointee ?? high)
        }
    }
}

/// Add, Sub, Mul and Div with numpy broadcasting, on float32 and every integer type.
struct BinaryStep {
    var operation: BinaryOperation
    var dataType: DataType
    var a: UnsafeRawPointer
    var aShape: [Int]
    var b: UnsafeRawPointer
    var bShape: [Int]
    var output: UnsafeMutableRawPointer
    var outputShape: [Int]
    var pool: WorkerPool
    /// Elements of the output when both float operands have its shape (a residual Add), else 0.
    var sameShapeCount: Int

    func run() throws {
        // Float operands of one shape split into contiguous ranges across the pool.
        if sameShapeCount > 0 {
            let count = sameShapeCount
            let tasks = pool.taskCount(forElements: count)
            if tasks > 1 {
                withUnsafePointer(to: self) { context in
                    pool.forEach(tasks, context: context) { raw, task in
                        let step = raw.assumingMemoryBound(to: BinaryStep.self).pointee
                        let count = step.sameShapeCount
                        let tasks = step.pool.taskCount(forElements: count)
                        let first = task * count / tasks
                        let length = (task + 1) * count / tasks - first
                        sameShape(step.operation, step.a.assumingMemoryBound(to: Float.self) + first,
                                  step.b.assumingMemoryBound(to: Float.self) + first,
                                  step.output.assumingMemoryBound(to: Float.self) + first, count: length)
                    }
                }
                return
            }
            sameShape(operation, a.assumingMemoryBound(to: Float.self), b.assumingMemoryBound(to: Float.self),
                      output.assumingMemoryBound(to: Float.self), count: count)
            return
        }
        func integers<T: FixedWidthInteger>(_ type: T.Type) throws {
            try Kernels.integerBinary(
                operation, a.assumingMemoryBound(to: T.self), aShape, b.assumingMemoryBound(to: T.self), bShape,
                output.assumingMemoryBound(to: T.self), outputShape)
        }
        switch dataType {
        case .int64:
            try Kernels.binary(
                operation, a.assumingMemoryBound(to: Int64.self), aShape, b.assumingMemoryBound(to: Int64.self), bShape,
                into: output.assumingMemoryBound(to: Int64.self), outputShape)
        case .int32: try integers(Int32.self)
        case .int16: try integers(Int16.self)
        case .int8: try integers(Int8.self)
        case .uint64: try integers(UInt64.self)
        case .uint32: try integers(UInt32.self)
        case .uint16: try integers(UInt16.self)
        case .uint8: try integers(UInt8.self)
        default:
            Kernels.binary(
                operation, a.assumingMemoryBound(to: Float.self), aShape, b.assumingMemoryBound(to: Float.self), bShape,
                into: output.assumingMemoryBound(to: Float.self), outputShape)
        }
    }
}

/// `out = a op b` elementwise over `count` floats of equal shapes (out may alias a or b).
private func sameShape(
    _ operation: BinaryOperation, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, count: Int
) {
    switch operation {
    case .add: for index in 0..<count { out[index] = a[index] + b[index] }
    case .sub: for index in 0..<count { out[index] = a[index] - b[index] }
    case .mul: for index in 0..<count { out[index] = a[index] * b[index] }
    case .div: for index in 0..<count { out[index] = a[index] / b[index] }
    }
}

/// Sum of any number of broadcast float inputs.
struct SumStep {
    var inputs: [UnsafePointer<Float>]
    var shapes: [[Int]]
    var output: UnsafeMutablePointer<Float>
    var outputShape: [Int]

    func run() { Kernels.sum(inputs, shapes: shapes, into: output, outShape: outputShape) }
}

/// Softmax over one axis (or, before opset 13, over all axes from `axis` on).
struct SoftmaxStep {
    var input: UnsafePointer<Float>
    var output: UnsafeMutablePointer<Float>
    var outer: Int
    var axisLength: Int
    var inner: Int

    func run() { Kernels.softmax(input, outer: outer, axisLength: axisLength, inner: inner, into: output) }
}

/// Inference BatchNormalization: per-channel scale and shift, computed from the four parameter inputs
/// in double precision into the workspace, then one affine pass.
struct BatchNormalizationStep {
    var scale: UnsafePointer<Float>
    var bias: UnsafePointer<Float>
    var mean: UnsafePointer<Float>
    var variance: UnsafePointer<Float>
    var epsilon: Float
    /// 2 x channels floats: the folded scale, then the folded shift.
    var workspace: UnsafeMutablePointer<Float>
    /// The pass over the data, reading its scale and shift from the workspace.
    var affine: ChannelAffineStep

    func run() {
        let foldedScale = workspace
        let foldedShift = workspace + affine.channels
        for channel in 0..<affine.channels {
            let factor = Double(scale[channel]) / (Double(variance[channel]) + Double(epsilon)).squareRoot()
            foldedScale[channel] = Float(factor)
            foldedShift[channel] = Float(Double(bias[channel]) - Double(mean[channel]) * factor)
        }
        affine.run()
    }
}

/// `y = x * scale[c] + shift[c]` over `[N, C, spatial...]`, clamped to `[low, high]` when an activation was
/// fused into it: ChannelAffine, and BatchNormalization's pass. Large tensors are split over the pool by
/// channel planes.
struct ChannelAffineStep {
    var input: UnsafePointer<Float>
    var shape: [Int]
    var scale: UnsafePointer<Float>
    var shift: UnsafePointer<Float>
    var output: UnsafeMutablePointer<Float>
    var pool: WorkerPool
    /// The fused activation's bounds: 0 and infinity for Relu, infinite for none.
    var low: Float
    var high: Float
    /// `shape[1]`, and the elements of one channel plane.
    var channels: Int
    var plane: Int
    /// Tasks the pass splits into, fixed when the step is made.
    var tasks: Int

    init(input: UnsafePointer<Float>, shape: [Int], scale: UnsafePointer<Float>, shift: UnsafePointer<Float>,
         output: UnsafeMutablePointer<Float>, pool: WorkerPool, activation: FusedActivation = .none) {
        self.input = input
        self.shape = shape
        self.scale = scale
        self.shift = shift
        self.output = output
        self.pool = pool
        (low, high) = activation.bounds
        channels = shape.count > 1 ? shape[1] : 1
        plane = shape.dropFirst(2).reduce(1, *)
        let planes = (shape.first ?? 1) * channels
        tasks = min(pool.taskCount(forElements: planes * plane), max(planes, 1))
    }

    func run() {
        if tasks == 1 {
            Kernels.affinePerChannel(input, shape: shape, scale: scale, shift: shift, into: output, low: low, high: high)
            return
        }
        withUnsafePointer(to: self) { context in
            pool.forEach(tasks, context: context) { raw, task in
                let step = raw.assumingMemoryBound(to: ChannelAffineStep.self).pointee
                let planes = step.shape[0] * step.channels
                for index in (task * planes / step.tasks)..<((task + 1) * planes / step.tasks) {
                    let channel = index % step.channels
                    Kernels.affinePlane(step.input + index * step.plane, into: step.output + index * step.plane, count: step.plane,
                                        factor: step.scale[channel], term: step.shift[channel], low: step.low, high: step.high)
                }
            }
        }
    }
}

/// Local response normalisation.
struct LRNStep {
    var input: UnsafePointer<Float>
    var shape: [Int]
    var attributes: LRNAttributes
    var output: UnsafeMutablePointer<Float>

    func run() {
        Kernels.lrn(input, shape: shape, size: attributes.size, alpha: attributes.alpha, beta: attributes.beta,
                    bias: attributes.bias, into: output)
    }
}

/// ReduceMean over sorted axes.
struct ReduceMeanStep {
    var input: UnsafePointer<Float>
    var shape: [Int]
    var axes: [Int]
    var output: UnsafeMutablePointer<Float>

    func run() { Kernels.reduceMean(input, shape: shape, axes: axes, into: output) }
}
