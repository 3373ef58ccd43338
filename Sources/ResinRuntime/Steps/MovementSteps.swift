import ResinIR

/// Transpose of any element type.
struct TransposeStep {
    var input: UnsafeRawPointer
    var shape: [Int]
    var permutation: [Int]
    var elementSize: Int
    var output: UnsafeMutableRawPointer

    func run() { Kernels.transpose(input, shape: shape, permutation: permutation, elementSize: elementSize, into: output) }
}

/// Concat of any element type.
struct ConcatStep {
    var inputs: [UnsafeRawPointer]
    var shapes: [[Int]]
    var axis: Int
    var elementSize: Int
    var output: UnsafeMutableRawPointer

    func run() { Kernels.concat(inputs, shapes: shapes, axis: axis, elementSize: elementSize, into: output) }
}

/// Gather with int64 or int32 indices.
struct GatherStep {
    var data: UnsafeRawPointer
    var shape: [Int]
    var indices: UnsafeRawPointer
    var indicesAreInt32: Bool
    var indexCount: Int
    var axis: Int
    var elementSize: Int
    var output: UnsafeMutableRawPointer

    func run() throws {
        if indicesAreInt32 {
            try Kernels.gather(data: data, dataShape: shape, indices: indices.assumingMemoryBound(to: Int32.self),
                               indicesCount: indexCount, axis: axis, elementSize: elementSize, into: output)
        } else {
            try Kernels.gather(data: data, dataShape: shape, indices: indices.assumingMemoryBound(to: Int64.self),
                               indicesCount: indexCount, axis: axis, elementSize: elementSize, into: output)
        }
    }
}

/// Pad in any mode.
struct PadStep {
    var input: UnsafeRawPointer
    var shape: [Int]
    var pads: [Int]
    var mode: PadMode
    /// Where the constant fill comes from.
    enum Fill {
        /// A one-element input tensor, read at run time.
        case input(UnsafeRawPointer)
        /// The element's bytes (little-endian, up to 8), from an attribute or the zero default.
        case inline(UInt64)
    }
    var fill: Fill
    var elementSize: Int
    var output: UnsafeMutableRawPointer

    func run() {
        switch fill {
        case .input(let pointer):
            Kernels.pad(input, shape: shape, pads: pads, mode: mode, constantValue: pointer, elementSize: elementSize, into: output)
        case .inline(let bits):
            withUnsafeBytes(of: bits) { value in
                Kernels.pad(input, shape: shape, pads: pads, mode: mode, constantValue: value.baseAddress!,
                            elementSize: elementSize, into: output)
            }
        }
    }
}
