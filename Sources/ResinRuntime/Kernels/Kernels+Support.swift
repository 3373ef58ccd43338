// Small pieces the kernel families share: unaligned vector access and index arithmetic.
//
// Vectors are `SIMD8<Float>` with plain `*` and `+`: on baseline SSE each becomes two 4-wide
// instructions, while `addingProduct` would become a scalar `fmaf` call per lane (Docs/DESIGN.md, Kernels).

extension Kernels {
    /// Eight floats from `pointer`, which need not be aligned.
    @inline(__always)
    static func load8(_ pointer: UnsafePointer<Float>) -> SIMD8<Float> {
        UnsafeRawPointer(pointer).loadUnaligned(as: SIMD8<Float>.self)
    }

    /// Stores eight floats at `pointer`, which need not be aligned.
    @inline(__always)
    static func store8(_ value: SIMD8<Float>, _ pointer: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(pointer).storeBytes(of: value, as: SIMD8<Float>.self)
    }

    /// The product of `shape`'s dimensions (1 for a scalar).
    @inline(__always)
    static func elementCount(_ shape: [Int]) -> Int {
        var count = 1
        for index in 0..<shape.count { count *= shape[index] }
        return count
    }

    /// Whether `values` holds `value`, by index: a plain loop, because generic `Sequence` algorithms
    /// run unspecialised in debug builds and allocate coroutine frames there.
    @inline(__always)
    static func contains(_ values: [Int], _ value: Int) -> Bool {
        for index in 0..<values.count where values[index] == value { return true }
        return false
    }

    /// The product of `shape[range]`.
    @inline(__always)
    static func elementCount(_ shape: [Int], _ range: Range<Int>) -> Int {
        var count = 1
        for index in range { count *= shape[index] }
        return count
    }

    /// `ceil(numerator / denominator)` for a positive denominator and a numerator of any sign.
    @inline(__always)
    static func ceilingDivide(_ numerator: Int, _ denominator: Int) -> Int {
        numerator >= 0 ? (numerator + denominator - 1) / denominator : -((-numerator) / denominator)
    }

    /// `floor(numerator / denominator)` for a positive denominator and a numerator of any sign.
    @inline(__always)
    static func floorDivide(_ numerator: Int, _ denominator: Int) -> Int {
        numerator >= 0 ? numerator / denominator : -((-numerator + denominator - 1) / denominator)
    }

    /// Sum of `count` contiguous floats, accumulated in `Float` vectors over short blocks and in `Double`
    /// across blocks, so long sums keep about single-precision accuracy at vector speed.
    static func accurateSum(_ values: UnsafePointer<Float>, count: Int) -> Double {
        let blockLength = 512
        var total = 0.0
        var start = 0
        while start < count {
            let end = min(count, start + blockLength)
            var lanes0 = SIMD8<Float>(), lanes1 = SIMD8<Float>()
            var index = start
            while index + 16 <= end {
                lanes0 += load8(values + index)
                lanes1 += load8(values + index + 8)
                index += 16
            }
            if index + 8 <= end {
                lanes0 += load8(values + index)
                index += 8
            }
            var block = (lanes0 + lanes1).sum()
            while index < end {
                block += values[index]
                index += 1
            }
            total += Double(block)
            start = end
        }
        return total
    }

    /// Steps an odometer over `count` axes of the given sizes, moving `offset` by the axes' strides;
    /// returns false once every axis has wrapped back to zero.
    @inline(__always)
    static func advance(
        _ counters: UnsafeMutablePointer<Int>, sizes: UnsafePointer<Int>, strides: UnsafePointer<Int>,
        count: Int, offset: inout Int
    ) -> Bool {
        var axis = count - 1
        while axis >= 0 {
            counters[axis] += 1
            offset += strides[axis]
            if counters[axis] < sizes[axis] { return true }
            offset -= strides[axis] * sizes[axis]
            counters[axis] = 0
            axis -= 1
        }
        return false
    }
}
