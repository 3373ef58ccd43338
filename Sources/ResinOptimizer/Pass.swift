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
}
