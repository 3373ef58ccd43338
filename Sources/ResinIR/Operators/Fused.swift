/// The activation a fused operator applies to its result.
public enum FusedActivation: Equatable, Sendable {
    case none
    case relu
    /// Clip to `[min, max]` (Relu6 is `clip(0, 6)`).
    case clip(min: Float, max: Float)
}

extension FusedActivation {
    /// The attributes that carry the activation in Resin's own serialized graphs: `activation` ("none",
    /// "relu", "clip") and, for clip, `activation_min` and `activation_max`.
    public var attributes: [Attribute] {
        switch self {
        case .none: [Attribute(name: "activation", value: .string(Array("none".utf8)))]
        case .relu: [Attribute(name: "activation", value: .string(Array("relu".utf8)))]
        case .clip(let low, let high):
            [Attribute(name: "activation", value: .string(Array("clip".utf8))),
             Attribute(name: "activation_min", value: .float(low)), Attribute(name: "activation_max", value: .float(high))]
        }
    }

    init(reading reader: AttributeReader) throws(AttributeProblem) {
        switch try reader.string("activation") ?? "none" {
        case "none": self = .none
        case "relu": self = .relu
        case "clip":
            self = .clip(min: try reader.float("activation_min") ?? -.infinity, max: try reader.float("activation_max") ?? .infinity)
        case let other: throw .invalid(attribute: "activation", reason: "has unknown value '\(other)'")
        }
    }
}

/// The layout of a FusedConv's fifth input, filters a native file stores ready for a kernel.
public enum PreparedFilters: String, Equatable, Sendable {
    /// Winograd F(2x2, 3x3) transforms, `[16, M, C]`.
    case winograd
    /// Winograd F(2x2, 3x3) transforms with each of the 16 packed for Resin's matrix kernel,
    /// `[16, ceil(M / 32), C, 32]`.
    case winogradPacked = "winograd_packed"
    /// Panels of 32 output channels, `[ceil(M / 32), C * kernel, 32]`, for Resin's packed matrix kernel.
    case packed
    /// Winograd F(4x4, 3x3) transforms with each of the 36 packed for Resin's matrix kernel,
    /// `[36, ceil(M / 32), C, 32]`.
    case winograd4x4Packed = "winograd4x4_packed"
    /// The 16 distinct stride-2 Winograd F(2x2, 3x3) transforms, each packed for Resin's matrix kernel,
    /// `[16, ceil(M / 32), C, 32]`.
    case winogradStride2Packed = "winograd_s2_packed"
}

/// A convolution's filters as the ONNX file gave them, named and shaped, when only their packed copy is stored.
public struct OriginalWeight: Equatable, Sendable {
    public var name: String
    /// `[M, C/group, kernel...]`.
    public var shape: [Int]

    public init(name: String, shape: [Int]) {
        self.name = name
        self.shape = shape
    }
}

/// Resin's fused convolution: `activation(Conv(X, W, B) + Skip)`.
///
/// Inputs: X, W, B (empty name when the conv has no bias), Skip (empty or absent when there is no
/// residual), and, in native files, the filters already in the layout of the kernel the runtime picks
/// (`prepared` says which), so loading does no arithmetic on weights.
/// The optimizer makes it from Conv, a following residual Add and Relu or Clip; export writes it back as
/// those standard operators. Its node keeps the original Conv's attributes for that.
public struct FusedConvAttributes: Equatable, Sendable {
    public var conv: ConvAttributes
    public var activation: FusedActivation
    /// What the fifth input holds, when there is one (attribute `prepared`; absent means Winograd).
    public var prepared: PreparedFilters
    /// The original filters' name and shape `[M, C/group, kernel...]` when a native file stores them only
    /// packed (W, the second input, is then empty): shape inference, costs and the runtime read the shape
    /// here, and export rebuilds the initializer under that name (attributes `weight_name`, `weight_shape`).
    public var weight: OriginalWeight?

    public init(conv: ConvAttributes, activation: FusedActivation = .none, prepared: PreparedFilters = .winograd,
                weight: OriginalWeight? = nil) {
        self.conv = conv
        self.activation = activation
        self.prepared = prepared
        self.weight = weight
    }

    /// The names of the attributes only Resin's serialized FusedConv carries besides the activation's.
    public static let preparedAttributeNames: Set<String> = ["prepared", "weight_name", "weight_shape"]

    /// The attributes that carry `prepared` and the dropped original's name and shape in Resin's own
    /// serialized graphs (none for the default).
    public var preparedAttributes: [Attribute] {
        var attributes = prepared == .winograd ? [] : [Attribute(name: "prepared", value: .string(Array(prepared.rawValue.utf8)))]
        if let weight {
            attributes.append(Attribute(name: "weight_name", value: .string(Array(weight.name.utf8))))
            attributes.append(Attribute(name: "weight_shape", value: .ints(weight.shape.map(Int64.init))))
        }
        return attributes
    }

    /// The ONNX type Resin gives it, in its own domain.
    public static let opType = "FusedConv"

    func inferOutputs(_ inputs: InferenceInputs) throws(ShapeProblem) -> [ValueFacts] {
        var convInputs = Array(inputs.facts.prefix(3))
        if !inputs.isPresent(1), let weight, convInputs.count > 1 {
            convInputs[1] = ValueFacts(dataType: inputs[4]?.dataType ?? .float, dimensions: weight.shape.map { .fixed($0) })
        }
        var outputs = try conv.inferOutputs(InferenceInputs(convInputs))
        if let skip = inputs[3]?.dimensions, let output = outputs[0].dimensions {
            let combined = try broadcast(output, skip)
            guard combined.count == output.count else {
                throw ShapeProblem("residual \(describe(skip)) does not match the convolution's output \(describe(output))")
            }
            outputs[0].dimensions = combined
        }
        return outputs
    }
}

/// Resin's fused Gemm: `activation(Gemm(A, B, C))`, exported back as Gemm then Relu or Clip.
public struct FusedGemmAttributes: Equatable, Sendable {
    public var gemm: GemmAttributes
    public var activation: FusedActivation

    public init(gemm: GemmAttributes, activation: FusedActivation) {
        self.gemm = gemm
        self.activation = activation
    }

    public static let opType = "FusedGemm"
}

/// The domain of Resin's own operators; they never leave Resin: export lowers them to standard ONNX.
public let resinDomain = "ai.resin"
