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

    func run() {
        switch kind {
        case .relu: Kernels.relu(input, into: output, count: count)
        case .leakyRelu(let alpha): Kernels.leakyRelu(input, into: output, count: count, alpha: alpha)
        case .clip(let low, let high, let minInput, let maxInput):
            Kernels.clip(input, into: output, count: count, min: minInput?.pointee ?? low, max: maxInput?.pointee ?? high)
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

    func run() throws {
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

    func run() {
        let channels = shape.count > 1 ? shape[1] : 1
        let foldedScale = workspace
        let foldedShift = workspace + channels
        for channel in 0..<channels {
            let factor = Double(scale[channel]) / (Double(variance[channel]) + Double(epsilon)).squareRoot()
            foldedScale[channel] = Float(factor)
            foldedShift[channel] = Float(Double(bias[channel]) - Double(mean[channel]) * factor)
        }
        Kernels.affinePerChannel(input, shape: shape, scale: foldedScale, shift: foldedShift, into: output)
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
