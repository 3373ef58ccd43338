import Resin
import ResinIR
import ResinRuntime

/// Multiply-accumulates of each step of a session, so `bench --profile` can say how close a convolution
/// runs to the processor's arithmetic limit: GFLOP/s = 2 x MACs / mean time.
enum StepCost {
    /// MACs per node (by display name, as `Session.StepTiming.node` names it) at the batch and shapes the
    /// session was made for; nodes without MACs, or whose shapes do not resolve, are absent.
    static func multiplyAccumulates(of model: Model, session: Session) -> [String: Int] {
        let graph = model.graph
        // The session's input shapes bind every symbolic dimension the model declares (the batch, mostly).
        var bindings: [String: Int] = [:]
        for input in graph.runtimeInputs {
            guard let shape = session.inputs.first(where: { $0.name == input.name })?.shape,
                  let dimensions = input.type?.dimensions, dimensions.count == shape.count else { continue }
            for (dimension, size) in zip(dimensions, shape) {
                if case .symbolic(let name) = dimension { bindings[name] = size }
            }
        }
        guard let facts = try? graph.inferFacts(bindings: bindings) else { return [:] }
        var result: [String: Int] = [:]
        for node in graph.nodes {
            // A graph of the one node reuses the IR's own count (Graph.cost), which the model summary prints.
            if let macs = Graph(nodes: [node]).cost(facts: facts).multiplyAccumulates, macs > 0 {
                result[node.displayName] = macs
            }
        }
        return result
    }

    /// Billions of floating-point operations per second of `macs` multiply-accumulates in `milliseconds`.
    static func gigaflops(macs: Int, milliseconds: Double) -> Double {
        milliseconds > 0 ? 2 * Double(macs) / (milliseconds * 1e6) : 0
    }

    /// Whether a step is a convolution (plain or fused), the steps whose GFLOP/s `--profile` lists.
    static func isConvolution(_ opType: String) -> Bool { opType == "Conv" || opType == "FusedConv" }
}
