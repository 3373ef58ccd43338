import ResinIR

/// Weights put in the layout the kernels read, once, when a native file is written (DESIGN.md: "weight
/// transforms happen once, at convert time"): a convolution the runtime will run as Winograd gets its
/// transformed filters as a fifth input, so a session made from the file maps them instead of computing them.
public enum KernelPreparation {
    /// The name suffix of transformed filters.
    public static let winogradSuffix = "_winograd"

    /// Adds transformed filters to every convolution that will run as Winograd.
    public static func prepare(_ model: Model) throws -> Model {
        var model = model
        var graph = model.graph
        var bindings: [String: Int] = [:]
        for input in graph.runtimeInputs {
            for dimension in input.type?.dimensions ?? [] { if case .symbolic(let name) = dimension { bindings[name] = 1 } }
        }
        let facts = try graph.inferFacts(bindings: bindings)
        var constants = graph.initializersByName
        var added: [Tensor] = []
        for index in graph.nodes.indices {
            var node = graph.nodes[index]
            let attributes: ConvAttributes
            var activation = FusedActivation.none
            switch node.op {
            case .conv(let plain): attributes = plain
            case .fusedConv(let fused):
                attributes = fused.conv
                activation = fused.activation
                if node.inputs.count > 4 { continue }
            default: continue
            }
            guard node.inputs.count >= 2, let weight = constants[node.inputs[1]], weight.dataType == .float,
                  let input = facts[node.inputs[0]]?.dimensions?.fixedShape, input.count == 4 else { continue }
            let geometry = try StepFactory.convolutionGeometry(node: node, attributes: attributes, input: input, weight: weight.shape,
                                                               winograd: .whenFaster)
            guard geometry.usesWinograd, let weightBytes = weight.storage.bytes.baseAddress else { continue }
            let transformed = Kernels.winogradWeights(weightBytes.assumingMemoryBound(to: Float.self), filters: geometry.outputChannels,
                                                      channels: geometry.inputChannels)
            var name = node.inputs[1] + winogradSuffix
            while constants[name] != nil { name += "_" }
            let tensor = Tensor.floats(transformed, shape: [16, geometry.outputChannels, geometry.inputChannels], name: name)
            constants[name] = tensor
            added.append(tensor)
            var inputs = node.inputs
            while inputs.count < 4 { inputs.append("") }
            node.inputs = inputs + [name]
            if case .conv = node.op {
                node.opType = FusedConvAttributes.opType
                node.domain = resinDomain
            }
            node.op = .fusedConv(FusedConvAttributes(conv: attributes, activation: activation))
            graph.nodes[index] = node
        }
        graph.initializers += added
        model.graph = graph
        return model
    }
}
