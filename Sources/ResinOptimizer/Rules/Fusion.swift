import ResinIR

/// `Add(Conv(x), skip)` becomes one FusedConv whose epilogue adds `skip`; the runtime accumulates into
/// skip's buffer in place when skip dies there. Operand order does not matter; the conv's output must
/// have no other reader, and skip must have the output's exact shape.
struct FuseResidualAdd: Pass {
    let name = "fuse-residual-add"

    func run(on graph: inout Graph, context: OptimizationContext) throws -> Int {
        var count = 0
        while let (addPosition, convPosition, skip) = try find(graph) {
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
            graph.nodes[addPosition] = conv
            graph.nodes.remove(at: convPosition)
            count += 1
        }
        return count
    }

    private func find(_ graph: Graph) throws -> (Int, Int, String)? {
        let index = GraphIndex(graph)
        let facts = try graph.inferFacts()
        for (position, node) in graph.nodes.enumerated() {
            guard case .binary(.add) = node.op, node.inputs.count == 2 else { continue }
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
                return (position, producer, skip)
            }
        }
        return nil
    }
}

/// Relu, or Clip with constant bounds (Relu6), after a Conv or Gemm becomes the fused operator's
/// activation.
struct FuseActivation: Pass {
    let name = "fuse-activation"

    func run(on graph: inout Graph, context: OptimizationContext) throws -> Int {
        var count = 0
        while let (activationPosition, producerPosition, activation) = find(graph, opset: context.opset) {
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
            default:
                continue
            }
            producer.outputs = graph.nodes[activationPosition].outputs
            graph.nodes[producerPosition] = producer
            graph.nodes.remove(at: activationPosition)
            count += 1
        }
        return count
    }

    private func find(_ graph: Graph, opset: Int) -> (Int, Int, FusedActivation)? {
        let index = GraphIndex(graph)
        for (position, node) in graph.nodes.enumerated() {
            let activation: FusedActivation
            switch node.op {
            case .relu: activation = .relu
            case .clip(let attributes):
                var low = attributes.min ?? -.infinity
                var high = attributes.max ?? .infinity
                if node.inputs.count > 1, !node.inputs[1].isEmpty {
                    guard let value = index.constant(node.inputs[1])?.floatValues?.first else { continue }
                    low = value
                }
                if node.inputs.count > 2, !node.inputs[2].isEmpty {
                    guard let value = index.constant(node.inputs[2])?.floatValues?.first else { continue }
                    high = value
                }
                activation = .clip(min: low, max: high)
            default: continue
            }
            guard let producerPosition = index.producer[node.inputs[0]],
                  index.soleConsumer(of: node.inputs[0]) == position else { continue }
            switch graph.nodes[producerPosition].op {
            case .conv, .gemm: return (position, producerPosition, activation)
            case .fusedConv(let fused) where fused.activation == .none: return (position, producerPosition, activation)
            default: continue
            }
        }
        return nil
    }
}

/// Nodes whose outputs nothing reads, and initializers nothing reads, go. Graph outputs always stay.
struct EliminateDeadNodes: Pass {
    let name = "eliminate-dead-nodes"

    func run(on graph: inout Graph, context: OptimizationContext) throws -> Int {
        var count = 0
        var changed = true
        while changed {
            changed = false
            let index = GraphIndex(graph)
            let kept = graph.nodes.filter { node in
                node.outputs.contains { !$0.isEmpty && (index.consumers[$0] != nil || index.graphOutputs.contains($0)) }
            }
            if kept.count != graph.nodes.count {
                count += graph.nodes.count - kept.count
                graph.nodes = kept
                changed = true
            }
        }
        var used = Set(graph.outputs.map(\.name))
        for node in graph.nodes { used.formUnion(node.inputs) }
        used.formUnion(GraphIndex(graph).subgraphReads)
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
