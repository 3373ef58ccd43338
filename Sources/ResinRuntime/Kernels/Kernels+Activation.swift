// Pointwise activations over a flat run of floats (ONNX Relu, LeakyRelu, Clip).
//
// Each is written as "replace where a comparison holds", and a comparison with NaN is false, so NaN
// passes through unchanged, as numpy's `maximum(x, 0)` and `clip` and ONNX Runtime give. Every kernel
// here may run in place (`y == x`).
//
// Relu and Clip are plain loops on purpose: LLVM turns their selects into maxps/minps (with the operand
// order that keeps NaN), one instruction per four floats, where `SIMD8.replacing(with:where:)` lowers to a
// compare and three logic instructions.

extension Kernels {
    /// `y = max(x, 0)`; NaN stays NaN.
    public static func relu(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int) {
        for index in 0..<count {
            let value = x[index]
            y[index] = value < 0 ? 0 : value
        }
    }

    /// `y = x < 0 ? alpha * x : x`; NaN stays NaN.
    public static func leakyRelu(
        _ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int, alpha: Float
    ) {
        var index = 0
        let alphaLanes = SIMD8<Float>(repeating: alpha)
        while index + 8 <= count {
            let lanes = load8(x + index)
            store8(lanes.replacing(with: lanes * alphaLanes, where: lanes .< 0), y + index)
            index += 8
        }
        while index < count {
            let value = x[index]
            y[index] = value < 0 ? alpha * value : value
            index += 1
        }
    }

    /// `y = min(max(x, minimum), maximum)` as numpy's `clip`: NaN stays NaN, and when `minimum > maximum`
    /// every element becomes `maximum`. A NaN bound clamps nothing on its side.
    public static func clip(
        _ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int,
        min minimum: Float, max maximum: Float
    ) {
        for index in 0..<count {
            var value = x[index]
            if value < minimum { value = minimum }
            if value > maximum { value = maximum }
            y[index] = value
        }
    }

    // MARK: Reference

    /// Plain Relu: `x > 0 ? x : 0`, NaN passed through.
    static func referenceRelu(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int) {
        for index in 0..<count {
            let value = x[index]
            y[index] = value.isNaN ? value : (value > 0 ? value : 0)
        }
    }

    /// Plain LeakyRelu.
    static func referenceLeakyRelu(
        _ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int, alpha: Float
    ) {
        for index in 0..<count {
            let value = x[index]
            y[index] = value.isNaN || value >= 0 ? value : alpha * value
        }
    }

    /// Plain Clip, in numpy's order: raise to the minimum, then lower to the maximum.
    static func referenceClip(
        _ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int,
        min minimum: Float, max maximum: Float
    ) {
        for index in 0..<count {
            let value = x[index]
            if value.isNaN { y[index] = value; continue }
            let raised = minimum.isNaN ? value : Swift.max(value, minimum)
            y[index] = maximum.isNaN ? raised : Swift.min(raised, maximum)
        }
    }
}
