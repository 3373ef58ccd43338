/// An operator Resin does not know, kept as a placeholder so that `inspect` can list it and export keeps it.
public struct UnsupportedOperator: Equatable, Sendable {
    public var opType: String
    public var domain: String
    public init(opType: String, domain: String) {
        self.opType = opType
        self.domain = domain
    }
}

/// The closed set of operators Resin understands, each with its typed attributes.
///
/// Attributes are parsed once, at import, with the defaults of the node's opset; nothing after the importer
/// reads attributes by name. Adding a case makes the compiler list every `switch` to extend.
public enum Operator: Equatable, Sendable {
    case conv(ConvAttributes)
    case batchNormalization(BatchNormalizationAttributes)
    case relu
    case leakyRelu(LeakyReluAttributes)
    case clip(ClipAttributes)
    case maxPool(PoolAttributes)
    case averagePool(PoolAttributes)
    case globalAveragePool
    case globalMaxPool
    case lrn(LRNAttributes)
    case binary(BinaryOperation)
    case sum
    case gemm(GemmAttributes)
    case matMul
    case flatten(FlattenAttributes)
    case reshape(ReshapeAttributes)
    case transpose(TransposeAttributes)
    case concat(ConcatAttributes)
    case softmax(SoftmaxAttributes)
    case identity
    case dropout(DropoutAttributes)
    case constant(ConstantAttributes)
    case constantOfShape(ConstantOfShapeAttributes)
    case shape(ShapeAttributes)
    case gather(GatherAttributes)
    case unsqueeze(AxesAttributes)
    case squeeze(AxesAttributes)
    case pad(PadAttributes)
    case reduceMean(ReduceAttributes)
    /// Resin's: convolution with bias, residual and activation fused (inputs X, W, B or "", Skip?).
    case fusedConv(FusedConvAttributes)
    /// Resin's: Gemm with its activation fused.
    case fusedGemm(FusedGemmAttributes)
    /// Resin's: `activation(X * scale[c] + shift[c])` per channel (inputs X, scale, shift): a
    /// BatchNormalization with nothing to fold into, and the Relu or Clip after it (pre-activation ResNets).
    case channelAffine(FusedActivation)
    case unsupported(UnsupportedOperator)

    /// Parses a node's operator; `opset` is the version the model imports for the node's domain.
    public init(opType: String, domain: String, attributes: [Attribute], opset: Int) throws(AttributeProblem) {
        let reader = AttributeReader(attributes)
        if domain == resinDomain {
            // Resin's own operators, as the native format stores them.
            switch opType {
            case FusedConvAttributes.opType:
                let preparedName = try reader.string("prepared") ?? PreparedFilters.winograd.rawValue
                guard let prepared = PreparedFilters(rawValue: preparedName) else {
                    throw .invalid(attribute: "prepared", reason: "has unknown value '\(preparedName)'")
                }
                var weight: OriginalWeight?
                if let name = try reader.string("weight_name") {
                    guard let shape = try reader.ints("weight_shape"), shape.count >= 3, shape.allSatisfy({ $0 > 0 }),
                          elementCount(of: shape) != nil else {
                        throw .invalid(attribute: "weight_shape", reason: "must give the positive dimensions [M, C/group, kernel...] of '\(name)'")
                    }
                    weight = OriginalWeight(name: name, shape: shape)
                }
                self = .fusedConv(FusedConvAttributes(conv: try ConvAttributes(reading: reader), activation: try FusedActivation(reading: reader),
                                                      prepared: prepared, weight: weight))
            case FusedGemmAttributes.opType:
                self = .fusedGemm(FusedGemmAttributes(gemm: try GemmAttributes(reading: reader), activation: try FusedActivation(reading: reader)))
            case "ChannelAffine": self = .channelAffine(try FusedActivation(reading: reader))
            default: self = .unsupported(UnsupportedOperator(opType: opType, domain: domain))
            }
            return
        }
        guard domain.isEmpty || domain == "ai.onnx" else {
            self = .unsupported(UnsupportedOperator(opType: opType, domain: domain))
            return
        }
        switch opType {
        case "Conv": self = .conv(try ConvAttributes(reading: reader))
        case "BatchNormalization": self = .batchNormalization(try BatchNormalizationAttributes(reading: reader))
        case "Relu": self = .relu
        case "LeakyRelu": self = .leakyRelu(try LeakyReluAttributes(reading: reader))
        case "Clip": self = .clip(try ClipAttributes(reading: reader, opset: opset))
        case "MaxPool": self = .maxPool(try PoolAttributes(reading: reader))
        case "AveragePool": self = .averagePool(try PoolAttributes(reading: reader))
        case "GlobalAveragePool": self = .globalAveragePool
        case "GlobalMaxPool": self = .globalMaxPool
        case "LRN": self = .lrn(try LRNAttributes(reading: reader))
        case "Add": self = .binary(.add)
        case "Sub": self = .binary(.sub)
        case "Mul": self = .binary(.mul)
        case "Div": self = .binary(.div)
        case "Sum": self = .sum
        case "Gemm": self = .gemm(try GemmAttributes(reading: reader))
        case "MatMul": self = .matMul
        case "Flatten": self = .flatten(try FlattenAttributes(reading: reader))
        case "Reshape": self = .reshape(try ReshapeAttributes(reading: reader, opset: opset))
        case "Transpose": self = .transpose(try TransposeAttributes(reading: reader))
        case "Concat": self = .concat(try ConcatAttributes(reading: reader, opset: opset))
        case "Softmax": self = .softmax(try SoftmaxAttributes(reading: reader, opset: opset))
        case "Identity": self = .identity
        case "Dropout": self = .dropout(try DropoutAttributes(reading: reader))
        case "Constant": self = .constant(try ConstantAttributes(reading: reader))
        case "ConstantOfShape": self = .constantOfShape(try ConstantOfShapeAttributes(reading: reader))
        case "Shape": self = .shape(try ShapeAttributes(reading: reader))
        case "Gather": self = .gather(try GatherAttributes(reading: reader))
        case "Unsqueeze": self = .unsqueeze(try AxesAttributes(reading: reader))
        case "Squeeze": self = .squeeze(try AxesAttributes(reading: reader))
        case "Pad": self = .pad(try PadAttributes(reading: reader, opset: opset))
        case "ReduceMean": self = .reduceMean(try ReduceAttributes(reading: reader))
        default: self = .unsupported(UnsupportedOperator(opType: opType, domain: domain))
        }
    }

    /// Whether Resin can run this operator.
    public var isSupported: Bool {
        if case .unsupported = self { return false }
        return true
    }

    /// The inputs the operator takes, as (fewest, most); unsupported operators take anything.
    public var inputArity: (minimum: Int, maximum: Int) {
        switch self {
        case .conv: (2, 3)
        case .batchNormalization: (5, 5)
        case .relu, .leakyRelu, .globalAveragePool, .globalMaxPool, .lrn, .identity, .softmax, .flatten,
            .transpose, .constantOfShape, .shape, .maxPool, .averagePool:
            (1, 1)
        case .clip: (1, 3)
        case .reshape(let attributes): attributes.shape == nil ? (2, 2) : (1, 1)
        case .binary, .matMul, .gather: (2, 2)
        case .sum, .concat: (1, Int.max)
        case .gemm: (2, 3)
        case .dropout: (1, 3)
        case .constant: (0, 0)
        case .unsqueeze, .squeeze, .reduceMean: (1, 2)
        case .pad: (1, 4)
        case .fusedConv: (2, 5)
        case .fusedGemm: (2, 3)
        case .channelAffine: (3, 3)
        case .unsupported: (0, Int.max)
        }
    }

    /// The outputs the operator makes, as (fewest, most).
    public var outputArity: (minimum: Int, maximum: Int) {
        switch self {
        case .batchNormalization: (1, 5)
        case .maxPool, .dropout: (1, 2)
        case .unsupported: (0, Int.max)
        default: (1, 1)
        }
    }

    /// Output facts from input facts; a `ShapeProblem` says why the inputs do not fit.
    public func inferOutputs(_ inputs: InferenceInputs, outputCount: Int) throws(ShapeProblem) -> [ValueFacts] {
        let passThrough = [ValueFacts(dataType: inputs[0]?.dataType, dimensions: inputs[0]?.dimensions)]
        switch self {
        case .conv(let attributes): return try attributes.inferOutputs(inputs)
        case .batchNormalization(let attributes): return try attributes.inferOutputs(inputs, outputCount: outputCount)
        case .relu, .leakyRelu, .clip, .lrn: return passThrough
        case .identity: return [inputs[0] ?? .unknown]
        case .maxPool(let attributes): return try attributes.inferOutputs(inputs, outputCount: outputCount)
        case .averagePool(let attributes): return try attributes.inferOutputs(inputs, outputCount: 1)
        case .globalAveragePool, .globalMaxPool: return try inferGlobalPool(inputs)
        case .binary(let operation): return try operation.inferOutputs(inputs)
        case .sum: return try inferBroadcasting(inputs, combine: BinaryOperation.add.apply)
        case .gemm(let attributes): return try attributes.inferOutputs(inputs)
        case .matMul: return try inferMatMul(inputs)
        case .flatten(let attributes): return try attributes.inferOutputs(inputs)
        case .reshape(let attributes): return try attributes.inferOutputs(inputs)
        case .transpose(let attributes): return try attributes.inferOutputs(inputs)
        case .concat(let attributes): return try attributes.inferOutputs(inputs)
        case .softmax(let attributes): return try attributes.inferOutputs(inputs)
        case .dropout(let attributes): return attributes.inferOutputs(inputs, outputCount: outputCount)
        case .constant(let attributes): return [ValueFacts(constant: attributes.value)]
        case .constantOfShape(let attributes): return attributes.inferOutputs(inputs)
        case .shape(let attributes): return attributes.inferOutputs(inputs)
        case .gather(let attributes): return try attributes.inferOutputs(inputs)
        case .unsqueeze(let attributes): return try attributes.inferUnsqueeze(inputs)
        case .squeeze(let attributes): return try attributes.inferSqueeze(inputs)
        case .pad(let attributes): return try attributes.inferOutputs(inputs)
        case .reduceMean(let attributes): return try attributes.inferOutputs(inputs)
        case .fusedConv(let attributes): return try attributes.inferOutputs(inputs)
        case .fusedGemm(let attributes): return try attributes.gemm.inferOutputs(inputs)
        case .channelAffine: return passThrough
        case .unsupported: return Array(repeating: .unknown, count: outputCount)
        }
    }
}
