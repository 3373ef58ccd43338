import ResinIR

/// Rewrites Resin's own operators as standard ONNX so an optimized graph exports to files any ONNX tool
/// reads: FusedConv becomes Conv then Add and Relu or Clip, FusedGemm becomes Gemm then the activation,
/// ChannelAffine becomes Mul then Add and its activation. The folded weights stay as they are.
public enum StandardONNX {
    ///
    /// Filters a native file stores only packed are unpacked into the original initializer, under its
    /// name; packed filters that do not hold the shape the node records are an invalid tensor.
    public static func lower(_ model: Model) throws(GraphError) -> Model {
        var model = model
        let opset = model.defaultOpsetVersion ?? 13
        // Resin's domain and the attributes only its operators carry do not leave Resin.
        model.opsetImports.removeAll { $0.domain == resinDomain }
        var graph = model.graph
        // One set of taken names for every fresh one, rather than a scan of the graph per name.
        var names = GraphIndex(graph)
        var nodes: [Node] = []
        let constants = graph.initializersByName
        var rebuilt: [String: Tensor] = [:]
        for var node in graph.nodes {
            switch node.op {
            case .fusedConv(let fused):
                if node.inputs.count > 4, node.inputs[1].isEmpty, let weight = fused.weight {
                    rebuilt[node.inputs[4]] = try unpacked(constants[node.inputs[4]], as: weight, node: node)
                    node.inputs[1] = weight.name
                }
                let output = node.outputs[0]
                let hasSkip = node.inputs.count > 3 && !node.inputs[3].isEmpty
                let stages = (hasSkip ? 1 : 0) + (fused.activation == .none ? 0 : 1)
                var value = stages == 0 ? output : names.freshName(output + "_conv")
                let convInputs = node.inputs.prefix(3).last == "" ? Array(node.inputs.prefix(2)) : Array(node.inputs.prefix(3))
                nodes.append(Node(name: node.name, opType: "Conv", inputs: convInputs, outputs: [value],
                                  attributes: standardAttributes(node), op: .conv(fused.conv)))
                if hasSkip {
                    let sum = fused.activation == .none ? output : names.freshName(output + "_add")
                    nodes.append(Node(name: (node.name ?? output) + "_add", opType: "Add", inputs: [value, node.inputs[3]],
                                      outputs: [sum], op: .binary(.add)))
                    value = sum
                }
                if fused.activation != .none {
                    nodes.append(activationNode(fused.activation, input: value, output: output, name: node.name ?? output, names: &names, graph: &graph, opset: opset))
                }
            case .fusedGemm(let fused):
                let output = node.outputs[0]
                let value = names.freshName(output + "_gemm")
                nodes.append(Node(name: node.name, opType: "Gemm", inputs: node.inputs, outputs: [value],
                                  attributes: standardAttributes(node), op: .gemm(fused.gemm)))
                nodes.append(activationNode(fused.activation, input: value, output: output, name: node.name ?? output, names: &names, graph: &graph, opset: opset))
            case .channelAffine(let activation):
                let output = node.outputs[0]
                let scaled = names.freshName(output + "_scaled")
                let shifted = activation == .none ? output : names.freshName(output + "_shifted")
                nodes.append(Node(name: node.name, opType: "Mul", inputs: [node.inputs[0], node.inputs[1]], outputs: [scaled], op: .binary(.mul)))
                nodes.append(Node(name: (node.name ?? output) + "_shift", opType: "Add", inputs: [scaled, node.inputs[2]],
                                  outputs: [shifted], op: .binary(.add)))
                if activation != .none {
                    nodes.append(activationNode(activation, input: shifted, output: output, name: node.name ?? output, names: &names, graph: &graph, opset: opset))
                }
            default:
                nodes.append(node)
            }
        }
        graph.nodes = nodes
        // Each rebuilt original takes its packed copy's place.
        graph.initializers = graph.initializers.map { tensor in tensor.name.flatMap { rebuilt[$0] } ?? tensor }
        // Kernel-ready copies of weights (Winograd and packed filters of native files) have no reader left.
        var used = Set(graph.outputs.map(\.name))
        for node in nodes { used.formUnion(node.inputs) }
        graph.initializers.removeAll { tensor in
            tensor.name.map { !used.contains($0) && ($0.hasSuffix("_winograd") || $0.hasSuffix("_packed")) } ?? false
        }
        // IR versions before 4 require every initializer to be listed among the graph inputs too.
        if let version = model.irVersion, version < 4 {
            let listed = Set(graph.inputs.map(\.name))
            for tensor in graph.initializers {
                guard let name = tensor.name, !listed.contains(name) else { continue }
                graph.inputs.append(ValueInfo(name: name, type: .tensor(tensor.dataType, tensor.shape.map { .fixed($0) })))
            }
        }
        model.graph = graph
        return model
    }

    /// A fused node's attributes without those the native format adds (the activation, `prepared`, the
    /// original weight's name and shape).
    private static func standardAttributes(_ node: Node) -> [Attribute] {
        node.attributes.filter { !$0.name.hasPrefix("activation") && !FusedConvAttributes.preparedAttributeNames.contains($0.name) }
    }

    /// The original `[M, K...]` filters from their packed panels `[ceil(M/32), K, 32]`:
    /// `w[p * 32 + r][k] = packed[p][k][r]` for the rows below M (the rest of the last panel is zero padding).
    private static func unpacked(_ packed: Tensor?, as weight: OriginalWeight, node: Node) throws(GraphError) -> Tensor {
        let filters = weight.shape[0]
        let inner = elementCount(of: Array(weight.shape.dropFirst())) ?? 0
        let panels = (filters + 31) / 32
        guard let packed, packed.dataType == .float, packed.shape == [panels, inner, 32] else {
            throw .invalidTensor(
                name: packed?.name ?? node.inputs[4],
                reason: "the packed filters of \(node.displayName) must be float [\(panels), \(inner), 32] to rebuild '\(weight.name)' \(weight.shape)")
        }
        var values = [Float](repeating: 0, count: filters * inner)
        if let source = packed.storage.bytes.baseAddress?.assumingMemoryBound(to: Float.self) {
            for filter in 0..<filters {
                let panel = filter / 32, row = filter % 32
                for k in 0..<inner { values[filter * inner + k] = source[(panel * inner + k) * 32 + row] }
            }
        }
        return Tensor.floats(values, shape: weight.shape, name: weight.name)
    }

    private static func activationNode(
        _ activation: FusedActivation, input: String, output: String, name: String, names: inout GraphIndex, graph: inout Graph,
        opset: Int
    ) -> Node {
        switch activation {
        case .none, .relu:
            return Node(name: name + "_relu", opType: "Relu", inputs: [input], outputs: [output], op: .relu)
        case .clip(let low, let high):
            if opset < 11 {
                return Node(name: name + "_clip", opType: "Clip", inputs: [input], outputs: [output],
                            attributes: [Attribute(name: "min", value: .float(low)), Attribute(name: "max", value: .float(high))],
                            op: .clip(ClipAttributes(min: low, max: high)))
            }
            let minimum = names.addInitializer(.floats([low], shape: []), base: name + "_clip_min", to: &graph)
            let maximum = names.addInitializer(.floats([high], shape: []), base: name + "_clip_max", to: &graph)
            return Node(name: name + "_clip", opType: "Clip", inputs: [input, minimum, maximum], outputs: [output], op: .clip(ClipAttributes()))
        }
    }
}
