/// How a convolution or pooling window pads its input (ONNX `auto_pad`).
public enum AutoPad: String, Equatable, Sendable {
    case notSet = "NOTSET"
    case sameUpper = "SAME_UPPER"
    case sameLower = "SAME_LOWER"
    case valid = "VALID"
}

/// The sliding-window attributes that Conv, MaxPool and AveragePool share.
public struct WindowAttributes: Equatable, Sendable {
    /// The window size; for Conv it may be absent and then comes from the weight's shape.
    public var kernelShape: [Int]?
    public var strides: [Int]?
    public var dilations: [Int]?
    /// Begin pads for every spatial axis, then end pads (ONNX order).
    public var pads: [Int]?
    public var autoPad: AutoPad
    /// Pooling only: round output sizes up instead of down.
    public var ceilMode: Bool

    public init(
        kernelShape: [Int]? = nil, strides: [Int]? = nil, dilations: [Int]? = nil, pads: [Int]? = nil,
        autoPad: AutoPad = .notSet, ceilMode: Bool = false
    ) {
        self.kernelShape = kernelShape
        self.strides = strides
        self.dilations = dilations
        self.pads = pads
        self.autoPad = autoPad
        self.ceilMode = ceilMode
    }

    /// Reads the window attributes; `hasCeilMode` and `hasDilations` say which the operator's version defines.
    init(reading reader: AttributeReader) throws(AttributeProblem) {
        kernelShape = try reader.ints("kernel_shape")
        strides = try reader.ints("strides")
        dilations = try reader.ints("dilations")
        pads = try reader.ints("pads")
        let autoPadText = try reader.string("auto_pad") ?? "NOTSET"
        guard let autoPad = AutoPad(rawValue: autoPadText.isEmpty ? "NOTSET" : autoPadText) else {
            throw .invalid(attribute: "auto_pad", reason: "has unknown value '\(autoPadText)'")
        }
        self.autoPad = autoPad
        ceilMode = try reader.int("ceil_mode", default: 0) != 0
        for (name, values) in [("kernel_shape", kernelShape), ("strides", strides), ("dilations", dilations)] {
            if let values, values.contains(where: { $0 < 1 }) {
                throw .invalid(attribute: name, reason: "must be positive, found \(values)")
            }
        }
        if let pads, pads.contains(where: { $0 < 0 }) {
            throw .invalid(attribute: "pads", reason: "must not be negative, found \(pads)")
        }
        for (name, values) in [("kernel_shape", kernelShape), ("strides", strides), ("dilations", dilations), ("pads", pads)] {
            if let values, values.contains(where: { $0 > Dimension.maximum }) {
                throw .invalid(attribute: name, reason: "has a value above the supported maximum \(Dimension.maximum): \(values)")
            }
        }
    }

    /// Resolves the window over concrete spatial sizes: explicit pads and the output sizes.
    public func resolve(spatial input: [Int], kernel: [Int]) throws(ShapeProblem) -> ResolvedWindow {
        let rank = input.count
        guard kernel.count == rank else {
            throw ShapeProblem("kernel_shape \(kernel) does not match \(rank) spatial dimensions")
        }
        let strides = self.strides ?? Array(repeating: 1, count: rank)
        let dilations = self.dilations ?? Array(repeating: 1, count: rank)
        guard strides.count == rank else { throw ShapeProblem("strides \(strides) do not match \(rank) spatial dimensions") }
        guard dilations.count == rank else { throw ShapeProblem("dilations \(dilations) do not match \(rank) spatial dimensions") }
        var begin = Array(repeating: 0, count: rank)
        var end = Array(repeating: 0, count: rank)
        var output = Array(repeating: 0, count: rank)
        for axis in 0..<rank {
            let extent = (kernel[axis] - 1) * dilations[axis] + 1
            switch autoPad {
            case .notSet:
                if let pads {
                    guard pads.count == 2 * rank else {
                        throw ShapeProblem("pads \(pads) must have \(2 * rank) values")
                    }
                    begin[axis] = pads[axis]
                    end[axis] = pads[axis + rank]
                }
                let span = input[axis] + begin[axis] + end[axis] - extent
                guard span >= 0 else {
                    throw ShapeProblem("window of extent \(extent) is larger than padded input \(input[axis] + begin[axis] + end[axis]) on spatial axis \(axis)")
                }
                if ceilMode {
                    var size = (span + strides[axis] - 1) / strides[axis] + 1
                    // A window that would start entirely in the end padding is dropped (PyTorch and the ONNX reference agree).
                    if (size - 1) * strides[axis] >= input[axis] + begin[axis] { size -= 1 }
                    output[axis] = size
                } else {
                    output[axis] = span / strides[axis] + 1
                }
            case .valid:
                guard input[axis] >= extent else {
                    throw ShapeProblem("window of extent \(extent) is larger than input \(input[axis]) on spatial axis \(axis)")
                }
                output[axis] = (input[axis] - extent) / strides[axis] + 1
            case .sameUpper, .sameLower:
                output[axis] = (input[axis] + strides[axis] - 1) / strides[axis]
                let total = max(0, (output[axis] - 1) * strides[axis] + extent - input[axis])
                let small = total / 2
                begin[axis] = autoPad == .sameUpper ? small : total - small
                end[axis] = total - begin[axis]
            }
        }
        return ResolvedWindow(kernel: kernel, strides: strides, dilations: dilations,
                              padsBegin: begin, padsEnd: end, outputSizes: output)
    }

    /// Output spatial dimensions for possibly symbolic input dimensions.
    func outputDimensions(spatial input: [Dimension], kernel: [Int]) throws(ShapeProblem) -> [Dimension] {
        guard let fixed = input.fixedShape else { return input.map { _ in .unknown } }
        return try resolve(spatial: fixed, kernel: kernel).outputSizes.map { .fixed($0) }
    }
}

/// A window resolved over concrete input sizes: what a kernel needs.
public struct ResolvedWindow: Equatable, Sendable {
    public var kernel: [Int]
    public var strides: [Int]
    public var dilations: [Int]
    public var padsBegin: [Int]
    public var padsEnd: [Int]
    public var outputSizes: [Int]
}
