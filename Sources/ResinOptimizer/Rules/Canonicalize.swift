import ResinIR

/// `MatMul(A, B) + bias` with a constant 2-D B and a vector bias becomes one Gemm.
struct MatMulAddToGemm: CountingPass {
    let name = "matmul-add-to-gemm"

    func run(on graph: inout Graph, context: OptimizationContext, statistics: inout OptimizerStatistics) throws -> Int {
        var count = 0
        var index = GraphIndex(graph)
        // Rewriting a MatMul and its Add changes no value's shape, so one inference serves the whole sweep.
        let facts = try graph.inferFacts()
        for position in graph.nodes.indices where !index.removed[position] {
            statistics.ruleVisits += 1
            let node = graph.nodes[position]
            guard case .matMul = node.op, let weight = index.constant(node.inputs[1]), weight.rank == 2,
                  facts[node.inputs[0]]?.dimensions?.count == 2,
                  let add = index.soleConsumer(of: node.outputs[0]), case .binary(.add) = graph.nodes[add].op else { continue }
            let addNode = graph.nodes[add]
            let other = addNode.inputs[0] == node.outputs[0] ? addNode.inputs[1] : addNode.inputs[0]
            guard let bias = index.constant(other), bias.shape == [weight.shape[1]] || bias.shape == [1, weight.shape[1]] else { continue }
            let gemm = makeNode(name: node.name, opType: "Gemm", inputs: [node.inputs[0], node.inputs[1], other],
                                outputs: [addNode.outputs[0]], op: .gemm(GemmAttributes()))
            index.delete(position, in: &graph)
            index.replace(add, with: gemm, in: &graph)
            count += 1
        }
        index.compact(&graph)
        return count
    }
}

/// ReduceMean over every spatial axis with keepdims is GlobalAveragePool.
struct ReduceMeanToGlobalAveragePool: CountingPass {
    let name = "reducemean-to-global-average-pool"

    func run(on graph: inout Graph, context: OptimizationContext, statistics: inout OptimizerStatistics) throws -> Int {
        var count = 0
        let facts = try graph.inferFacts()
        let index = GraphIndex(graph)
        for position in graph.nodes.indices {
            statistics.ruleVisits += 1
            let node = graph.nodes[position]
            guard case .reduceMean(let attributes) = node.op, attributes.keepDimensions,
                  let rank = facts[node.inputs[0]]?.dimensions?.count, rank >= 3 else { continue }
            let axes = attributes.axes ?? (node.inputs.count > 1 ? index.constant(node.inputs[1])?.integerValues : nil)
            guard let axes, Set(axes.map { $0 < 0 ? $0 + rank : $0 }) == Set(2..<rank), axes.count == rank - 2 else { continue }
            graph.nodes[position] = makeNode(name: node.name, opType: "GlobalAveragePool", inputs: [node.inputs[0]],
                                             outputs: node.outputs, op: .globalAveragePool)
            count += 1
        }
        return count
    }
}

/// A Sum of two inputs is an Add.
struct SumToAdd: CountingPass {
    let name = "sum-to-add"

    func run(on graph: inout Graph, context: OptimizationContext, statistics: inout OptimizerStatistics) throws -> Int {
        var count = 0
        for position in graph.nodes.indices {
            statistics.ruleVisits += 1
            let node = graph.nodes[position]
            guard case .sum = node.op, node.inputs.count == 2 else { continue }
            graph.nodes[position] = makeNode(name: node.name, opType: "Add", inputs: node.inputs, outputs: node.outputs, op: .binary(.add))
            count += 1
        }
        return count
    }
}

/// A Reshape that only flattens `[N, C, 1, 1]` (after global pooling) to `[N, C]` is a Flatten.
struct ReshapeToFlatten: CountingPass {
    let name = "reshape-to-flatten"

    func run(on graph: inout Graph, context: OptimizationContext, statistics: inout OptimizerStatistics) throws -> Int {
        var count = 0
        let facts = try graph.inferFacts()
        for position in graph.nodes.indices {
            statistics.ruleVisits += 1
            let node = graph.nodes[position]
            guard case .reshape = node.op, let input = facts[node.inputs[0]]?.dimensions, input.count >= 3,
                  input[2...].allSatisfy({ $0 == .fixed(1) }), let output = facts[node.outputs[0]]?.dimensions,
                  output == Array(input.prefix(2)) else { continue }
            graph.nodes[position] = makeNode(name: node.name, opType: "Flatten", inputs: [node.inputs[0]], outputs: node.outputs,
                                             attributes: [Attribute(name: "axis", value: .int(1))], op: .flatten(FlattenAttributes(axis: 1)))
            count += 1
        }
        return count
    }
}
