/// ONNX Conv: inputs X [N, C, spatial...], W [M, C/group, kernel...], optional B [M].
public struct ConvAttributes: Equatable, Sendable {
    public var window: WindowAttributes
    public var group: Int

    public init(window: WindowAttributes = WindowAttributes(), group: Int = 1) {
        self.window = window
        self.group = group
    }

    init(reading reader: AttributeReader) throws(AttributeProblem) {
        window = try WindowAttributes(reading: reader)
        group = try reader.int("group", default: 1)
        guard group >= 1 else { throw .invalid(attribute: "group", reason: "must be positive, found \(group)") }
    }

    /// The window size: the attribute, or else the weight's trailing dimensions.
    func kernel(weight: [Dimension]?) throws(ShapeProblem) -> [Int]? {
        if let kernel = window.kernelShape { return kernel }
        guard let weight, weight.count >= 3 else { return nil }
        return Array(weight.dropFirst(2)).fixedShape
    }

    func inferOutputs(_ inputs: InferenceInputs) throws(ShapeProblem) -> [ValueFacts] {
        let dataType = inputs[0]?.dataType ?? inputs[1]?.dataType
        guard let x = inputs[0]?.dimensions else { return [ValueFacts(dataType: dataType, dimensions: nil)] }
        guard x.count >= 3 else { throw ShapeProblem("input X must have rank 3 or more, found shape \(describe(x))") }
        let w = try inputs.dimensions(1, name: "W", rank: x.count)
        if let w, case .fixed(let channels) = x[1], case .fixed(let perGroup) = w[1], channels != perGroup * group {
            throw ShapeProblem("input X has \(channels) channels but W \(describe(w)) with group \(group) expects \(perGroup * group)")
        }
        if let w, case .fixed(let filters) = w[0], filters % group != 0 {
            throw ShapeProblem("W \(describe(w)) has \(filters) filters, not divisible by group \(group)")
        }
        if let w, let b = inputs[2]?.dimensions, b.count != 1 || (b[0] != w[0] && b[0].value != nil && w[0].value != nil) {
            throw ShapeProblem("bias B \(describe(b)) does not match \(describe(w)) filters")
        }
        let filters = w?[0] ?? .unknown
        guard let kernel = try kernel(weight: w) else {
            return [ValueFacts(dataType: dataType, dimensions: [x[0], filters] + x.dropFirst(2).map { _ in .unknown })]
        }
        let spatial = try window.outputDimensions(spatial: Array(x.dropFirst(2)), kernel: kernel)
        return [ValueFacts(dataType: dataType, dimensions: [x[0], filters] + spatial)]
    }
}
