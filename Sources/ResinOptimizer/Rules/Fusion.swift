import ResinIR

/// `Add(Conv(x), skip)` becomes one FusedConv whose epilogue adds `skip`; the runtime accumulates into
/// skip's buffer in place when skip dies there. Operand order does not matter; the conv's output must
/// have no other reader, and skip must have the output's exact shape.
struct FuseResidualAdd: CountingPass {
    let name = "fuse-residual-add"

    func run(on graph: inout Graph, context: OptimizationContext, statistics: inout OptimizerStatistics) throws -> Int {
        var count = 0
        var index = GraphIndex(graph)
        // Fusing keeps every surviving value's shape, so one inference serves the whole sweep.
        let facts = try graph.inferFacts()
        for addPosition in graph.nodes.indices where !index.removed[addPosition] {
            statistics.ruleVisits += 1
            guard let (convPosition, skip) = match(addPosition, graph: graph, index: index, facts: facts) else { continue }
            let add = graph.nodes[addPosition]
            var conv = graph.nodes[convPosition]
            let attributes: ConvAttributes
            switch conv.op {
            case .conv(let plain): attributes = plain
            case .fusedConv(let fused): attributes = fused.conv
            default: continue
            }
            var inputs = Array(conv.inputs.prefix(3))
            while inputs.count < 3 { inputs.append("") }
            conv.inputs = inputs + [skip]
            conv.outputs = add.outputs
            conv.op = .fusedConv(FusedConvAttributes(conv: attributes))
            conv.opType = FusedConvAttributes.opType
            conv.domain = resinDomain
            // The fused node takes the Add's place: skip may be computed after the conv in file order.
            index.delete(convPosition, in: &graph)
            index.replace(addPosition, with: conv, in: &graph)
            count += 1
        }
        index.compact(&graph)
        return count
    }

    /// The conv an Add at `position` absorbs, and the Add's other operand.
    private func match(_ position: Int, graph: Graph, index: GraphIndex, facts: [String: ValueFacts]) -> (Int, String)? {
        let node = graph.nodes[position]
        guard case .binary(.add) = node.op, node.inputs.count == 2 else { return nil }
        // Prefer the operand computed later, so the other one is ready first.
        let candidates = [0, 1].compactMap { slot -> (Int, Int)? in
            guard let producer = index.producer[node.inputs[slot]] else { return nil }
            return (slot, producer)
        }.sorted { $0.1 > $1.1 }
        for (slot, producer) in candidates {
            let conv = graph.nodes[producer]
            switch conv.op {
            case .conv: break
            case .fusedConv(let fused) where fused.activation == .none && conv.inputs.count < 4: break
            default: continue
            }
            let skip = node.inputs[1 - slot]
            guard index.soleConsumer(of: node.inputs[slot]) == position, !skip.isEmpty,
                  let outputShape = facts[node.inputs[slot]]?.dimensions, facts[skip]?.dimensions == outputShape,
                  facts[skip]?.dataType == .float, !outputShape.contains(.unknown) else { continue }
            return (producer, skip)
        }
        return nil
    }
}

/// Relu, or Clip with constant bounds (Relu6), after a Conv, Gemm or ChannelAffine becomes the fused
/// operator's activation.
struct FuseActivation: CountingPass {
    let name = "fuse-activation"

    func run(on graph: inout Graph, context: OptimizationContext, statistics: inout OptimizerStatistics) throws -> Int {
        var count = 0
        var index = GraphIndex(graph)
        for activationPosition in graph.nodes.indices where !index.removed[activationPosition] {
            statistics.ruleVisits += 1
            guard let (producerPosition, activation) = match(activationPosition, graph: graph, index: index) else { continue }
            var producer = graph.nodes[producerPosition]
            switch producer.op {
            case .conv(let attributes):
                producer.op = .fusedConv(FusedConvAttributes(conv: attributes, activation: activation))
                producer.opType = FusedConvAttributes.opType
                producer.domain = resinDomain
            case .fusedConv(var fused):
                fused.activation = activation
                producer.op = .fusedConv(fused)
            case .gemm(let attributes):
                producer.op = .fusedGemm(FusedGemmAttributes(gemm: attributes, activation: activation))
                producer.opType = FusedGemmAttributes.opType
                producer.domain = resinDomain
            case .channelAffine:
                producer.op = .channelAffine(activation)
            default:
                continue
            }
            producer.outputs = graph.nodes[activationPosition].outputs
            index.delete(activationPosition, in: &graph)
            index.replace(producerPosition, with: producer, in: &graph)
            count += 1
        }
        index.compact(&graph)
        return count
    }

    /// The producer an activation at `position` fuses into, and the activation.
    private func match(_ position: Int, graph: Graph, index: GraphIndex) -> (Int, FusedActivation)? {
        let node = graph.nodes[position]
        let activation: FusedActivation
        switch node.op {
        case .relu: activation = .relu
        case .clip(let attributes):
            var low = attributes.min ?? -.infinity
            var high = attributes.max ?? .infinity
            if node.inputs.count > 1, !node.inputs[1].isEmpty {
                guard let value = index.constant(node.inputs[1])?.floatValues?.first else { return nil }
                low = value
            }
            if node.inputs.count > 2, !node.inputs[2].isEmpty {
                guard let value = index.constant(node.inputs[2])?.floatValues?.first else { return nil }
                high = value
            }
            activation = .clip(min: low, max: high)
        default: return nil
        }
        guard let producerPosition = index.producer[node.inputs[0]],
              index.soleConsumer(of: node.inputs[0]) == position else { return nil }
        switch graph.nodes[producerPosition].op {
        case .conv, .gemm: return (producerPosition, activation)
        case .fusedConv(let fused) where fused.activation == .none: return (producerPosition, activation)
        case .channelAffine(.none): return (producerPosition, activation)
        default: return nil
        }
    }
}

/// Nodes whose outputs nothing reads, and initializers nothing reads, go. Graph outputs always stay.
struct EliminateDeadNodes: CountingPass {
    let name = "eliminate-dead-nodes"

    func run(on graph: inout Graph, context: OptimizationContext, statistics: inout OptimizerStatistics) throws -> Int {
        var count = 0
        var index = GraphIndex(graph)
        func isLive(_ node: Node) -> Bool {
            node.outputs.contains { !$0.isEmpty && (index.consumers[$0] != nil || index.graphOutputs.contains($0)) }
        }
        // A worklist, not repeated sweeps: removing a node can only kill the producers of its inputs, so
        // only those are looked at again, and a dead chain of any length goes in one pass.
        var worklist = graph.nodes.indices.filter { !isLive(graph.nodes[$0]) }
        while let position = worklist.popLast() {
            guard !index.removed[position] else { continue }
            statistics.ruleVisits += 1
            let node = graph.nodes[position]
            index.delete(position, in: &graph)
            count += 1
            for input in node.inputs + GraphIndex.outerReads(of: node) {
                if let source = index.producer[input], !index.removed[source], !isLive(graph.nodes[source]) {
                    worklist.append(source)
                }
            }
        }
        index.compact(&graph)
        var used = Set(graph.outputs.map(\.name))
        for node in graph.nodes { used.formUnion(node.inputs) }
        for node in graph.nodes { used.formUnion(GraphIndex.outerReads(of: node)) }
        let wereConstant = Set(graph.initializers.compactMap(\.name))
        let before = graph.initializers.count
        graph.initializers = graph.initializers.filter { used.contains($0.name ?? "") }
        count += before - graph.initializers.count
        // An IR version 3 file lists initializers among the inputs; the entry of a dropped one goes too.
        // True inputs stay, used or not: they are the model's interface.
        let constants = Set(graph.initializers.compactMap(\.name))
        graph.inputs = graph.inputs.filter { !wereConstant.contains($0.name) || constants.contains($0.name) }
        var known = Set(graph.inputs.map(\.name)).union(constants)
        for node in graph.nodes { known.formUnion(node.outputs) }
        graph.valueInfo = graph.valueInfo.filter { known.contains($0.name) }
        return count
    }
}
