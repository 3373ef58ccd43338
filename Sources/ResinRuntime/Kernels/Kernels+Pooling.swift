import CResinKernels
import ResinIR

// MaxPool, AveragePool, GlobalAveragePool and GlobalMaxPool over [N, C, spatial...], any spatial rank.
//
// The windowed pools work one output row (the last spatial axis) at a time and turn the window inside
// out: for each tap of the window, every output of the row whose tap falls inside the input is updated
// in one branch-free loop over a column range computed once per call, so padding costs no test per
// element. Strides 1 and 2 (ResNet's stem pool) run eight columns per step. Taps are visited in row-major
// window order, so ties and NaN resolve exactly as a per-window scan does.
//
// Semantics:
// - MaxPool propagates NaN: a window holding NaN gives NaN, as numpy's `max` does. (ONNX Runtime and the
//   ONNX reference evaluator let a NaN win only as a window's first tap, or, in ONNX Runtime's vector
//   path, only as its last.) Otherwise the first maximum in row-major window order wins. A window
//   entirely in padding gives -infinity and index -1.
// - MaxPool indices flatten [N, C, spatial...]: `(n * C + c) * spatialCount + offset`, where `offset` is
//   row-major over the spatial axes, or column-major (first spatial axis fastest) with storage order 1,
//   as in ONNX Runtime and the reference evaluator.
// - AveragePool without count_include_pad divides by the taps inside the input; with it, by the taps
//   inside the explicitly padded extent [-padBegin, size + padEnd). Taps past that extent, which
//   ceil_mode adds to the last windows, never count. This matches ONNX Runtime; the reference evaluator
//   agrees except when ceil_mode needs two or more extra cells, where it shifts its windows by splitting
//   them between both ends. A window with nothing to count gives NaN.
// - Dilated taps count one each.

extension Kernels {
    /// ONNX MaxPool over `inputShape = [N, C, spatial...]`; `y` has shape `[N, C] + window.outputSizes`.
    ///
    /// With `indices`, also writes the ONNX Indices output (see the file notes; `storageOrder` 1 means
    /// column-major spatial offsets).
    /// `pool` splits the [n, c] planes over its threads. A 2-D pool without indices runs on the C kernels of
    /// `instructionSet` (`resin_maxpool_supported` says which windows), ties between +0 and -0 aside the
    /// same values as the loops here.
    public static func maxPool(
        _ x: UnsafePointer<Float>, inputShape: [Int], window: ResolvedWindow,
        into y: UnsafeMutablePointer<Float>,
        indices: UnsafeMutablePointer<Int64>? = nil, storageOrder: Int = 0, pool workers: WorkerPool? = nil,
        instructionSet: InstructionSet = .active
    ) {
        if indices == nil, var shape = maxPoolShape(inputShape, window), resin_maxpool_supported(&shape) != 0 {
            return nativeMaxPool(x, shape: shape, planes: inputShape[0] * inputShape[1], into: y, pool: workers,
                                 instructionSet: instructionSet)
        }
        splitPlanes(x, inputShape, window, y, indices == nil ? .maximum : .maximumWithIndices(columnMajor: storageOrder == 1),
                    indices, workers)
    }

    /// ONNX AveragePool over `inputShape = [N, C, spatial...]`; `y` has shape `[N, C] + window.outputSizes`.
    /// `pool` splits the [n, c] planes over its threads.
    public static func averagePool(
        _ x: UnsafePointer<Float>, inputShape: [Int], window: ResolvedWindow, countIncludePad: Bool,
        into y: UnsafeMutablePointer<Float>, pool workers: WorkerPool? = nil
    ) {
        splitPlanes(x, inputShape, window, y, .average(includePad: countIncludePad), nil, workers)
    }

    /// ONNX GlobalAveragePool: the mean of each [n, c] plane of `shape = [N, C, spatial...]`.
    public static func globalAveragePool(
        _ x: UnsafePointer<Float>, shape: [Int], into y: UnsafeMutablePointer<Float>
    ) {
        let planes = shape[0] * shape[1]
        let planeSize = elementCount(shape, 2..<shape.count)
        for plane in 0..<planes {
            y[plane] = Float(accurateSum(x + plane * planeSize, count: planeSize) / Double(planeSize))
        }
    }

    /// ONNX GlobalMaxPool: the maximum of each [n, c] plane of `shape = [N, C, spatial...]`; NaN propagates.
    public static func globalMaxPool(
        _ x: UnsafePointer<Float>, shape: [Int], into y: UnsafeMutablePointer<Float>
    ) {
        let planes = shape[0] * shape[1]
        let planeSize = elementCount(shape, 2..<shape.count)
        for plane in 0..<planes {
            let source = x + plane * planeSize
            var lanes = SIMD8<Float>(repeating: -.infinity)
            var index = 0
            while index + 8 <= planeSize {
                let values = load8(source + index)
                lanes.replace(with: values, where: (values .> lanes) .| (values .!= values))
                index += 8
            }
            var maximum = -Float.infinity
            for lane in 0..<8 {
                let value = lanes[lane]
                if value > maximum || value.isNaN { maximum = value }
            }
            while index < planeSize {
                let value = source[index]
                if value > maximum || value.isNaN { maximum = value }
                index += 1
            }
            y[plane] = maximum
        }
    }

    /// The C kernels' description of a 2-D pool, or nil for another rank.
    static func maxPoolShape(_ inputShape: [Int], _ window: ResolvedWindow) -> resin_maxpool_shape? {
        guard inputShape.count == 4, window.kernel.count == 2, window.outputSizes.count == 2, window.strides.count == 2,
              window.dilations.count == 2, window.padsBegin.count == 2 else { return nil }
        return resin_maxpool_shape(
            input_height: inputShape[2], input_width: inputShape[3], output_height: window.outputSizes[0],
            output_width: window.outputSizes[1], kernel_height: window.kernel[0], kernel_width: window.kernel[1],
            stride_height: window.strides[0], stride_width: window.strides[1], dilation_height: window.dilations[0],
            dilation_width: window.dilations[1], pad_top: window.padsBegin[0], pad_left: window.padsBegin[1])
    }

    /// What every task of a split C max pool shares.
    private struct NativePoolSplit {
        var shape: UnsafePointer<resin_maxpool_shape>
        var kernel: resin_maxpool_fn
        var x: UnsafePointer<Float>
        var y: UnsafeMutablePointer<Float>
        var rows: Int, tasks: Int
    }

    /// The C max pool over output rows of every plane, split in contiguous runs of rows over `workers` (the
    /// rows of one plane may go to two threads: ResNet's stem pool has 64 planes of 56 rows).
    private static func nativeMaxPool(
        _ x: UnsafePointer<Float>, shape: resin_maxpool_shape, planes: Int, into y: UnsafeMutablePointer<Float>,
        pool workers: WorkerPool?, instructionSet: InstructionSet
    ) {
        let kernel = instructionSet.kernels.pointee.maxpool!
        let rows = planes * shape.output_height
        if rows == 0 { return }
        let outputCount = rows * shape.output_width
        let tasks = min(rows, workers?.taskCount(forElements: outputCount * shape.kernel_height * shape.kernel_width) ?? 1)
        withUnsafePointer(to: shape) { shape in
            guard let workers, tasks > 1 else { return kernel(shape, x, y, 0, rows) }
            var split = NativePoolSplit(shape: shape, kernel: kernel, x: x, y: y, rows: rows, tasks: tasks)
            withUnsafePointer(to: &split) { context in
                workers.forEach(tasks, context: context) { raw, task in
                    let s = raw.assumingMemoryBound(to: NativePoolSplit.self).pointee
                    s.kernel(s.shape, s.x, s.y, task * s.rows / s.tasks, (task + 1) * s.rows / s.tasks)
                }
            }
        }
    }

    private enum PoolMode {
        case maximum
        case maximumWithIndices(columnMajor: Bool)
        case average(includePad: Bool)
    }

    /// What every task of a split pool shares.
    private struct PoolSplit {
        var x: UnsafePointer<Float>
        var inputShape: [Int]
        var window: ResolvedWindow
        var y: UnsafeMutablePointer<Float>
        var mode: PoolMode
        var indices: UnsafeMutablePointer<Int64>?
        var planes: Int, tasks: Int
    }

    /// Runs `pool` over the planes, split over `workers` when the output is large enough to repay a dispatch
    /// (ResNet's stem pool, 64 planes of 56x56, ran on one thread while the other waited).
    private static func splitPlanes(
        _ x: UnsafePointer<Float>, _ inputShape: [Int], _ window: ResolvedWindow,
        _ y: UnsafeMutablePointer<Float>, _ mode: PoolMode, _ indices: UnsafeMutablePointer<Int64>?, _ workers: WorkerPool?
    ) {
        let planes = inputShape.count >= 2 ? inputShape[0] * inputShape[1] : 0
        let outputCount = planes * elementCount(window.outputSizes)
        let tasks = min(planes, workers?.taskCount(forElements: outputCount * max(1, elementCount(window.kernel))) ?? 1)
        guard let workers, tasks > 1 else {
            return pool(x, inputShape, window, y, mode, indices, planes: 0..<planes)
        }
        var split = PoolSplit(x: x, inputShape: inputShape, window: window, y: y, mode: mode, indices: indices,
                              planes: planes, tasks: tasks)
        withUnsafePointer(to: &split) { context in
            workers.forEach(tasks, context: context) { raw, task in
                let s = raw.assumingMemoryBound(to: PoolSplit.self).pointee
                Kernels.pool(s.x, s.inputShape, s.window, s.y, s.mode, s.indices,
                             planes: (task * s.planes / s.tasks)..<((task + 1) * s.planes / s.tasks))
            }
        }
    }

    /// The pool of planes `planeRange` (all of `[N, C]` flattened).
    private static func pool(
        _ x: UnsafePointer<Float>, _ inputShape: [Int], _ window: ResolvedWindow,
        _ y: UnsafeMutablePointer<Float>, _ mode: PoolMode, _ indices: UnsafeMutablePointer<Int64>?, planes planeRange: Range<Int>
    ) {
        let rank = window.kernel.count
        precondition(rank >= 1 && inputShape.count == rank + 2 && window.outputSizes.count == rank
                     && window.strides.count == rank && window.dilations.count == rank
                     && window.padsBegin.count == rank && window.padsEnd.count == rank,
                     "pooling window \(window) does not fit input shape \(inputShape)")
        let planes = inputShape[0] * inputShape[1]
        let inputPlane = elementCount(inputShape, 2..<inputShape.count)
        let outputPlane = elementCount(window.outputSizes)
        if planes == 0 || outputPlane == 0 { return }
        let last = rank - 1
        let width = inputShape[2 + last], outputWidth = window.outputSizes[last]
        let kernelWidth = window.kernel[last], strideWidth = window.strides[last]
        let dilationWidth = window.dilations[last]
        let padWidth = window.padsBegin[last], padWidthEnd = window.padsEnd[last]
        let outerRows = outputPlane / outputWidth
        // Index arithmetic for the Indices output: a row's offset plus the column times `columnScale`.
        var columnMajor = false, averaging = false, includePad = false
        switch mode {
        case .maximum: break
        case .maximumWithIndices(let isColumnMajor): columnMajor = isColumnMajor
        case .average(let countsPad): averaging = true; includePad = countsPad
        }
        let columnScale = columnMajor ? inputPlane / max(width, 1) : 1

        // Scratch: per outer spatial axis (all but the last) the input size, output size, stride,
        // dilation, begin pad, end pad, kernel size, output coordinate and tap coordinate; then per tap
        // of the last axis the range of output columns it reaches inside the input, computed once here
        // so rows pay no divisions.
        let outerScratch = 9 * last
        withUnsafeTemporaryAllocation(of: Int.self, capacity: outerScratch + 2 * kernelWidth) { scratch in
            let base = scratch.baseAddress!
            let sizes = base, outputSizes = base + last, strides = base + 2 * last, dilations = base + 3 * last
            let padsBegin = base + 4 * last, padsEnd = base + 5 * last, kernel = base + 6 * last
            let outputCoordinates = base + 7 * last, tapCoordinates = base + 8 * last
            let tapFirst = base + outerScratch, tapEnd = base + outerScratch + kernelWidth
            for axis in 0..<last {
                sizes[axis] = inputShape[2 + axis]
                outputSizes[axis] = window.outputSizes[axis]
                strides[axis] = window.strides[axis]
                dilations[axis] = window.dilations[axis]
                padsBegin[axis] = window.padsBegin[axis]
                padsEnd[axis] = window.padsEnd[axis]
                kernel[axis] = window.kernel[axis]
            }
            for tap in 0..<kernelWidth {
                // Columns c with c * stride + shift in [0, width).
                let shift = tap * dilationWidth - padWidth
                tapFirst[tap] = min(outputWidth, max(0, ceilingDivide(-shift, strideWidth)))
                tapEnd[tap] = max(tapFirst[tap], min(outputWidth, floorDivide(width - 1 - shift, strideWidth) + 1))
            }
            // Columns whose every tap is inside the input: the first tap reaches furthest left, the last
            // furthest right. Their divisor is the full kernel width; only the few others need counting.
            let interiorFirst = tapFirst[0]
            let interiorEnd = max(interiorFirst, tapEnd[kernelWidth - 1])

            for plane in planeRange {
                let planeX = x + plane * inputPlane
                for axis in 0..<last { outputCoordinates[axis] = 0 }
                for row in 0..<outerRows {
                    let rowY = y + plane * outputPlane + row * outputWidth
                    let rowIndices = indices.map { $0 + plane * outputPlane + row * outputWidth }
                    if averaging {
                        rowY.update(repeating: 0, count: outputWidth)
                    } else {
                        rowY.update(repeating: -.infinity, count: outputWidth)
                        rowIndices?.update(repeating: -1, count: outputWidth)
                    }
                    for axis in 0..<last { tapCoordinates[axis] = 0 }
                    var insideTaps = 0, paddedTaps = 0
                    while true {
                        // Where this outer tap lands, and whether it is inside the input or the padded extent.
                        var inside = true, insidePadded = true
                        var rowOffset = 0, columnMajorOffset = 0, columnMajorScale = 1
                        for axis in 0..<last {
                            let position = outputCoordinates[axis] * strides[axis]
                                + tapCoordinates[axis] * dilations[axis] - padsBegin[axis]
                            if position < 0 || position >= sizes[axis] { inside = false }
                            if position < -padsBegin[axis] || position >= sizes[axis] + padsEnd[axis] { insidePadded = false }
                            rowOffset = rowOffset * sizes[axis] + position
                            columnMajorOffset += position * columnMajorScale
                            columnMajorScale *= sizes[axis]
                        }
                        if insidePadded { paddedTaps += 1 }
                        if inside {
                            insideTaps += 1
                            let rowX = planeX + rowOffset * width
                            let indexBase = plane * inputPlane + (columnMajor ? columnMajorOffset : rowOffset * width)
                            for tap in 0..<kernelWidth {
                                let first = tapFirst[tap], end = tapEnd[tap]
                                if first >= end { continue }
                                let shift = tap * dilationWidth - padWidth
                                switch mode {
                                case .maximum:
                                    maximumRow(rowX + shift, strideWidth, rowY, first, end)
                                case .maximumWithIndices:
                                    maximumRowWithIndices(rowX, strideWidth, shift, rowY, rowIndices!, first, end,
                                                          Int64(indexBase), Int64(columnScale))
                                case .average:
                                    sumRow(rowX + shift, strideWidth, rowY, first, end)
                                }
                            }
                        }
                        // Next outer tap, row-major.
                        var axis = last - 1
                        while axis >= 0 {
                            tapCoordinates[axis] += 1
                            if tapCoordinates[axis] < kernel[axis] { break }
                            tapCoordinates[axis] = 0
                            axis -= 1
                        }
                        if axis < 0 { break }
                    }
                    if averaging {
                        let rowCount = includePad ? paddedTaps : insideTaps
                        let low = includePad ? -padWidth : 0, high = includePad ? width + padWidthEnd : width
                        for column in 0..<outputWidth {
                            if column == interiorFirst && interiorFirst < interiorEnd {
                                let divisor = Float(rowCount * kernelWidth)
                                for inner in interiorFirst..<interiorEnd { rowY[inner] /= divisor }
                                continue
                            }
                            if column > interiorFirst && column < interiorEnd { continue }
                            // Taps k with start + k * dilation in [low, high).
                            let start = column * strideWidth - padWidth
                            let firstTap = max(0, ceilingDivide(low - start, dilationWidth))
                            let endTap = min(kernelWidth, ceilingDivide(high - start, dilationWidth))
                            rowY[column] /= Float(rowCount * max(0, endTap - firstTap))
                        }
                    }
                    // Next output row, row-major.
                    var axis = last - 1
                    while axis >= 0 {
                        outputCoordinates[axis] += 1
                        if outputCoordinates[axis] < outputSizes[axis] { break }
                        outputCoordinates[axis] = 0
                        axis -= 1
                    }
                }
            }
        }
    }

    /// `y[c] = max(y[c], x[c * stride])` for c in first..<end, NaN taking over.
    @inline(__always)
    private static func maximumRow(
        _ x: UnsafePointer<Float>, _ stride: Int, _ y: UnsafeMutablePointer<Float>, _ first: Int, _ end: Int
    ) {
        var column = first
        if stride == 1 {
            while column + 8 <= end {
                let values = load8(x + column)
                var current = load8(y + column)
                current.replace(with: values, where: (values .> current) .| (values .!= values))
                store8(current, y + column)
                column += 8
            }
        } else if stride == 2 {
            // Sixteen contiguous floats and their even lanes beat eight strided scalar loads. The load
            // reaches one float past its last tap; requiring one more tap in range keeps it inside the row.
            while column + 9 <= end {
                let pair = UnsafeRawPointer(x + 2 * column).loadUnaligned(as: SIMD16<Float>.self)
                let values = pair.evenHalf
                var current = load8(y + column)
                current.replace(with: values, where: (values .> current) .| (values .!= values))
                store8(current, y + column)
                column += 8
            }
        }
        while column < end {
            let value = x[column * stride], current = y[column]
            y[column] = value > current || value != value ? value : current
            column += 1
        }
    }

    /// The maximum with its flat input index: `index = base + (c * stride + shift) * columnScale`.
    @inline(__always)
    private static func maximumRowWithIndices(
        _ x: UnsafePointer<Float>, _ stride: Int, _ shift: Int,
        _ y: UnsafeMutablePointer<Float>, _ indices: UnsafeMutablePointer<Int64>,
        _ first: Int, _ end: Int, _ base: Int64, _ columnScale: Int64
    ) {
        for column in first..<end {
            let position = column * stride + shift
            let value = x[position], current = y[column]
            if indices[column] < 0 || value > current || (value.isNaN && !current.isNaN) {
                y[column] = value
                indices[column] = base + Int64(position) * columnScale
            }
        }
    }

    /// `y[c] += x[c * stride]` for c in first..<end.
    @inline(__always)
    private static func sumRow(
        _ x: UnsafePointer<Float>, _ stride: Int, _ y: UnsafeMutablePointer<Float>, _ first: Int, _ end: Int
    ) {
        var column = first
        if stride == 1 {
            while column + 8 <= end {
                store8(load8(y + column) + load8(x + column), y + column)
                column += 8
            }
        } else if stride == 2 {
            // As in `maximumRow`: even lanes of sixteen contiguous floats, kept inside the row.
            while column + 9 <= end {
                let pair = UnsafeRawPointer(x + 2 * column).loadUnaligned(as: SIMD16<Float>.self)
                store8(load8(y + column) + pair.evenHalf, y + column)
                column += 8
            }
        }
        while column < end {
            y[column] += x[column * stride]
            column += 1
        }
    }

    // MARK: Reference

    /// Pooling straight from the definition: every output scans its whole window in row-major order.
    static func referencePool(
        _ x: UnsafePointer<Float>, inputShape: [Int], window: ResolvedWindow,
        average: Bool, countIncludePad: Bool = false,
        into y: UnsafeMutablePointer<Float>, indices: UnsafeMutablePointer<Int64>? = nil, storageOrder: Int = 0
    ) {
        let rank = window.kernel.count
        let spatial = Array(inputShape[2...])
        let planes = inputShape[0] * inputShape[1]
        let inputPlane = elementCount(spatial), outputPlane = elementCount(window.outputSizes)
        let taps = elementCount(window.kernel)
        func coordinates(_ flat: Int, _ shape: [Int]) -> [Int] {
            var remainder = flat
            var result = [Int](repeating: 0, count: shape.count)
            for axis in (0..<shape.count).reversed() {
                result[axis] = remainder % shape[axis]
                remainder /= shape[axis]
            }
            return result
        }
        for plane in 0..<planes {
            for output in 0..<outputPlane {
                let outputAt = coordinates(output, window.outputSizes)
                var best = -Float.infinity, bestIndex: Int64 = -1
                var total: Float = 0, inside = 0, insidePadded = 0
                for tap in 0..<taps {
                    let tapAt = coordinates(tap, window.kernel)
                    let position = (0..<rank).map {
                        outputAt[$0] * window.strides[$0] + tapAt[$0] * window.dilations[$0] - window.padsBegin[$0]
                    }
                    if (0..<rank).allSatisfy({ position[$0] >= -window.padsBegin[$0]
                                               && position[$0] < spatial[$0] + window.padsEnd[$0] }) {
                        insidePadded += 1
                    }
                    guard (0..<rank).allSatisfy({ position[$0] >= 0 && position[$0] < spatial[$0] }) else { continue }
                    inside += 1
                    var rowMajor = 0, columnMajor = 0, scale = 1
                    for axis in 0..<rank {
                        rowMajor = rowMajor * spatial[axis] + position[axis]
                        columnMajor += position[axis] * scale
                        scale *= spatial[axis]
                    }
                    let value = x[plane * inputPlane + rowMajor]
                    total += value
                    if bestIndex < 0 || value > best || (value.isNaN && !best.isNaN) {
                        best = value
                        bestIndex = Int64(plane * inputPlane + (storageOrder == 1 ? columnMajor : rowMajor))
                    }
                }
                if average {
                    y[plane * outputPlane + output] = total / Float(countIncludePad ? insidePadded : inside)
                } else {
                    y[plane * outputPlane + output] = best
                    indices?[plane * outputPlane + output] = bestIndex
                }
            }
        }
    }

    /// Global pooling from the definition, in `Double` for the mean.
    static func referenceGlobalPool(
        _ x: UnsafePointer<Float>, shape: [Int], average: Bool, into y: UnsafeMutablePointer<Float>
    ) {
        let planeSize = elementCount(shape, 2..<shape.count)
        for plane in 0..<(shape[0] * shape[1]) {
            var total = 0.0, maximum = -Float.infinity
            for index in 0..<planeSize {
                let value = x[plane * planeSize + index]
                total += Double(value)
                if value > maximum || value.isNaN && !maximum.isNaN { maximum = value }
            }
            y[plane] = average ? Float(total / Double(planeSize)) : maximum
        }
    }
}
