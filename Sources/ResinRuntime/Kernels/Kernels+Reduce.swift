// ReduceMean over any set of axes. The output is written in the keepdims=1 layout, which is also the
// keepdims=0 layout: dropping size-1 axes moves no data.
//
// Sums run in `Float` vectors over short contiguous blocks and in `Double` across blocks and along
// strided axes, so a mean over millions of elements keeps single-precision accuracy.

extension Kernels {
    /// ONNX ReduceMean of `x` (shape `shape`) over `axes`, sorted, non-negative and distinct.
    ///
    /// A mean over an empty axis is NaN. With no axes the kernel copies.
    public static func reduceMean(
        _ x: UnsafePointer<Float>, shape: [Int], axes: [Int], into y: UnsafeMutablePointer<Float>
    ) {
        let rank = shape.count
        var reducedCount = 1
        var outputCount = 1
        for axis in 0..<rank {
            if contains(axes, axis) { reducedCount *= shape[axis] } else { outputCount *= shape[axis] }
        }
        if outputCount == 0 { return }
        if reducedCount == 0 {
            y.update(repeating: .nan, count: outputCount)
            return
        }
        if reducedCount == 1 {
            if UnsafePointer(y) != x { y.update(from: x, count: outputCount) }
            return
        }
        let scale = 1 / Double(reducedCount)
        // Scratch per group of merged axes: size and stride, kept groups first, then reduced groups, then
        // the odometer counters.
        withUnsafeTemporaryAllocation(of: Int.self, capacity: 5 * rank) { scratch in
            let base = scratch.baseAddress!
            let keptSizes = base, keptStrides = base + rank
            let reducedSizes = base + 2 * rank, reducedStrides = base + 3 * rank, counters = base + 4 * rank
            // Merge neighbouring axes of the same kind (size-1 axes drop out), from the last axis back so
            // strides accumulate; then reverse each list into outer-to-inner order.
            var keptGroups = 0, reducedGroups = 0, running = 1
            var lastKind = 0  // 1 kept, 2 reduced
            var innermostIsReduced = false
            for reversedAxis in 0..<rank where shape[rank - 1 - reversedAxis] != 1 {
                let axis = rank - 1 - reversedAxis
                let isReduced = contains(axes, axis)
                if lastKind == 0 { innermostIsReduced = isReduced }
                if isReduced {
                    if lastKind == 2 {
                        reducedSizes[reducedGroups - 1] *= shape[axis]
                    } else {
                        reducedSizes[reducedGroups] = shape[axis]
                        reducedStrides[reducedGroups] = running
                        reducedGroups += 1
                    }
                    lastKind = 2
                } else {
                    if lastKind == 1 {
                        keptSizes[keptGroups - 1] *= shape[axis]
                    } else {
                        keptSizes[keptGroups] = shape[axis]
                        keptStrides[keptGroups] = running
                        keptGroups += 1
                    }
                    lastKind = 1
                }
                running *= shape[axis]
            }
            reverse(keptSizes, keptGroups)
            reverse(keptStrides, keptGroups)
            reverse(reducedSizes, reducedGroups)
            reverse(reducedStrides, reducedGroups)

            if innermostIsReduced {
                // Each output sums contiguous runs of the innermost reduced group.
                let runLength = reducedSizes[reducedGroups - 1]
                let outerReduced = reducedGroups - 1
                var keptOffset = 0, output = 0
                for group in 0..<keptGroups { counters[group] = 0 }
                repeat {
                    var total = 0.0, reducedOffset = 0
                    let reducedCounters = counters + keptGroups
                    for group in 0..<outerReduced { reducedCounters[group] = 0 }
                    repeat {
                        total += accurateSum(x + keptOffset + reducedOffset, count: runLength)
                    } while advance(reducedCounters, sizes: reducedSizes, strides: reducedStrides,
                                    count: outerReduced, offset: &reducedOffset)
                    y[output] = Float(total * scale)
                    output += 1
                } while advance(counters, sizes: keptSizes, strides: keptStrides, count: keptGroups, offset: &keptOffset)
            } else {
                // Each output row of the innermost kept group accumulates whole input rows, in column
                // blocks of `Double`s kept on the stack.
                let rowLength = keptSizes[keptGroups - 1]
                let outerKept = keptGroups - 1
                let blockLength = 64
                withUnsafeTemporaryAllocation(of: Double.self, capacity: blockLength) { sums in
                    var keptOffset = 0
                    var target = y
                    for group in 0..<outerKept { counters[group] = 0 }
                    repeat {
                        var column = 0
                        while column < rowLength {
                            let width = min(blockLength, rowLength - column)
                            for index in 0..<width { sums[index] = 0 }
                            var reducedOffset = 0
                            let reducedCounters = counters + keptGroups
                            for group in 0..<reducedGroups { reducedCounters[group] = 0 }
                            repeat {
                                let source = x + keptOffset + reducedOffset + column
                                for index in 0..<width { sums[index] += Double(source[index]) }
                            } while advance(reducedCounters, sizes: reducedSizes, strides: reducedStrides,
                                            count: reducedGroups, offset: &reducedOffset)
                            for index in 0..<width { target[column + index] = Float(sums[index] * scale) }
                            column += width
                        }
                        target += rowLength
                    } while advance(counters, sizes: keptSizes, strides: keptStrides, count: outerKept, offset: &keptOffset)
                }
            }
        }
    }

    @inline(__always)
    private static func reverse(_ values: UnsafeMutablePointer<Int>, _ count: Int) {
        var buffer = UnsafeMutableBufferPointer(start: values, count: count)
        buffer.reverse()
    }

    // MARK: Reference

    /// ReduceMean by the definition: every input element adds into its output in `Double`.
    static func referenceReduceMean(
        _ x: UnsafePointer<Float>, shape: [Int], axes: [Int], into y: UnsafeMutablePointer<Float>
    ) {
        let outputShape = shape.indices.map { axes.contains($0) ? 1 : shape[$0] }
        let outputCount = elementCount(outputShape)
        var sums = [Double](repeating: 0, count: outputCount)
        for flat in 0..<elementCount(shape) {
            var remainder = flat, output = 0, scale = 1
            for axis in shape.indices.reversed() {
                let coordinate = remainder % shape[axis]
                remainder /= shape[axis]
                if !axes.contains(axis) { output += coordinate * scale }
                scale *= outputShape[axis]
            }
            sums[output] += Double(x[flat])
        }
        let count = axes.reduce(1) { $0 * shape[$1] }
        for index in 0..<outputCount { y[index] = Float(sums[index] / Double(count)) }
    }
}
