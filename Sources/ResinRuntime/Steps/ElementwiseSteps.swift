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
    var input: UnsafePointer<Float>
    var shape: [Int]
    var scale: UnsafePointer<Float>
    var bias: UnsafePointer<Float>
    var mean: UnsafePointer<Float>
    var variance: UnsafePointer<Float>
    var epsilon: Float
    var output: UnsafeMutablePointer<Float>
    /// 2 x channels floats: the folded scale, then the folded shift.
    var workspace: UnsafeMutablePointer<Float>
    var pool: WorkerPool
    /// The shape of one task's slice, `[1, channels, spatial...]`; the batch is split too.
    var channels: Int
    var plane: Int

    func run() {
        let foldedScale = workspace
        let foldedShift = workspace + channels
        for channel in 0..<channels {
            let factor = Double(scale[channel]) / (Double(variance[channel]) + Double(epsilon)).squareRoot()
            foldedScale[channel] = Float(factor)
            foldedShift[channel] = Float(Double(bias[channel]) - Double(mean[channel]) * factor)
        }
        let tasks = pool.taskCount(forElements: shape[0] * channels * plane)
        if tasks == 1 {
            Kernels.affinePerChannel(input, shape: shape, scale: foldedScale, shift: foldedShift, into: output)
            return
        }
        withUnsafePointer(to: self) { context in
            pool.forEach(tasks, context: context) { raw, task in
                let step = raw.assumingMemoryBound(to: BatchNormalizationStep.self).pointee
                let planes = step.shape[0] * step.channels
                let tasks = step.pool.taskCount(forElements: planes * step.plane)
                let scale = step.workspace
                let shift = step.workspace + step.channels
                for index in (task * planes / tasks)..<((task + 1) * planes / tasks) {
                    let channel = index % step.channels
                    let x = step.input + index * step.plane
                    let y = step.output + index * step.plane
                    let a = scale[channel]
                    let b = shift[channel]
                    for element in 0..<step.plane { y[element] = x[element] * a + b }
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
