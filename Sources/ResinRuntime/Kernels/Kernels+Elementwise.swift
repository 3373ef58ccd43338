import ResinIR

// Binary arithmetic with numpy broadcasting (ONNX Add, Sub, Mul, Div, Sum).
//
// The fast path coalesces the broadcast into groups of axes along which each operand is either read
// densely or repeated, so every case becomes rows of one of three contiguous shapes: vector-vector,
// vector-scalar, scalar-vector. Same-shape and scalar operands are one row; a per-channel operand
// [C, 1, 1] against [N, C, H, W] is N * C rows of H * W against a scalar.

extension Kernels {
    /// `out = a op b` over float tensors with numpy broadcasting; `outShape` is the broadcast of the two shapes.
    ///
    /// `out` may alias `a` or `b` when that operand's shape equals `outShape` (in-place residual add).
    public static func binary(
        _ operation: BinaryOperation,
        _ a: UnsafePointer<Float>, _ aShape: [Int],
        _ b: UnsafePointer<Float>, _ bShape: [Int],
        into out: UnsafeMutablePointer<Float>, _ outShape: [Int]
    ) {
        switch operation {
        case .add: broadcast(FloatAdd.self, a, aShape, b, bShape, out, outShape)
        case .sub: broadcast(FloatSubtract.self, a, aShape, b, bShape, out, outShape)
        case .mul: broadcast(FloatMultiply.self, a, aShape, b, bShape, out, outShape)
        case .div: broadcast(FloatDivide.self, a, aShape, b, bShape, out, outShape)
        }
    }

    /// `out = a op b` over 64-bit integers with numpy broadcasting.
    ///
    /// Add, Sub and Mul wrap on overflow (as numpy does); Div truncates toward zero, as the ONNX reference
    /// evaluator and ONNX Runtime do, and `Int64.min / -1` wraps to `Int64.min`. A zero divisor throws, as
    /// ONNX Runtime fails, before anything is written. `out` may alias an operand whose shape equals `outShape`.
    public static func binary(
        _ operation: BinaryOperation,
        _ a: UnsafePointer<Int64>, _ aShape: [Int],
        _ b: UnsafePointer<Int64>, _ bShape: [Int],
        into out: UnsafeMutablePointer<Int64>, _ outShape: [Int]
    ) throws(KernelError) {
        try integerBinary(operation, a, aShape, b, bShape, out, outShape)
    }

    /// `out = a op b` over 32-bit integers, with the semantics of the `Int64` form.
    public static func binary(
        _ operation: BinaryOperation,
        _ a: UnsafePointer<Int32>, _ aShape: [Int],
        _ b: UnsafePointer<Int32>, _ bShape: [Int],
        into out: UnsafeMutablePointer<Int32>, _ outShape: [Int]
    ) throws(KernelError) {
        try integerBinary(operation, a, aShape, b, bShape, out, outShape)
    }

    /// ONNX Sum: `out` is the broadcast sum of all inputs, added left to right.
    ///
    /// `out` may alias `inputs[0]` or `inputs[1]` when that input's shape equals `outShape`.
    public static func sum(
        _ inputs: [UnsafePointer<Float>], shapes: [[Int]],
        into out: UnsafeMutablePointer<Float>, outShape: [Int]
    ) {
        precondition(inputs.count == shapes.count && !inputs.isEmpty, "Sum needs one shape per input")
        if inputs.count == 1 {
            if UnsafePointer(out) != inputs[0] { out.update(from: inputs[0], count: elementCount(outShape)) }
            return
        }
        binary(.add, inputs[0], shapes[0], inputs[1], shapes[1], into: out, outShape)
        for index in 2..<inputs.count {
            binary(.add, UnsafePointer(out), outShape, inputs[index], shapes[index], into: out, outShape)
        }
    }

    /// Broadcasting integer arithmetic for the narrower and unsigned ONNX integer types, with the
    /// semantics of the Int64 overload (wrapping, truncating division, division by zero refused).
    public static func integerBinary<T: FixedWidthInteger>(
        _ operation: BinaryOperation,
        _ a: UnsafePointer<T>, _ aShape: [Int], _ b: UnsafePointer<T>, _ bShape: [Int],
        _ out: UnsafeMutablePointer<T>, _ outShape: [Int]
    ) throws(KernelError) {
        switch operation {
        case .add: broadcast(IntegerAdd<T>.self, a, aShape, b, bShape, out, outShape)
        case .sub: broadcast(IntegerSubtract<T>.self, a, aShape, b, bShape, out, outShape)
        case .mul: broadcast(IntegerMultiply<T>.self, a, aShape, b, bShape, out, outShape)
        case .div:
            // Every element of b meets some element of a whenever the output is not empty.
            if elementCount(outShape) > 0 {
                let divisors = elementCount(bShape)
                for index in 0..<divisors where b[index] == 0 {
                    throw KernelError("integer Div by zero (element \(index) of divisor shape \(bShape))")
                }
            }
            broadcast(IntegerDivide<T>.self, a, aShape, b, bShape, out, outShape)
        }
    }

    /// Runs `Op` over the broadcast of two dense row-major tensors.
    private static func broadcast<Op: ElementwiseOperator>(
        _: Op.Type,
        _ a: UnsafePointer<Op.Element>, _ aShape: [Int],
        _ b: UnsafePointer<Op.Element>, _ bShape: [Int],
        _ out: UnsafeMutablePointer<Op.Element>, _ outShape: [Int]
    ) {
        let rank = outShape.count
        let count = elementCount(outShape)
        if count == 0 { return }
        let aCount = elementCount(aShape), bCount = elementCount(bShape)
        precondition(aShape.count <= rank && bShape.count <= rank, "operand rank exceeds output rank")
        // An operand that broadcasts to the output with as many elements has the output's shape.
        if aCount == count && bCount == count { return Op.row(a, 1, b, 1, out, count) }
        if aCount == 1 && bCount == count { return Op.row(a, 0, b, 1, out, count) }
        if bCount == 1 && aCount == count { return Op.row(a, 1, b, 0, out, count) }

        withUnsafeTemporaryAllocation(of: Int.self, capacity: 4 * rank) { scratch in
            let sizes = scratch.baseAddress!
            let aStrides = sizes + rank, bStrides = sizes + 2 * rank, counters = sizes + 3 * rank
            // Group consecutive axes along which each operand keeps the same role (read or repeated);
            // size-1 output axes drop out. The stride slots first hold 1 (read) or 0 (repeated).
            var groups = 0
            let aOffset = rank - aShape.count, bOffset = rank - bShape.count
            for axis in 0..<rank where outShape[axis] != 1 {
                let aRead = axis >= aOffset && aShape[axis - aOffset] != 1 ? 1 : 0
                let bRead = axis >= bOffset && bShape[axis - bOffset] != 1 ? 1 : 0
                if groups > 0 && aStrides[groups - 1] == aRead && bStrides[groups - 1] == bRead {
                    sizes[groups - 1] *= outShape[axis]
                } else {
                    sizes[groups] = outShape[axis]
                    aStrides[groups] = aRead
                    bStrides[groups] = bRead
                    groups += 1
                }
            }
            var aStride = 1, bStride = 1, group = groups - 1
            while group >= 0 {
                if aStrides[group] == 1 { aStrides[group] = aStride; aStride *= sizes[group] }
                if bStrides[group] == 1 { bStrides[group] = bStride; bStride *= sizes[group] }
                counters[group] = 0
                group -= 1
            }
            let rowLength = sizes[groups - 1]
            let aStep = aStrides[groups - 1], bStep = bStrides[groups - 1]
            var aIndex = 0, bIndex = 0, outIndex = 0
            while true {
                Op.row(a + aIndex, aStep, b + bIndex, bStep, out + outIndex, rowLength)
                outIndex += rowLength
                var group = groups - 2
                while group >= 0 {
                    counters[group] += 1
                    aIndex += aStrides[group]
                    bIndex += bStrides[group]
                    if counters[group] < sizes[group] { break }
                    aIndex -= aStrides[group] * sizes[group]
                    bIndex -= bStrides[group] * sizes[group]
                    counters[group] = 0
                    group -= 1
                }
                if group < 0 { break }
            }
        }
    }

    // MARK: Reference

    /// Plain broadcasting binary operation: one multi-index decomposition per element.
    static func referenceBinary<T>(
        _ a: UnsafePointer<T>, _ aShape: [Int], _ b: UnsafePointer<T>, _ bShape: [Int],
        into out: UnsafeMutablePointer<T>, _ outShape: [Int], _ operation: (T, T) -> T
    ) {
        let rank = outShape.count
        for flat in 0..<elementCount(outShape) {
            var remainder = flat
            var coordinates = [Int](repeating: 0, count: rank)
            for axis in (0..<rank).reversed() {
                coordinates[axis] = remainder % outShape[axis]
                remainder /= outShape[axis]
            }
            func offset(_ shape: [Int]) -> Int {
                var offset = 0
                for (axis, size) in shape.enumerated() {
                    let coordinate = size == 1 ? 0 : coordinates[rank - shape.count + axis]
                    offset = offset * size + coordinate
                }
                return offset
            }
            out[flat] = operation(a[offset(aShape)], b[offset(bShape)])
        }
    }
}

// MARK: Operators

/// One binary operation, applied to rows whose operands step by 1 (read) or 0 (repeated).
private protocol ElementwiseOperator {
    associatedtype Element
    static func row(
        _ a: UnsafePointer<Element>, _ aStep: Int, _ b: UnsafePointer<Element>, _ bStep: Int,
        _ out: UnsafeMutablePointer<Element>, _ count: Int)
}

/// A float operation with an eight-lane form for the vector loops.
private protocol FloatOperator: ElementwiseOperator where Element == Float {
    static func apply(_ a: Float, _ b: Float) -> Float
    static func apply(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float>
}

extension FloatOperator {
    @inline(__always)
    static func row(
        _ a: UnsafePointer<Float>, _ aStep: Int, _ b: UnsafePointer<Float>, _ bStep: Int,
        _ out: UnsafeMutablePointer<Float>, _ count: Int
    ) {
        var index = 0
        if aStep == 1 && bStep == 1 {
            while index + 8 <= count {
                Kernels.store8(apply(Kernels.load8(a + index), Kernels.load8(b + index)), out + index)
                index += 8
            }
            while index < count { out[index] = apply(a[index], b[index]); index += 1 }
        } else if aStep == 1 {
            let scalar = b.pointee, lanes = SIMD8<Float>(repeating: b.pointee)
            while index + 8 <= count {
                Kernels.store8(apply(Kernels.load8(a + index), lanes), out + index)
                index += 8
            }
            while index < count { out[index] = apply(a[index], scalar); index += 1 }
        } else if bStep == 1 {
            let scalar = a.pointee, lanes = SIMD8<Float>(repeating: a.pointee)
            while index + 8 <= count {
                Kernels.store8(apply(lanes, Kernels.load8(b + index)), out + index)
                index += 8
            }
            while index < count { out[index] = apply(scalar, b[index]); index += 1 }
        } else {
            out.update(repeating: apply(a.pointee, b.pointee), count: count)
        }
    }
}

private enum FloatAdd: FloatOperator {
    @inline(__always) static func apply(_ a: Float, _ b: Float) -> Float { a + b }
    @inline(__always) static func apply(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> { a + b }
}

private enum FloatSubtract: FloatOperator {
    @inline(__always) static func apply(_ a: Float, _ b: Float) -> Float { a - b }
    @inline(__always) static func apply(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> { a - b }
}

private enum FloatMultiply: FloatOperator {
    @inline(__always) static func apply(_ a: Float, _ b: Float) -> Float { a * b }
    @inline(__always) static func apply(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> { a * b }
}

private enum FloatDivide: FloatOperator {
    @inline(__always) static func apply(_ a: Float, _ b: Float) -> Float { a / b }
    @inline(__always) static func apply(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> { a / b }
}

/// An integer operation; shape arithmetic is short, so scalar loops suffice.
private protocol IntegerOperator: ElementwiseOperator where Element: FixedWidthInteger {
    static func apply(_ a: Element, _ b: Element) -> Element
}

extension IntegerOperator {
    @inline(__always)
    static func row(
        _ a: UnsafePointer<Element>, _ aStep: Int, _ b: UnsafePointer<Element>, _ bStep: Int,
        _ out: UnsafeMutablePointer<Element>, _ count: Int
    ) {
        if aStep == 1 && bStep == 1 {
            for index in 0..<count { out[index] = apply(a[index], b[index]) }
        } else if aStep == 1 {
            let scalar = b.pointee
            for index in 0..<count { out[index] = apply(a[index], scalar) }
        } else if bStep == 1 {
            let scalar = a.pointee
            for index in 0..<count { out[index] = apply(scalar, b[index]) }
        } else {
            out.update(repeating: apply(a.pointee, b.pointee), count: count)
        }
    }
}

private enum IntegerAdd<Element: FixedWidthInteger>: IntegerOperator {
    @inline(__always) static func apply(_ a: Element, _ b: Element) -> Element { a &+ b }
}

private enum IntegerSubtract<Element: FixedWidthInteger>: IntegerOperator {
    @inline(__always) static func apply(_ a: Element, _ b: Element) -> Element { a &- b }
}

private enum IntegerMultiply<Element: FixedWidthInteger>: IntegerOperator {
    @inline(__always) static func apply(_ a: Element, _ b: Element) -> Element { a &* b }
}

private enum IntegerDivide<Element: FixedWidthInteger>: IntegerOperator {
    /// Truncating division; the caller has ruled out zero divisors, and `min / -1` wraps to `min`.
    @inline(__always) static func apply(_ a: Element, _ b: Element) -> Element {
        a.dividedReportingOverflow(by: b).partialValue
    }
}
