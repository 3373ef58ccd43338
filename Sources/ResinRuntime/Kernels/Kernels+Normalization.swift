#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// Inference normalisations: BatchNormalization as a per-channel affine map (the executor folds
// mean, variance, gamma and beta into scale and shift once), and ONNX LRN across channels.

extension Kernels {
    /// `y[n, c, ...] = clamp(x[n, c, ...] * scale[c] + shift[c], low, high)` over `shape = [N, C, rest...]`
    /// (rank 2 or more): the clamp is a fused Relu (`low` 0) or Clip, and does nothing with the default
    /// infinite bounds; NaN stays NaN, as in the Relu and Clip kernels.
    ///
    /// `y` may alias `x`.
    public static func affinePerChannel(
        _ x: UnsafePointer<Float>, shape: [Int],
        scale: UnsafePointer<Float>, shift: UnsafePointer<Float>,
        into y: UnsafeMutablePointer<Float>, low: Float = -.infinity, high: Float = .infinity
    ) {
        precondition(shape.count >= 2, "per-channel affine needs [N, C, ...], found \(shape)")
        let batch = shape[0], channels = shape[1]
        let inner = elementCount(shape, 2..<shape.count)
        if inner == 1 {
            // [N, C]: vectorise across channels instead of over rows of one.
            let lows = SIMD8<Float>(repeating: low), highs = SIMD8<Float>(repeating: high)
            for image in 0..<batch {
                let source = x + image * channels, target = y + image * channels
                var channel = 0
                while channel + 8 <= channels {
                    store8(clamped(load8(source + channel) * load8(scale + channel) + load8(shift + channel), lows, highs), target + channel)
                    channel += 8
                }
                while channel < channels {
                    target[channel] = clamped(source[channel] * scale[channel] + shift[channel], low, high)
                    channel += 1
                }
            }
            return
        }
        for plane in 0..<(batch * channels) {
            let channel = plane % channels
            affinePlane(x + plane * inner, into: y + plane * inner, count: inner, factor: scale[channel], term: shift[channel],
                        low: low, high: high)
        }
    }

    /// One channel plane of `affinePerChannel`: `y = clamp(x * factor + term, low, high)`.
    static func affinePlane(
        _ source: UnsafePointer<Float>, into target: UnsafeMutablePointer<Float>, count: Int, factor: Float, term: Float,
        low: Float, high: Float
    ) {
        let factors = SIMD8<Float>(repeating: factor), terms = SIMD8<Float>(repeating: term)
        let lows = SIMD8<Float>(repeating: low), highs = SIMD8<Float>(repeating: high)
        var index = 0
        while index + 8 <= count {
            store8(clamped(load8(source + index) * factors + terms, lows, highs), target + index)
            index += 8
        }
        while index < count {
            target[index] = clamped(source[index] * factor + term, low, high)
            index += 1
        }
    }

    /// `value` below `low` raised to it, above `high` lowered to it; NaN compares false both ways and stays.
    @inline(__always) private static func clamped(_ value: SIMD8<Float>, _ low: SIMD8<Float>, _ high: SIMD8<Float>) -> SIMD8<Float> {
        value.replacing(with: low, where: value .< low).replacing(with: high, where: value .> high)
    }

    @inline(__always) private static func clamped(_ value: Float, _ low: Float, _ high: Float) -> Float {
        value < low ? low : (value > high ? high : value)
    }

    /// ONNX LRN over `shape = [N, C, spatial...]`:
    /// `y = x / (bias + alpha / size * sum of x^2 over channels c - floor((size-1)/2) ... c + ceil((size-1)/2))^beta`.
    ///
    /// `y` must not alias `x`: it holds the squared sums before the final pass.
    public static func lrn(
        _ x: UnsafePointer<Float>, shape: [Int], size: Int, alpha: Float, beta: Float, bias: Float,
        into y: UnsafeMutablePointer<Float>
    ) {
        precondition(shape.count >= 2 && size >= 1, "LRN needs [N, C, ...] and a positive size")
        let batch = shape[0], channels = shape[1]
        let inner = elementCount(shape, 2..<shape.count)
        let before = (size - 1) / 2, after = size / 2  // floor and ceil of (size - 1) / 2
        let factor = alpha / Float(size)
        let threeQuarters = beta == 0.75
        for image in 0..<batch {
            let imageX = x + image * channels * inner, imageY = y + image * channels * inner
            for channel in 0..<channels {
                let target = imageY + channel * inner
                target.update(repeating: 0, count: inner)
                for neighbour in max(0, channel - before)..<min(channels, channel + after + 1) {
                    let source = imageX + neighbour * inner
                    var index = 0
                    while index + 8 <= inner {
                        let lanes = load8(source + index)
                        store8(load8(target + index) + lanes * lanes, target + index)
                        index += 8
                    }
                    while index < inner {
                        target[index] += source[index] * source[index]
                        index += 1
                    }
                }
                let source = imageX + channel * inner
                if threeQuarters {
                    // The usual beta: t^0.75 = sqrt(t) * sqrt(sqrt(t)), two square roots instead of a powf.
                    for index in 0..<inner {
                        let root = (bias + factor * target[index]).squareRoot()
                        target[index] = source[index] / (root * root.squareRoot())
                    }
                } else {
                    for index in 0..<inner {
                        target[index] = source[index] * powf(bias + factor * target[index], -beta)
                    }
                }
            }
        }
    }

    // MARK: Reference

    /// Plain per-channel affine map.
    static func referenceAffinePerChannel(
        _ x: UnsafePointer<Float>, shape: [Int],
        scale: UnsafePointer<Float>, shift: UnsafePointer<Float>,
        into y: UnsafeMutablePointer<Float>
    ) {
        let channels = shape[1]
        let inner = elementCount(shape, 2..<shape.count)
        for index in 0..<elementCount(shape) {
            let channel = (index / inner) % channels
            y[index] = x[index] * scale[channel] + shift[channel]
        }
    }

    /// LRN from the ONNX formula, accumulated in `Double`.
    static func referenceLRN(
        _ x: UnsafePointer<Float>, shape: [Int], size: Int, alpha: Float, beta: Float, bias: Float,
        into y: UnsafeMutablePointer<Float>
    ) {
        let batch = shape[0], channels = shape[1]
        let inner = elementCount(shape, 2..<shape.count)
        let low = Int((Double(size - 1) / 2).rounded(.down)), high = Int((Double(size - 1) / 2).rounded(.up))
        for image in 0..<batch {
            for channel in 0..<channels {
                for position in 0..<inner {
                    var squares = 0.0
                    for neighbour in (channel - low)...(channel + high) where neighbour >= 0 && neighbour < channels {
                        let value = Double(x[(image * channels + neighbour) * inner + position])
                        squares += value * value
                    }
                    let index = (image * channels + channel) * inner + position
                    let base = Double(bias) + Double(alpha) / Double(size) * squares
                    y[index] = Float(Double(x[index]) / pow(base, Double(beta)))
                }
            }
        }
    }
}
