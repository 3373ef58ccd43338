import ResinIR
import Testing
import TestSupport
@testable import ResinRuntime

/// What the Winograd suites (Winograd4x4Tests, WinogradStride2Tests) share: a seeded fused convolution's
/// reference, and its run on packed transforms under every instruction set and thread count.
struct WinogradCase {
    var geometry: ConvolutionGeometry
    var input: [Float], weight: [Float], bias: [Float], skip: [Float]
    var hasBias: Bool
    /// 0 no residual, 1 a separate one, 2 one in place.
    var residual: Int
    var activation: FusedActivation

    /// Random input, filters, bias and residual for `geometry`.
    init(geometry: ConvolutionGeometry, random: inout SplitMix64, hasBias: Bool, residual: Int, activation: FusedActivation) {
        self.geometry = geometry
        input = random.floats(geometry.batch * geometry.inputChannels * geometry.inputPlane)
        weight = random.floats(geometry.outputChannels * geometry.inputChannels * 9)
        bias = random.floats(geometry.outputChannels)
        skip = random.floats(geometry.batch * geometry.outputChannels * geometry.outputPlane)
        self.hasBias = hasBias
        self.residual = residual
        self.activation = activation
    }

    /// The double-precision direct convolution with the bias, the residual and the activation.
    func reference() -> [Float] {
        var reference = [Float](repeating: 0, count: skip.count)
        Kernels.referenceConvolution(input: input, weight: weight, bias: hasBias ? bias : nil, output: &reference, geometry: geometry)
        for index in reference.indices {
            var value = reference[index] + (residual == 0 ? 0 : skip[index])
            switch activation {
            case .none: break
            case .relu: value = max(0, value)
            case .clip(let low, let high): value = min(high, max(low, value))
            }
            reference[index] = value
        }
        return reference
    }

    /// Runs the convolution on `transforms` (packed) under every instruction set the processor runs, on 1, 2
    /// and 3 threads, and expects each output within `atol` (and rtol 1e-4) of the reference.
    func expectMatches(transforms: [Float], atol: Float, sourceLocation: SourceLocation = #_sourceLocation) {
        let reference = reference()
        var workspace = [Float](repeating: .nan, count: geometry.workspaceElements)
        let g = geometry
        for instructionSet in InstructionSet.supported {
            for pool in [WorkerPool.serial, WorkerPool(threads: 2), WorkerPool(threads: 3)] {
                var output = residual == 2 ? skip : [Float](repeating: .nan, count: skip.count)
                output.withUnsafeMutableBufferPointer { out in
                    bias.withUnsafeBufferPointer { b in
                        skip.withUnsafeBufferPointer { s in
                            let skipPointer: UnsafePointer<Float>? = residual == 1 ? s.baseAddress : residual == 2 ? UnsafePointer(out.baseAddress) : nil
                            let epilogue = ConvolutionEpilogue(bias: hasBias ? b.baseAddress : nil, skip: skipPointer, activation: activation)
                            Kernels.convolution(input: input, weight: weight, output: out.baseAddress!, geometry: geometry, epilogue: epilogue,
                                                workspace: &workspace, pool: pool, packedTransformedWeight: transforms,
                                                instructionSet: instructionSet)
                        }
                    }
                }
                let shape = "batch \(g.batch) M \(g.outputChannels) C \(g.inputChannels) \(g.inputSpatial[0])x\(g.inputSpatial[1])"
                    + " pads \(g.window.padsBegin + g.window.padsEnd)"
                expectClose(output, reference, rtol: 1e-4, atol: atol, "\(instructionSet), \(pool.threads) threads, \(shape)",
                            sourceLocation: sourceLocation)
            }
        }
    }
}
