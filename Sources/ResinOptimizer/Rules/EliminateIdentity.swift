import ResinIR

/// Removes Identity and inference-mode Dropout: readers of the output read the input instead.
/// A graph output keeps its name: the input's producer is renamed to it when that is safe, else the node stays.
struct EliminateIdentity: CountingPass {
    let name = "eliminate-identity"

    func run(on graph: inout Graph, context: OptimizationContext, statistics: inout OptimizerStatistics) throws -> Int {
        var count = 0
        var index = GraphIndex(graph)
        // One sweep: the index follows every rename, so a run of Identities goes in the same sweep.
        for position in graph.nodes.indices where !index.removed[position] {
            statistics.ruleVisits += 1
            guard let rename = match(graph.nodes[position], index: index) else { continue }
            let node = graph.nodes[position]
            let input = node.inputs[0]
            let output = node.outputs[0]
            index.delete(position, in: &graph)
            if rename, let source = index.producer[input] {
                // The input becomes the graph output's name everywhere.
                var producer = graph.nodes[source]
                producer.outputs = producer.outputs.map { $0 == input ? output : $0 }
                index.replace(source, with: producer, in: &graph)
                index.replaceReads(of: input, with: output, in: &graph)
            } else {
                index.replaceReads(of: output, with: input, in: &graph)
            }
            count += 1
        }
        index.compact(&graph)
        return count
    }

    /// Whether the node is removable, and if so whether its input must take the output's name.
    private func match(_ node: Node, index: GraphIndex) -> Bool? {
        switch node.op {
        case .identity: break
        case .dropout:
            // Inference mode only: no training_mode input, or a constant false one; no mask in use.
            if node.inputs.count > 2, !node.inputs[2].isEmpty {
                guard let mode = index.constant(node.inputs[2]), mode.storage.byteCount > 0, mode.storage.bytes[0] == 0 else { return nil }
            }
            if node.outputs.count > 1, !node.outputs[1].isEmpty,
               index.consumers[node.outputs[1]] != nil || index.graphOutputs.contains(node.outputs[1]) {
                return nil
            }
        default: return nil
        }
        guard let input = node.inputs.first, !input.isEmpty, let output = node.outputs.first,
              !index.subgraphReads.contains(output), !index.subgraphReads.contains(input) else { return nil }
        if !index.graphOutputs.contains(output) { return false }
        // The output is a graph output: rename the input's producer, if a node produces it and
        // nothing else needs the input's own name.
        if index.producer[input] != nil, !index.graphOutputs.contains(input), !index.graphInputs.contains(input) {
            return true
        }
        return nil
    }
}
