/// ONNX MaxPool and AveragePool.
public struct PoolAttributes: Equatable, Sendable {
    public var window: WindowAttributes
    /// AveragePool: count padding cells in the divisor.
    public var countIncludePad: Bool
    /// MaxPool: the layout of the optional indices output (0 row-major).
    public var storageOrder: Int

    public init(window: WindowAttributes, countIncludePad: Bool = false, storageOrder: Int = 0) {
        self.window = window
        self.countIncludePad = countIncludePad
        self.storageOrder = storageOrder
    }

    init(reading reader: AttributeReader) throws(AttributeProblem) {
        window = try WindowAttributes(reading: reader)
        guard window.kernelShape != nil else {
            throw .invalid(attribute: "kernel_shape", reason: "is required")
        }
        countIncludePad = try reader.int("count_include_pad", default: 0) != 0
        storageOrder = try reader.int("storage_order", default: 0)
    }

    func inferOutputs(_ inputs: InferenceInputs, outputCount: Int) throws(ShapeProblem) -> [ValueFacts] {
        let dataType = inputs[0]?.dataType
        var dimensions: [Dimension]?
        if let x = inputs[0]?.dimensions {
            guard x.count >= 3 else { throw ShapeProblem("input X must have rank 3 or more, found shape \(describe(x))") }
            let spatial = try window.outputDimensions(spatial: Array(x.dropFirst(2)), kernel: window.kernelShape ?? [])
            dimensions = Array(x.prefix(2)) + spatial
        }
        var outputs = [ValueFacts(dataType: dataType, dimensions: dimensions)]
        if outputCount > 1 { outputs.append(ValueFacts(dataType: .int64, dimensions: dimensions)) }
        return outputs
    }
}

/// GlobalAveragePool and GlobalMaxPool: [N, C, spatial...] to [N, C, 1, ...].
func inferGlobalPool(_ inputs: InferenceInputs) throws(ShapeProblem) -> [ValueFacts] {
    guard let x = inputs[0]?.dimensions else { return [ValueFacts(dataType: inputs[0]?.dataType, dimensions: nil)] }
    guard x.count >= 3 else { throw ShapeProblem("input X must have rank 3 or more, found shape \(describe(x))") }
    return [ValueFacts(dataType: inputs[0]?.dataType,
                       dimensions: Array(x.prefix(2)) + Array(repeating: .fixed(1), count: x.count - 2))]
}
