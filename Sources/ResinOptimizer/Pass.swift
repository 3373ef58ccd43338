import ResinIR

/// One named graph rewrite. The optimizer runs a list of passes to a fixpoint and verifies the graph
/// after each; the name appears in `--verbose` output and in errors.
public protocol Pass: Sendable {
    /// The rule's name, as `--verbose` prints it.
    var name: String { get }
    /// Rewrites the graph in place and returns how many rewrites it made.
    func run(on graph: inout Graph) throws -> Int
}
