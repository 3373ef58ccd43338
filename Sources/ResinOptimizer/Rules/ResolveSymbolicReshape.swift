import ResinIR

/// A Reshape whose target is computed from a symbolic shape (`Shape -> Gather -> Unsqueeze -> Concat`
/// with a batch named N) gets a constant target instead: each element known as a number stays, each
/// element equal to the input's own dimension at that position becomes 0 ("copy"). What the chain
/// computed is then dead and goes.
struct ResolveSymbolicReshape: CountingPass {
    let name = "resolve-symbolic-reshape"

    func run(on graph: inout Graph, context: OptimizationContext, statistics: inout OptimizerStatistics) throws -> Int {
        var count = 0
        let facts = try graph.inferFacts()
        var index = GraphIndex(graph)
        for position in graph.nodes.indices {
            statistics.ruleVisits += 1
            let node = graph.nodes[position]
            guard case .reshape(let attributes) = node.op, !attributes.allowZero, node.inputs.count == 2,
                  !index.isConstant(node.inputs[1]), let requested = facts[node.inputs[1]]?.elements,
                  let input = facts[node.inputs[0]]?.dimensions else { continue }
            var target: [Int64] = []
            for (axis, element) in requested.enumerated() {
                switch element {
                case .fixed(let value): target.append(Int64(value))
                case .symbolic where axis < input.count && input[axis] == element: target.append(0)
                default: target = []
                }
                if target.count != axis + 1 { break }
            }
            guard target.count == requested.count, target.filter({ $0 == -1 }).count <= 1 else { continue }
            let shape = index.addInitializer(.int64s(target, shape: [target.count]), base: (node.name ?? node.outputs[0]) + "_shape",
                                             to: &graph)
            var resolved = node
            resolved.inputs[1] = shape
            index.replace(position, with: resolved, in: &graph)
            count += 1
        }
        return count
    }
}
