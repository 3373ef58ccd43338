import ResinIR

// Data movement for any element type, by element size in bytes: Transpose, Concat, Gather, Pad.
// Runs that stay contiguous are copied whole; single elements of 1, 2, 4 or 8 bytes move as integers.

extension Kernels {
    /// ONNX Transpose: `y` has shape `shape[permutation[i]]` and `y[i...] = x[i permuted back]`.
    ///
    /// Axes that stay neighbours in the same order merge first, so a permutation that keeps the last
    /// axis last copies whole runs.
    public static func transpose(
        _ x: UnsafeRawPointer, shape: [Int], permutation: [Int], elementSize: Int,
        into y: UnsafeMutableRawPointer
    ) {
        let rank = shape.count
        precondition(permutation.count == rank, "permutation \(permutation) does not fit shape \(shape)")
        if elementCount(shape) == 0 { return }
        withUnsafeTemporaryAllocation(of: Int.self, capacity: 4 * max(rank, 1)) { scratch in
            let base = scratch.baseAddress!
            let inputStrides = base, sizes = base + rank, strides = base + 2 * rank, counters = base + 3 * rank
            var running = 1, axis = rank - 1
            while axis >= 0 {
                inputStrides[axis] = running
                running *= shape[axis]
                axis -= 1
            }
            // Output axes in order, each with the input stride it walks; an axis whose whole extent is
            // one step of the axis before it extends that axis's group.
            var groups = 0
            for outputAxis in 0..<rank {
                let axis = permutation[outputAxis], size = shape[axis]
                if size == 1 { continue }
                if groups > 0 && strides[groups - 1] == inputStrides[axis] * size {
                    sizes[groups - 1] *= size
                    strides[groups - 1] = inputStrides[axis]
                } else {
                    sizes[groups] = size
                    strides[groups] = inputStrides[axis]
                    groups += 1
                }
            }
            if groups == 0 {
                y.copyMemory(from: x, byteCount: elementSize)
                return
            }
            let rowLength = sizes[groups - 1], rowStride = strides[groups - 1]
            for group in 0..<groups { counters[group] = 0 }
            var inputOffset = 0, target = y
            repeat {
                if rowStride == 1 {
                    target.copyMemory(from: x + inputOffset * elementSize, byteCount: rowLength * elementSize)
                } else {
                    copyStrided(x + inputOffset * elementSize, stride: rowStride, into: target,
                                count: rowLength, elementSize: elementSize)
                }
                target += rowLength * elementSize
            } while advance(counters, sizes: sizes, strides: strides, count: groups - 1, offset: &inputOffset)
        }
    }

    /// ONNX Concat along `axis` (non-negative); every input has the output's shape except along `axis`.
    public static func concat(
        _ inputs: [UnsafeRawPointer], shapes: [[Int]], axis: Int, elementSize: Int,
        into y: UnsafeMutableRawPointer
    ) {
        precondition(!inputs.isEmpty && inputs.count == shapes.count, "Concat needs one shape per input")
        let outer = elementCount(shapes[0], 0..<axis)
        inputs.withUnsafeBufferPointer { sources in
            withUnsafeTemporaryAllocation(of: Int.self, capacity: sources.count) { chunkBytes in
                for index in 0..<sources.count {
                    chunkBytes[index] = elementCount(shapes[index], axis..<shapes[index].count) * elementSize
                }
                var target = y
                for block in 0..<outer {
                    for index in 0..<sources.count {
                        let bytes = chunkBytes[index]
                        target.copyMemory(from: sources[index] + block * bytes, byteCount: bytes)
                        target += bytes
                    }
                }
            }
        }
    }

    /// ONNX Gather with 64-bit indices: `y` has shape `dataShape[..<axis] + indices shape + dataShape[(axis+1)...]`.
    ///
    /// Negative indices count from the end; an index outside `-size..<size` throws, naming the index and
    /// the axis, before anything is written.
    public static func gather(
        data: UnsafeRawPointer, dataShape: [Int], indices: UnsafePointer<Int64>, indicesCount: Int,
        axis: Int, elementSize: Int, into y: UnsafeMutableRawPointer
    ) throws(KernelError) {
        try gatherSlices(data, dataShape, indices, indicesCount, axis, elementSize, y)
    }

    /// ONNX Gather with 32-bit indices; as the 64-bit form.
    public static func gather(
        data: UnsafeRawPointer, dataShape: [Int], indices: UnsafePointer<Int32>, indicesCount: Int,
        axis: Int, elementSize: Int, into y: UnsafeMutableRawPointer
    ) throws(KernelError) {
        try gatherSlices(data, dataShape, indices, indicesCount, axis, elementSize, y)
    }

    private static func gatherSlices<Index: FixedWidthInteger>(
        _ data: UnsafeRawPointer, _ dataShape: [Int], _ indices: UnsafePointer<Index>, _ indicesCount: Int,
        _ axis: Int, _ elementSize: Int, _ y: UnsafeMutableRawPointer
    ) throws(KernelError) {
        precondition(axis >= 0 && axis < dataShape.count, "Gather axis \(axis) does not fit shape \(dataShape)")
        let axisSize = dataShape[axis]
        for position in 0..<indicesCount {
            let index = Int(indices[position])
            guard index >= -axisSize && index < axisSize else {
                throw KernelError("Gather index \(index) is out of range for axis \(axis) of size \(axisSize)")
            }
        }
        let outer = elementCount(dataShape, 0..<axis)
        let sliceBytes = elementCount(dataShape, (axis + 1)..<dataShape.count) * elementSize
        var target = y
        for block in 0..<outer {
            let source = data + block * axisSize * sliceBytes
            for position in 0..<indicesCount {
                var index = Int(indices[position])
                if index < 0 { index += axisSize }
                copyElement(from: source + index * sliceBytes, to: target, byteCount: sliceBytes)
                target += sliceBytes
            }
        }
    }

    /// Why `pad` cannot run on these operands, or nil: the edge, reflect and wrap modes need at least one
    /// element left on every axis they extend (ONNX Runtime fails the same way). Shapes are fixed once a
    /// session binds, so the executor checks this then, and `pad` treats a violation as a programmer error.
    public static func padProblem(shape: [Int], pads: [Int], mode: PadMode) -> KernelError? {
        let rank = shape.count
        guard pads.count == 2 * rank else { return KernelError("Pad has \(pads.count) pads for rank \(rank)") }
        var outputEmpty = false
        for axis in 0..<rank where shape[axis] + pads[axis] + pads[axis + rank] <= 0 {
            if shape[axis] + pads[axis] + pads[axis + rank] < 0 {
                return KernelError("Pad \(pads) removes more than axis \(axis) of shape \(shape) holds")
            }
            outputEmpty = true
        }
        if mode == .constant || outputEmpty { return nil }
        for axis in 0..<rank {
            let kept = shape[axis] - max(0, -pads[axis]) - max(0, -pads[axis + rank])
            if kept <= 0 && (pads[axis] > 0 || pads[axis + rank] > 0) {
                return KernelError("Pad mode \(mode.rawValue) cannot extend axis \(axis) of shape \(shape), which pads \(pads) leave empty")
            }
        }
        return nil
    }

    /// ONNX Pad: `pads` holds the begin of every axis, then the end; negative pads crop first, and the
    /// fill reads the cropped input (as ONNX Runtime does). Reflect and wrap extend periodically past
    /// one period, as numpy does (ONNX Runtime refuses reflect pads of the input size or more).
    ///
    /// `constantValue` points at one element. Requires `padProblem(shape:pads:mode:) == nil`.
    public static func pad(
        _ x: UnsafeRawPointer, shape: [Int], pads: [Int], mode: PadMode, constantValue: UnsafeRawPointer,
        elementSize: Int, into y: UnsafeMutableRawPointer
    ) {
        let rank = shape.count
        precondition(padProblem(shape: shape, pads: pads, mode: mode) == nil,
                     "Pad \(pads) in mode \(mode) does not fit shape \(shape)")
        if rank == 0 {
            y.copyMemory(from: x, byteCount: elementSize)
            return
        }
        withUnsafeTemporaryAllocation(of: Int.self, capacity: 6 * rank) { scratch in
            let base = scratch.baseAddress!
            let outputSizes = base, cropBegin = base + rank, kept = base + 2 * rank
            let padBegin = base + 3 * rank, inputStrides = base + 4 * rank, counters = base + 5 * rank
            var outputCount = 1, running = 1
            for reversedAxis in 0..<rank {
                let axis = rank - 1 - reversedAxis
                let begin = pads[axis], end = pads[axis + rank]
                outputSizes[axis] = shape[axis] + begin + end
                cropBegin[axis] = max(0, -begin)
                kept[axis] = shape[axis] - max(0, -begin) - max(0, -end)
                padBegin[axis] = max(0, begin)
                inputStrides[axis] = running
                running *= shape[axis]
                outputCount *= outputSizes[axis]
                counters[axis] = 0
            }
            if outputCount == 0 { return }
            let last = rank - 1
            let rowLength = outputSizes[last], rowBytes = rowLength * elementSize
            let lastCrop = cropBegin[last], lastKept = kept[last], lastPad = padBegin[last]
            var target = y
            for _ in 0..<(outputCount / rowLength) {
                var sourceOffset = 0, isFill = false
                for axis in 0..<last {
                    let source = padSource(counters[axis], cropBegin[axis], kept[axis], padBegin[axis], mode)
                    if source < 0 { isFill = true; break }
                    sourceOffset += source * inputStrides[axis]
                }
                if isFill {
                    fill(target, count: rowLength, with: constantValue, elementSize: elementSize)
                } else {
                    let row = x + sourceOffset * elementSize
                    let keptEnd = min(rowLength, lastPad + max(lastKept, 0))
                    for column in 0..<min(lastPad, rowLength) {
                        copyPadded(column, row, lastCrop, lastKept, lastPad, mode, constantValue, target, elementSize)
                    }
                    if keptEnd > lastPad {
                        (target + lastPad * elementSize).copyMemory(
                            from: row + lastCrop * elementSize, byteCount: (keptEnd - lastPad) * elementSize)
                    }
                    for column in max(keptEnd, lastPad)..<rowLength {
                        copyPadded(column, row, lastCrop, lastKept, lastPad, mode, constantValue, target, elementSize)
                    }
                }
                target += rowBytes
                var axis = last - 1
                while axis >= 0 {
                    counters[axis] += 1
                    if counters[axis] < outputSizes[axis] { break }
                    counters[axis] = 0
                    axis -= 1
                }
            }
        }
    }

    /// The input coordinate that output coordinate `output` reads along one axis, or -1 for the constant.
    @inline(__always)
    private static func padSource(_ output: Int, _ cropBegin: Int, _ kept: Int, _ padBegin: Int, _ mode: PadMode) -> Int {
        let relative = output - padBegin
        if relative >= 0 && relative < kept { return cropBegin + relative }
        switch mode {
        case .constant:
            return -1
        case .edge:
            return cropBegin + (relative < 0 ? 0 : kept - 1)
        case .wrap:
            return cropBegin + ((relative % kept) + kept) % kept
        case .reflect:
            // Mirror without repeating the edge: period 2 * (kept - 1), a triangle wave.
            if kept == 1 { return cropBegin }
            let period = 2 * (kept - 1)
            let phase = ((relative % period) + period) % period
            return cropBegin + (phase < kept ? phase : period - phase)
        }
    }

    @inline(__always)
    private static func copyPadded(
        _ column: Int, _ row: UnsafeRawPointer, _ cropBegin: Int, _ kept: Int, _ padBegin: Int, _ mode: PadMode,
        _ constantValue: UnsafeRawPointer, _ target: UnsafeMutableRawPointer, _ elementSize: Int
    ) {
        let source = padSource(column, cropBegin, kept, padBegin, mode)
        copyElement(from: source < 0 ? constantValue : row + source * elementSize,
                    to: target + column * elementSize, byteCount: elementSize)
    }

    /// Copies one element (or slice) of `byteCount` bytes; common element sizes move as one integer.
    @inline(__always)
    private static func copyElement(from source: UnsafeRawPointer, to target: UnsafeMutableRawPointer, byteCount: Int) {
        switch byteCount {
        case 4: target.storeBytes(of: source.loadUnaligned(as: UInt32.self), as: UInt32.self)
        case 8: target.storeBytes(of: source.loadUnaligned(as: UInt64.self), as: UInt64.self)
        case 2: target.storeBytes(of: source.loadUnaligned(as: UInt16.self), as: UInt16.self)
        case 1: target.storeBytes(of: source.load(as: UInt8.self), as: UInt8.self)
        default: target.copyMemory(from: source, byteCount: byteCount)
        }
    }

    /// Writes `count` copies of the element at `value`.
    private static func fill(
        _ target: UnsafeMutableRawPointer, count: Int, with value: UnsafeRawPointer, elementSize: Int
    ) {
        switch elementSize {
        case 4:
            let word = value.loadUnaligned(as: UInt32.self)
            for index in 0..<count { target.storeBytes(of: word, toByteOffset: index * 4, as: UInt32.self) }
        case 8:
            let word = value.loadUnaligned(as: UInt64.self)
            for index in 0..<count { target.storeBytes(of: word, toByteOffset: index * 8, as: UInt64.self) }
        default:
            for index in 0..<count { copyElement(from: value, to: target + index * elementSize, byteCount: elementSize) }
        }
    }

    /// `count` elements read `stride` elements apart, written contiguously.
    private static func copyStrided(
        _ source: UnsafeRawPointer, stride: Int, into target: UnsafeMutableRawPointer, count: Int, elementSize: Int
    ) {
        switch elementSize {
        case 4: copyStrided(source, stride, target, count, as: UInt32.self)
        case 8: copyStrided(source, stride, target, count, as: UInt64.self)
        case 2: copyStrided(source, stride, target, count, as: UInt16.self)
        case 1: copyStrided(source, stride, target, count, as: UInt8.self)
        default:
            for index in 0..<count {
                (target + index * elementSize).copyMemory(from: source + index * stride * elementSize, byteCount: elementSize)
            }
        }
    }

    @inline(__always)
    private static func copyStrided<Word: FixedWidthInteger>(
        _ source: UnsafeRawPointer, _ stride: Int, _ target: UnsafeMutableRawPointer, _ count: Int, as _: Word.Type
    ) {
        let size = MemoryLayout<Word>.size
        for index in 0..<count {
            (target + index * size).storeBytes(of: source.loadUnaligned(fromByteOffset: index * stride * size, as: Word.self),
                                               as: Word.self)
        }
    }

    // MARK: Reference

    /// Row-major coordinates of flat index `flat` in `shape`.
    private static func coordinates(of flat: Int, in shape: [Int]) -> [Int] {
        var remainder = flat
        var result = [Int](repeating: 0, count: shape.count)
        for axis in (0..<shape.count).reversed() {
            result[axis] = remainder % shape[axis]
            remainder /= shape[axis]
        }
        return result
    }

    /// Row-major flat index of `coordinates` in `shape`.
    private static func flatIndex(of coordinates: [Int], in shape: [Int]) -> Int {
        zip(coordinates, shape).reduce(0) { $0 * $1.1 + $1.0 }
    }

    /// Transpose by the definition: every output element looks up its input element.
    static func referenceTranspose(
        _ x: UnsafeRawPointer, shape: [Int], permutation: [Int], elementSize: Int, into y: UnsafeMutableRawPointer
    ) {
        let outputShape = permutation.map { shape[$0] }
        for flat in 0..<elementCount(shape) {
            let at = coordinates(of: flat, in: outputShape)
            var inputAt = [Int](repeating: 0, count: shape.count)
            for (outputAxis, axis) in permutation.enumerated() { inputAt[axis] = at[outputAxis] }
            (y + flat * elementSize).copyMemory(from: x + flatIndex(of: inputAt, in: shape) * elementSize,
                                                byteCount: elementSize)
        }
    }

    /// Concat by the definition: find which input each output element along `axis` comes from.
    static func referenceConcat(
        _ inputs: [UnsafeRawPointer], shapes: [[Int]], axis: Int, elementSize: Int, into y: UnsafeMutableRawPointer
    ) {
        var outputShape = shapes[0]
        outputShape[axis] = shapes.reduce(0) { $0 + $1[axis] }
        for flat in 0..<elementCount(outputShape) {
            var at = coordinates(of: flat, in: outputShape)
            var input = 0
            while at[axis] >= shapes[input][axis] { at[axis] -= shapes[input][axis]; input += 1 }
            (y + flat * elementSize).copyMemory(from: inputs[input] + flatIndex(of: at, in: shapes[input]) * elementSize,
                                                byteCount: elementSize)
        }
    }

    /// Gather by the definition (numpy `take`), on indices already converted to `Int`.
    static func referenceGather(
        data: UnsafeRawPointer, dataShape: [Int], indices: [Int], axis: Int, elementSize: Int,
        into y: UnsafeMutableRawPointer
    ) throws(KernelError) {
        let axisSize = dataShape[axis]
        if let bad = indices.first(where: { $0 < -axisSize || $0 >= axisSize }) {
            throw KernelError("Gather index \(bad) is out of range for axis \(axis) of size \(axisSize)")
        }
        let outputShape = Array(dataShape[..<axis]) + [indices.count] + Array(dataShape[(axis + 1)...])
        for flat in 0..<elementCount(outputShape) {
            var at = coordinates(of: flat, in: outputShape)
            let index = indices[at[axis]]
            at[axis] = index < 0 ? index + axisSize : index
            (y + flat * elementSize).copyMemory(from: data + flatIndex(of: at, in: dataShape) * elementSize,
                                                byteCount: elementSize)
        }
    }

    /// Pad by building, for every axis, the list of input coordinates the output reads (nil for the
    /// constant): a plain shift for the constant mode, otherwise a walk outward from the kept range step
    /// by step, bouncing (reflect), cycling (wrap) or standing still (edge).
    static func referencePad(
        _ x: UnsafeRawPointer, shape: [Int], pads: [Int], mode: PadMode, constantValue: UnsafeRawPointer,
        elementSize: Int, into y: UnsafeMutableRawPointer
    ) {
        let rank = shape.count
        var sources: [[Int?]] = []
        for axis in 0..<rank {
            let begin = pads[axis], end = pads[axis + rank]
            let keptStart = max(0, -begin)
            let kept = Array(keptStart..<max(keptStart, shape[axis] - max(0, -end)))
            func walk(_ count: Int, from start: Int, direction: Int) -> [Int?] {
                var result: [Int?] = []
                var position = start, step = direction
                for _ in 0..<count {
                    if kept.isEmpty { result.append(nil); continue }  // only when another axis empties the output
                    switch mode {
                    case .constant, .edge: break
                    case .wrap:
                        position += step
                        if position < 0 { position = kept.count - 1 }
                        if position >= kept.count { position = 0 }
                    case .reflect:
                        if kept.count > 1 {
                            if position + step < 0 || position + step >= kept.count { step = -step }
                            position += step
                        }
                    }
                    result.append(kept[position])
                }
                return result
            }
            if mode == .constant {
                // Output coordinate o shows input o - begin where that exists, which also covers crops
                // that remove more than the axis holds.
                sources.append((0..<max(0, shape[axis] + begin + end)).map { output in
                    output - begin >= 0 && output - begin < shape[axis] ? output - begin : nil
                })
                continue
            }
            let before = walk(max(0, begin), from: 0, direction: -1).reversed()
            let after = walk(max(0, end), from: kept.count - 1, direction: 1)
            sources.append(Array(before) + kept.map { Optional($0) } + after)
        }
        let outputShape = sources.map(\.count)
        for flat in 0..<elementCount(outputShape) {
            let at = coordinates(of: flat, in: outputShape)
            let inputAt = (0..<rank).map { sources[$0][at[$0]] }
            let source: UnsafeRawPointer
            if inputAt.contains(where: { $0 == nil }) {
                source = constantValue
            } else {
                source = x + flatIndex(of: inputAt.map { $0! }, in: shape) * elementSize
            }
            (y + flat * elementSize).copyMemory(from: source, byteCount: elementSize)
        }
    }
}
