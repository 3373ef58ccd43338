/// ONNX BatchNormalization in inference form: X, scale, B, mean, var.
public struct BatchNormalizationAttributes: Equatable, Sendable {
    public var epsilon: Float
    public var momentum: Float
    /// Opsets before 9: per-channel (1) or per-element (0) statistics.
    public var spatial: Bool
    /// Opset 14 on: the training form, which Resin does not run.
    public var trainingMode: Bool

    public init(epsilon: Float = 1e-5, momentum: Float = 0.9, spatial: Bool = true, trainingMode: Bool = false) {
        self.epsilon = epsilon
        self.momentum = momentum
        self.spatial = spatial
        self.trainingMode = trainingMode
    }

    init(reading reader: AttributeReader) throws(AttributeProblem) {
        epsilon = try reader.float("epsilon", default: 1e-5)
        momentum = try reader.float("momentum", default: 0.9)
        spatial = try reader.int("spatial", default: 1) != 0
        trainingMode = try reader.int("training_mode", default: 0) != 0
        guard epsilon >= 0 else { throw .invalid(attribute: "epsilon", reason: "must not be negative, found \(epsilon)") }
    }

    func inferOutputs(_ inputs: InferenceInputs, outputCount: Int) throws(ShapeProblem) -> [ValueFacts] {
        let x = inputs[0]
        if spatial, let dims = x?.dimensions, dims.count >= 2, case .fixed(let channels) = dims[1] {
            for (index, name) in [(1, "scale"), (2, "B"), (3, "mean"), (4, "var")] {
                if let p = inputs[index]?.dimensions, p != [.fixed(channels)], !(p.count == 1 && p[0].value == nil) {
                    throw ShapeProblem("input \(name) has shape \(describe(p)) but X \(describe(dims)) has \(channels) channels")
                }
            }
        }
        var outputs = [ValueFacts(dataType: x?.dataType, dimensions: x?.dimensions)]
        for index in 1..<max(outputCount, 1) {
            outputs.append(ValueFacts(dataType: x?.dataType, dimensions: inputs[index + 2]?.dimensions))
        }
        return outputs
    }
}

/// ONNX LRN: local response normalisation across channels.
public struct LRNAttributes: Equatable, Sendable {
    public var alpha: Float
    public var beta: Float
    public var bias: Float
    public var size: Int

    public init(alpha: Float = 1e-4, beta: Float = 0.75, bias: Float = 1, size: Int) {
        self.alpha = alpha
        self.beta = beta
        self.bias = bias
        self.size = size
    }

    init(reading reader: AttributeReader) throws(AttributeProblem) {
        alpha = try reader.float("alpha", default: 1e-4)
        beta = try reader.float("beta", default: 0.75)
        bias = try reader.float("bias", default: 1)
        guard let size = try reader.int("size") else { throw .invalid(attribute: "size", reason: "is required") }
        guard size >= 1 else { throw .invalid(attribute: "size", reason: "must be positive, found \(size)") }
        self.size = size
    }
}
