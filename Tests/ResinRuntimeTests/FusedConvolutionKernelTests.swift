import ResinIR
import Testing
import TestSupport
@testable import ResinRuntime

/// The convolution with its epilogue (bias, residual, activation; in place or not) against the reference
/// convolution followed by the epilogue written out element by element.
@Suite struct FusedConvolutionKernelTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var seed: Int
        var testDescription: String { "seed \(seed)" }
    }

    static let activations: [FusedActivation] = [.none, .relu, .clip(min: 0, max: 6)]

    /// `activation(x)` by its definition.
    static func activate(_ value: Float, _ activation: FusedActivation) -> Float {
        switch activation {
        case .none: return value
        case .relu: return max(value, 0)
        case .clip(let low, let high): return min(max(value, low), high)
        }
    }

    /// The reference: `referenceConvolution` without bias, then `activation(y + bias[c] + skip)` per element.
    static func reference(
        x: [Float], w: [Float], bias: [Float]?, skip: [Float]?, activation: FusedActivation, geometry: ConvolutionGeometry
    ) -> [Float] {
        var y = [Float](repeating: .nan, count: geometry.batch * geometry.outputChannels * geometry.outputPlane)
        Kernels.referenceConvolution(input: x, weight: w, bias: nil, output: &y, geometry: geometry)
        for index in y.indices {
            let channel = index / geometry.outputPlane % geometry.outputChannels
            y[index] = activate(y[index] + (bias?[channel] ?? 0) + (skip?[index] ?? 0), activation)
        }
        return y
    }

    /// Runs the fused kernel; with `inPlace` the output buffer starts as the residual and is passed as it.
    static func fused(
        x: [Float], w: [Float], bias: [Float]?, skip: [Float]?, inPlace: Bool, activation: FusedActivation,
        geometry: ConvolutionGeometry, pool: WorkerPool? = nil
    ) -> [Float] {
        let count = geometry.batch * geometry.outputChannels * geometry.outputPlane
        var output = inPlace ? skip! : [Float](repeating: .nan, count: count)
        var workspace = [Float](repeating: .nan, count: max(geometry.workspaceElements, 1))
        let residual = skip ?? []
        bias.withOptionalPointer { b in
            residual.withUnsafeBufferPointer { residual in
                output.withUnsafeMutableBufferPointer { y in
                    let skipPointer = skip == nil ? nil : inPlace ? UnsafePointer(y.baseAddress!) : residual.baseAddress
                    Kernels.convolution(input: x, weight: w, output: y.baseAddress!, geometry: geometry,
                                        epilogue: ConvolutionEpilogue(bias: b, skip: skipPointer, activation: activation),
                                        workspace: &workspace, pool: pool)
                }
            }
        }
        return output
    }

    /// Random 2-D convolutions with groups, strides, dilations and pads, with every epilogue.
    @Test(arguments: (0..<48).map(Case.init))
    func fusedConvolutionMatchesTheReference(_ test: Case) throws {
        var random = SplitMix64(seed: 1000 + test.seed)
        let convolution = try RandomConvolution(&random)
        let (input, weight, geometry, x, w) = (convolution.input, convolution.weight, convolution.geometry, convolution.x, convolution.w)
        // Every combination of bias, residual and in-place appears across the seeds.
        let bias = test.seed % 2 == 0 ? random.floats(weight[0]) : nil
        let hasSkip = test.seed % 4 >= 2
        let inPlace = hasSkip && test.seed % 8 >= 4
        let skip = hasSkip ? random.floats(input[0] * weight[0] * geometry.outputPlane, in: -2...2) : nil
        let activation = Self.activations[test.seed / 8 % 3]
        let expected = Self.reference(x: x, w: w, bias: bias, skip: skip, activation: activation, geometry: geometry)
        let actual = Self.fused(x: x, w: w, bias: bias, skip: skip, inPlace: inPlace, activation: activation, geometry: geometry)
        expectClose(actual, expected, rtol: 1e-4, atol: 1e-5, "bias \(bias != nil), skip \(hasSkip), in place \(inPlace), \(activation)")
    }

    /// Large enough that the GEMMs, im2col and the epilogue split over two threads; 1x1 and 3x3 kernels.
    @Test(arguments: [(1, false), (1, true), (3, false), (3, true)])
    func parallelFusedConvolutionMatchesTheReference(kernel: Int, inPlace: Bool) throws {
        var random = SplitMix64(seed: 77 + kernel)
        let spatial = [40, 36]
        let window = try WindowAttributes(pads: Array(repeating: kernel / 2, count: 4))
            .resolve(spatial: spatial, kernel: [kernel, kernel])
        let geometry = ConvolutionGeometry(batch: 2, inputChannels: 12, outputChannels: 16, group: 1, inputSpatial: spatial, window: window)
        let x = random.floats(2 * 12 * 40 * 36)
        let w = random.floats(16 * 12 * kernel * kernel)
        let bias = random.floats(16)
        let skip = random.floats(2 * 16 * geometry.outputPlane)
        let pool = WorkerPool(threads: 2)
        for activation in Self.activations {
            let expected = Self.reference(x: x, w: w, bias: bias, skip: skip, activation: activation, geometry: geometry)
            let actual = Self.fused(x: x, w: w, bias: bias, skip: skip, inPlace: inPlace, activation: activation, geometry: geometry, pool: pool)
            expectClose(actual, expected, rtol: 1e-4, atol: 1e-4, "\(activation)")
        }
    }

    @Test func plainEntryStillAddsOnlyTheBias() throws {
        var random = SplitMix64(seed: 5)
        let window = try WindowAttributes(pads: [1, 1, 1, 1]).resolve(spatial: [7, 6], kernel: [3, 3])
        let geometry = ConvolutionGeometry(batch: 1, inputChannels: 3, outputChannels: 4, group: 1, inputSpatial: [7, 6], window: window)
        let x = random.floats(3 * 42), w = random.floats(4 * 27), bias = random.floats(4)
        var actual = [Float](repeating: .nan, count: 4 * 42)
        var workspace = [Float](repeating: .nan, count: geometry.workspaceElements)
        Kernels.convolution(input: x, weight: w, bias: bias, output: &actual, geometry: geometry, workspace: &workspace)
        expectClose(actual, Self.reference(x: x, w: w, bias: bias, skip: nil, activation: .none, geometry: geometry), rtol: 1e-4, atol: 1e-5)
    }

    @Test func epilogueKeepsNaNAndClampsInfinities() throws {
        let window = try WindowAttributes().resolve(spatial: [1, 4], kernel: [1, 1])
        let geometry = ConvolutionGeometry(batch: 1, inputChannels: 1, outputChannels: 1, group: 1, inputSpatial: [1, 4], window: window)
        let x: [Float] = [1, -1, .nan, 100]
        let skip: [Float] = [0, 0, 0, .infinity]
        let relu = Self.fused(x: x, w: [1], bias: nil, skip: skip, inPlace: false, activation: .relu, geometry: geometry)
        #expect(relu[0] == 1 && relu[1] == 0 && relu[2].isNaN && relu[3] == .infinity)
        let six = Self.fused(x: x, w: [1], bias: nil, skip: skip, inPlace: true, activation: .clip(min: 0, max: 6), geometry: geometry)
        #expect(six[0] == 1 && six[1] == 0 && six[2].isNaN && six[3] == 6)
    }
}
