/// Pillow's `Image.resize(size, BILINEAR)` for 8-bit RGB (src/libImaging/Resample.c), restricted to a window
/// of the output: a separable triangle filter whose support grows with the downscale factor (so shrinking
/// averages every source pixel, antialiased), coefficients normalized in `Double` then rounded to 22-bit
/// fixed point, a horizontal pass then a vertical pass, each rounding and clipping to 8 bits. The arithmetic
/// is Pillow's step for step, so the pixels are Pillow's exactly.
enum PillowResample {
    /// Fractional bits of the fixed-point coefficients: 32 bits less 8 for the sample and 2 for the sum's
    /// overshoot, as Pillow chooses.
    static let precisionBits = 22

    /// The filter taps of a window of one axis's outputs: for output `first + i`, the source indices
    /// `starts[i] ..< starts[i] + counts[i]` weighted by `weights[i * taps ..< i * taps + counts[i]]`.
    struct Axis {
        var first: Int
        var taps: Int
        var starts: [Int]
        var counts: [Int]
        var weights: [Int32]

        /// The taps for outputs `window` of an axis resized from `inputSize` to `outputSize` samples.
        init(inputSize: Int, outputSize: Int, window: Range<Int>) {
            let scale = Double(inputSize) / Double(outputSize)
            let filterScale = max(scale, 1)
            // The bilinear (triangle) filter's support is 1, widened by the downscale factor.
            let support = filterScale
            let taps = Int(support.rounded(.up)) * 2 + 1
            first = window.lowerBound
            self.taps = taps
            starts = []
            counts = []
            starts.reserveCapacity(window.count)
            counts.reserveCapacity(window.count)
            weights = [Int32](repeating: 0, count: window.count * taps)
            var kernel = [Double](repeating: 0, count: taps)
            let inverseScale = 1.0 / filterScale
            for (slot, output) in window.enumerated() {
                let center = (Double(output) + 0.5) * scale
                // C's (int) conversion truncates toward zero; clamping negatives to 0 makes that a floor.
                let start = max(Int(center - support + 0.5), 0)
                let count = min(Int(center + support + 0.5), inputSize) - start
                var total = 0.0
                for tap in 0..<count {
                    let weight = Self.triangle((Double(tap + start) - center + 0.5) * inverseScale)
                    kernel[tap] = weight
                    total += weight
                }
                for tap in 0..<count {
                    let weight = total != 0 ? kernel[tap] / total : kernel[tap]
                    let scaled = weight * Double(1 << PillowResample.precisionBits)
                    weights[slot * taps + tap] = Int32(weight < 0 ? (scaled - 0.5) : (scaled + 0.5))
                }
                starts.append(start)
                counts.append(count)
            }
        }

        /// The source samples the window reads: from the first output's start to the last output's end.
        var sourceRange: Range<Int> {
            guard let firstStart = starts.first else { return 0..<0 }
            return firstStart..<(starts.last! + counts.last!)
        }

        static func triangle(_ x: Double) -> Double {
            let distance = abs(x)
            return distance < 1 ? 1 - distance : 0
        }
    }

    /// Pillow's rounding and clipping of a fixed-point sum to a sample.
    @inline(__always)
    static func clip(_ sum: Int32) -> UInt8 {
        let value = sum >> Int32(precisionBits)
        return value < 0 ? 0 : value > 255 ? 255 : UInt8(truncatingIfNeeded: value)
    }

    /// The horizontal pass: for each of `rows` source rows (`source` has rows of `sourceWidth` RGB pixels),
    /// the axis's window of output pixels, written to `target` with rows of `axis.counts.count` pixels.
    static func horizontal(
        _ source: UnsafeBufferPointer<UInt8>, sourceWidth: Int, rows: Range<Int>,
        axis: Axis, into target: UnsafeMutableBufferPointer<UInt8>
    ) {
        let outputs = axis.counts.count
        let half = Int32(1) << Int32(precisionBits - 1)
        axis.weights.withUnsafeBufferPointer { weights in
            for (slot, row) in rows.enumerated() {
                let sourceRow = source.baseAddress! + row * sourceWidth * 3
                let targetRow = target.baseAddress! + slot * outputs * 3
                for output in 0..<outputs {
                    let start = axis.starts[output], count = axis.counts[output]
                    let kernel = weights.baseAddress! + output * axis.taps
                    var red = half, green = half, blue = half
                    var pixel = sourceRow + start * 3
                    for tap in 0..<count {
                        let weight = kernel[tap]
                        red &+= Int32(pixel[0]) &* weight
                        green &+= Int32(pixel[1]) &* weight
                        blue &+= Int32(pixel[2]) &* weight
                        pixel += 3
                    }
                    targetRow[output * 3] = clip(red)
                    targetRow[output * 3 + 1] = clip(green)
                    targetRow[output * 3 + 2] = clip(blue)
                }
            }
        }
    }

    /// The vertical pass: each output row of the axis's window from `source` rows (of `width` RGB pixels,
    /// row 0 being source row `firstSourceRow`), written to `target` with rows of `width` pixels.
    static func vertical(
        _ source: UnsafeBufferPointer<UInt8>, width: Int, firstSourceRow: Int,
        axis: Axis, into target: UnsafeMutableBufferPointer<UInt8>
    ) {
        let half = Int32(1) << Int32(precisionBits - 1)
        let stride = width * 3
        axis.weights.withUnsafeBufferPointer { weights in
            var sums = [Int32](repeating: 0, count: stride)
            sums.withUnsafeMutableBufferPointer { sums in
                for output in 0..<axis.counts.count {
                    let start = axis.starts[output] - firstSourceRow, count = axis.counts[output]
                    let kernel = weights.baseAddress! + output * axis.taps
                    for index in 0..<stride { sums[index] = half }
                    for tap in 0..<count {
                        let weight = kernel[tap]
                        let row = source.baseAddress! + (start + tap) * stride
                        for index in 0..<stride { sums[index] &+= Int32(row[index]) &* weight }
                    }
                    let targetRow = target.baseAddress! + output * stride
                    for index in 0..<stride { targetRow[index] = clip(sums[index]) }
                }
            }
        }
    }
}
