import ResinIR

/// Evaluates every node whose inputs are all constant once, with the runtime's kernels, and keeps the
/// result as an initializer; Constant nodes become initializers, and Shape folds whenever its input's
/// dimensions are known, even if the data is not.
struct FoldConstants: CountingPass {
    let name = "fold-constants"

    func run(on graph: inout Graph, context: OptimizationContext, statistics: inout OptimizerStatistics) throws -> Int {
        let facts = try graph.inferFacts()
        var constants = graph.initializersByName
        var folded = Set<Int>()
        var added: [Tensor] = []
        // One sweep in execution order: a folded node's outputs are constants for the nodes after it.
        for position in try graph.topologicalOrder() {
            statistics.ruleVisits += 1
            let node = graph.nodes[position]
            guard node.op.isSupported, foldable(node, constants: constants, facts: facts) else { continue }
            let outputs: [Tensor]
            if case .shape(let attributes) = node.op, let dims = facts[node.inputs[0]]?.dimensions?.fixedShape {
                let values = dims[attributes.range(rank: dims.count)].map { Int64($0) }
                outputs = [.int64s(values, shape: [values.count])]
            } else if case .constant(let attributes) = node.op {
                // The value as the node states it: strings included, which the kernels do not carry.
                outputs = [attributes.value]
            } else {
                let inputs = node.inputs.map { $0.isEmpty ? nil : constants[$0] }
                // What the kernels cannot evaluate (strings, say) is left for the runtime to judge.
                guard let evaluated = try? context.evaluate(node, inputs, context.opset) else { continue }
                outputs = evaluated
            }
            for (name, tensor) in zip(node.outputs, outputs) where !name.isEmpty {
                var constant = tensor
                constant.name = name
                constant.encoding = .raw
                constants[name] = constant
                added.append(constant)
            }
            folded.insert(position)
        }
        guard !folded.isEmpty else { return 0 }
        graph.nodes = graph.nodes.indices.filter { !folded.contains($0) }.map { graph.nodes[$0] }
        graph.initializers += added
        return folded.count
    }

    private func foldable(_ node: Node, constants: [String: Tensor], facts: [String: ValueFacts]) -> Bool {
        if case .shape = node.op {
            return facts[node.inputs[0]]?.dimensions?.fixedShape != nil
        }
        for output in node.outputs where !output.isEmpty {
            guard facts[output]?.dimensions?.fixedShape != nil, facts[output]?.dataType != nil else { return false }
        }
        return node.inputs.allSatisfy { $0.isEmpty || constants[$0] != nil }
    }
}
