import ResinIR

/// Evaluates one node on constant inputs; the runtime provides it, so that folding uses the same kernels
/// inference does (the optimizer itself depends only on the IR).
public typealias NodeEvaluation = @Sendable (_ node: Node, _ inputs: [Tensor?], _ opset: Int) throws -> [Tensor]

/// What every pass may consult.
public struct OptimizationContext: Sendable {
    /// The model's default-domain opset, which some attribute layouts depend on.
    public var opset: Int
    /// Constant folding's evaluator.
    public var evaluate: NodeEvaluation

    public init(opset: Int, evaluate: @escaping NodeEvaluation) {
        self.opset = opset
        self.evaluate = evaluate
    }
}

/// One named graph rewrite. The optimizer runs a list of passes to a fixpoint and verifies the graph
/// after each; the name appears in `--verbose` output and in errors.
public protocol Pass: Sendable {
    /// The rule's name, as `--verbose` prints it.
    var name: String { get }
    /// Rewrites the graph in place and returns how many rewrites it made.
    func run(on graph: inout Graph, context: OptimizationContext) throws -> Int
    /// The same, counting the work in `statistics`; what the optimizer calls.
    func run(on graph: inout Graph, context: OptimizationContext, statistics: inout OptimizerStatistics) throws -> Int
}

extension Pass {
    /// A pass that does not count its own work is charged one visit per node.
    public func run(on graph: inout Graph, context: OptimizationContext, statistics: inout OptimizerStatistics) throws -> Int {
        statistics.ruleVisits += graph.nodes.count
        return try run(on: &graph, context: context)
    }
}

/// Resin's own rules, which count the nodes they visit; they implement only the counting entry.
protocol CountingPass: Pass {}

extension CountingPass {
    func run(on graph: inout Graph, context: OptimizationContext) throws -> Int {
        var statistics = OptimizerStatistics()
        return try run(on: &graph, context: context, statistics: &statistics)
    }
}

/// The work an optimization did, counted in steps rather than time so that tests can check how it grows
/// with the graph: every rule visits each node a bounded number of times per round, so doubling a graph
/// should at most about double every figure.
public struct OptimizerStatistics: Sendable, Equatable {
    /// Nodes the rules examined or rewrote, summed over passes and rounds.
    public var ruleVisits = 0
    /// Nodes the verifier and shape inference went over after passes that changed the graph.
    public var verifiedNodes = 0
    /// Rounds run, the last of which changed nothing (or the limit).
    public var rounds = 0

    public init() {}
}
