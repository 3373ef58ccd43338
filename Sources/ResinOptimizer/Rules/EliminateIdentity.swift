import ResinIR

/// Removes Identity and inference-mode Dropout: readers of the output read the input instead.
/// A graph output keeps its name: the input's producer is renamed to it when that is safe, else the node stays.
struct EliminateIdentity: Pass {
    let name = "eliminate-identity"

    func run(on graph: inout Graph, context: OptimizationContext) throws -> Int {
        var count = 0
        while let (index, rename) = findMatch(graph) {
            let node = graph.nodes[index]
            let input = node.inputs[0]
            let output = node.outputs[0]
            graph.nodes.remove(at: index)
            if rename {
                // The input becomes the graph output's name everywhere.
                for position in graph.nodes.indices {
                    for slot in graph.nodes[position].outputs.indices where graph.nodes[position].outputs[slot] == input {
                        graph.nodes[position].outputs[slot] = output
                    }
                }
                graph.replaceUses(of: input, with: output)
            } else {
                graph.replaceUses(of: output, with: input)
            }
            count += 1
        }
        return count
    }

    /// The first removable node, and whether its input must take the output's name.
    private func findMatch(_ graph: Graph) -> (Int, Bool)? {
        let index = GraphIndex(graph)
        for (position, node) in graph.nodes.enumerated() {
            switch node.op {
            case .identity: break
            case .dropout:
                // Inference mode only: no training_mode input, or a constant false one; no mask in use.
                if node.inputs.count > 2, !node.inputs[2].isEmpty {
                    guard let mode = index.constant(node.inputs[2]), mode.storage.byteCount > 0, mode.storage.bytes[0] == 0 else { continue }
                }
                if node.outputs.count > 1, !node.outputs[1].isEmpty,
                   index.consumers[node.outputs[1]] != nil || index.graphOutputs.contains(node.outputs[1]) {
                    continue
                }
            default: continue
            }
            guard let input = node.inputs.first, !input.isEmpty, let output = node.outputs.first,
                  !index.subgraphReads.contains(output), !index.subgraphReads.contains(input) else { continue }
            if !index.graphOutputs.contains(output) { return (position, false) }
            // The output is a graph output: rename the input's producer, if a node produces it and
            // nothing else needs the input's own name.
            if index.producer[input] != nil, !index.graphOutputs.contains(input), !index.graphInputs.contains(input) {
                return (position, true)
            }
        }
        return nil
    }
}
