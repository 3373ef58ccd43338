/// ONNX LeakyRelu: `x < 0 ? alpha * x : x`.
public struct LeakyReluAttributes: Equatable, Sendable {
    public var alpha: Float
    public init(alpha: Float = 0.01) { self.alpha = alpha }
    init(reading reader: AttributeReader) throws(AttributeProblem) {
        alpha = try reader.float("alpha", default: 0.01)
    }
}

/// ONNX Clip: bounds are attributes before opset 11 and optional inputs from 11 on.
public struct ClipAttributes: Equatable, Sendable {
    /// The bounds given as attributes (opsets before 11); nil means the inputs carry them or none is set.
    public var min: Float?
    public var max: Float?

    public init(min: Float? = nil, max: Float? = nil) {
        self.min = min
        self.max = max
    }

    init(reading reader: AttributeReader, opset: Int) throws(AttributeProblem) {
        if opset < 11 {
            min = try reader.float("min") ?? -Float.greatestFiniteMagnitude
            max = try reader.float("max") ?? Float.greatestFiniteMagnitude
        }
    }
}

/// ONNX Softmax. Before opset 13 it flattens to 2-D at `axis` (default 1); from 13 on it runs
/// along the single axis `axis` (default -1).
public struct SoftmaxAttributes: Equatable, Sendable {
    public var axis: Int
    /// Whether the pre-13 semantics apply: softmax over all axes from `axis` to the end.
    public var coercesTo2D: Bool

    public init(axis: Int = -1, coercesTo2D: Bool = false) {
        self.axis = axis
        self.coercesTo2D = coercesTo2D
    }

    init(reading reader: AttributeReader, opset: Int) throws(AttributeProblem) {
        coercesTo2D = opset < 13
        axis = try reader.int("axis", default: coercesTo2D ? 1 : -1)
    }

    func inferOutputs(_ inputs: InferenceInputs) throws(ShapeProblem) -> [ValueFacts] {
        if let rank = inputs[0]?.rank { _ = try normalizedAxis(axis, rank: rank) }
        return [ValueFacts(dataType: inputs[0]?.dataType, dimensions: inputs[0]?.dimensions)]
    }
}

/// ONNX Dropout, an identity at inference.
public struct DropoutAttributes: Equatable, Sendable {
    /// The ratio attribute of opsets before 12.
    public var ratio: Float?
    public var seed: Int?

    public init(ratio: Float? = nil, seed: Int? = nil) {
        self.ratio = ratio
        self.seed = seed
    }

    init(reading reader: AttributeReader) throws(AttributeProblem) {
        ratio = try reader.float("ratio")
        seed = try reader.int("seed")
    }

    func inferOutputs(_ inputs: InferenceInputs, outputCount: Int) -> [ValueFacts] {
        var outputs = [ValueFacts(dataType: inputs[0]?.dataType, dimensions: inputs[0]?.dimensions)]
        if outputCount > 1 { outputs.append(ValueFacts(dataType: .bool, dimensions: inputs[0]?.dimensions)) }
        return outputs
    }
}
