import ResinIR

/// Everything a convolution kernel needs to know about its shapes, resolved once per session.
public struct ConvolutionGeometry: Equatable, Sendable {
    public var batch: Int
    public var inputChannels: Int
    public var outputChannels: Int
    public var group: Int
    public var inputSpatial: [Int]
    public var outputSpatial: [Int]
    public var window: ResolvedWindow

    public init(batch: Int, inputChannels: Int, outputChannels: Int, group: Int, inputSpatial: [Int], window: ResolvedWindow) {
        self.batch = batch
        self.inputChannels = inputChannels
        self.outputChannels = outputChannels
        self.group = group
        self.inputSpatial = inputSpatial
        self.outputSpatial = window.outputSizes
        self.window = window
    }

    /// Input channels each group reads.
    public var channelsPerGroup: Int { inputChannels / group }
    /// Filters each group owns.
    public var filtersPerGroup: Int { outputChannels / group }
    /// Elements of one input channel plane.
    public var inputPlane: Int { inputSpatial.reduce(1, *) }
    /// Elements of one output channel plane.
    public var outputPlane: Int { outputSpatial.reduce(1, *) }
    /// Elements of the kernel window.
    public var kernelVolume: Int { window.kernel.reduce(1, *) }
    /// Rows of the column matrix, and the inner dimension of the GEMM: C/group x kernel.
    public var columnRows: Int { channelsPerGroup * kernelVolume }

    /// A 1x1, stride-1, unpadded convolution reads its input as the GEMM's right matrix directly.
    public var isPointwise: Bool {
        window.kernel.allSatisfy { $0 == 1 } && window.strides.allSatisfy { $0 == 1 }
            && window.padsBegin.allSatisfy { $0 == 0 } && window.padsEnd.allSatisfy { $0 == 0 }
    }

    /// Floats of im2col workspace one group of one image needs (none for pointwise convolutions).
    public var workspaceElements: Int { isPointwise ? 0 : columnRows * outputPlane }

    /// Multiply-accumulates of the whole convolution.
    public var multiplyAccumulates: Int { batch * outputChannels * outputPlane * columnRows }
}
