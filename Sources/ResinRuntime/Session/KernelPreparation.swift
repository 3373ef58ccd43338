import ResinIR

/// Weights put in the layout the kernels read, once, when a native file is written (Docs/DESIGN.md: "weight
/// transforms happen once, at convert time"): a convolution the runtime will run as Winograd gets its
/// transformed filters as a fifth input (F(2x2), F(4x4) or the stride-2 F(2x2) as `WinogradPlan` chooses; packed
/// for Resin's own kernel when its products have few columns, and always for the other two), and one with few output columns its filters packed for that kernel (`PackedFilters`), so a session made from the file maps them instead of computing them.
/// Which convolutions get which depends on the shapes only, not on the processor converting.
public enum KernelPreparation {
    /// The name suffixes of transformed and packed filters.
    public static let winogradSuffix = "_winograd"
    public static let packedSuffix = "_packed"

    /// Adds transformed or packed filters to every convolution that will run with them.
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
        // Packed filters replace their original in the file when nothing else reads it (a permutation, so
        // export rebuilds it exactly); Winograd transforms lose the original, which stays beside them.
        var readers: [String: Int] = [:]
        for node in graph.nodes { for input in Set(node.inputs) { readers[input, default: 0] += 1 } }
        for output in graph.outputs { readers[output.name, default: 0] += 1 }
        var dropped = Set<String>()
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
            guard geometry.usesWinograd || PackedFilters.pay(for: geometry),
                  let weightBytes = weight.storage.bytes.baseAddress?.assumingMemoryBound(to: Float.self) else { continue }
            let prepared: PreparedFilters
            switch geometry.winogradTile {
            case _ where geometry.winogradStride == 2: prepared = .winogradStride2Packed
            case 4: prepared = .winograd4x4Packed
            case 2: prepared = PackedFilters.pay(forWinograd: geometry) ? .winogradPacked : .winograd
            default: prepared = .packed
            }
            var name = node.inputs[1] + (prepared == .packed ? packedSuffix : winogradSuffix)
            while constants[name] != nil { name += "_" }
            let tensor: Tensor
            if prepared == .winogradStride2Packed {
                let filters = geometry.outputChannels, channels = geometry.inputChannels
                let packed = Kernels.winogradStride2PackedWeights(weightBytes, filters: filters, channels: channels)
                tensor = Tensor.floats(packed, shape: [16] + PackedFilters.shape(filters: filters, inner: channels), name: name)
            } else if prepared == .winograd4x4Packed {
                let filters = geometry.outputChannels, channels = geometry.inputChannels
                let packed = Kernels.winograd4x4PackedWeights(weightBytes, filters: filters, channels: channels)
                tensor = Tensor.floats(packed, shape: [36] + PackedFilters.shape(filters: filters, inner: channels), name: name)
            } else if geometry.usesWinograd {
                let filters = geometry.outputChannels, channels = geometry.inputChannels
                let transformed = Kernels.winogradWeights(weightBytes, filters: filters, channels: channels)
                if prepared == .winogradPacked {
                    let packed = transformed.withUnsafeBufferPointer {
                        PackedFilters.packWinograd($0.baseAddress!, filters: filters, channels: channels)
                    }
                    tensor = Tensor.floats(packed, shape: [16] + PackedFilters.shape(filters: filters, inner: channels), name: name)
                } else {
                    tensor = Tensor.floats(transformed, shape: [16, filters, channels], name: name)
                }
            } else {
                let packed = PackedFilters.pack(weightBytes, filters: geometry.outputChannels, inner: geometry.columnRows)
                tensor = Tensor.floats(packed, shape: PackedFilters.shape(filters: geometry.outputChannels, inner: geometry.columnRows),
                                       name: name)
            }
            constants[name] = tensor
            added.append(tensor)
            var inputs = node.inputs
            while inputs.count < 4 { inputs.append("") }
            node.inputs = inputs + [name]
            if case .conv = node.op {
                node.opType = FusedConvAttributes.opType
                node.domain = resinDomain
            }
            var original: OriginalWeight?
            if prepared == .packed, readers[node.inputs[1]] == 1, !dropped.contains(node.inputs[1]) {
                original = OriginalWeight(name: node.inputs[1], shape: weight.shape)
                dropped.insert(node.inputs[1])
                node.inputs[1] = ""
            }
            node.op = .fusedConv(FusedConvAttributes(conv: attributes, activation: activation, prepared: prepared, weight: original))
            graph.nodes[index] = node
        }
        // Prepared filters first, the originals they replace last: a run never reads those, and kept
        // together at the end of a native file their pages are never mapped in beside the ones it reads.
        let replaced = Set(graph.nodes.compactMap { node -> String? in
            guard case .fusedConv = node.op, node.inputs.count > 4, !node.inputs[4].isEmpty, !node.inputs[1].isEmpty else { return nil }
            return node.inputs[1]
        })
        graph.initializers = graph.initializers.filter { !replaced.contains($0.name ?? "") && !dropped.contains($0.name ?? "") } + added
            + graph.initializers.filter { replaced.contains($0.name ?? "") }
        // Files before IR 4 list initializers among the inputs: a dropped one must not become a runtime input.
        graph.inputs.removeAll { dropped.contains($0.name) }
        model.graph = graph
        return model
    }
}
