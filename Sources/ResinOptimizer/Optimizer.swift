import ResinIR

/// Why the optimizer stopped: the pass that failed, and what it left wrong.
public struct OptimizerError: Error, CustomStringConvertible {
    public var pass: String
    public var underlying: Error
    public var description: String { "optimizer pass '\(pass)' produced an invalid graph: \(underlying)" }
}

/// The rules were still rewriting when the round limit came: some of them undo each other (or one grows the
/// graph without end), so stopping there would leave a graph no rule set agrees on.
public struct OptimizerDidNotConverge: Error, CustomStringConvertible {
    public var rounds: Int
    /// The passes that rewrote something in the last round, in pipeline order.
    public var passes: [String]
    public var description: String {
        "the optimizer did not reach a fixpoint in \(rounds) rounds: \(passes.map { "'\($0)'" }.joined(separator: ", ")) still rewriting"
    }
}

/// What the optimizer did: rewrites per pass and the counts `inspect --json` reports as `fusions`.
public struct OptimizationReport: Sendable, Equatable {
    /// Rewrites per pass, in the order passes first made one.
    public var rewrites: [(pass: String, count: Int)] = []
    public var nodeCountBefore = 0
    public var nodeCountAfter = 0
    /// The work done, in steps, for tests that check it grows with the graph rather than its square.
    public var statistics = OptimizerStatistics()

    public static func == (lhs: OptimizationReport, rhs: OptimizationReport) -> Bool {
        lhs.rewrites.map(\.pass) == rhs.rewrites.map(\.pass) && lhs.rewrites.map(\.count) == rhs.rewrites.map(\.count)
            && lhs.nodeCountBefore == rhs.nodeCountBefore && lhs.nodeCountAfter == rhs.nodeCountAfter
    }

    /// Total rewrites by one pass.
    public func count(_ pass: String) -> Int {
        rewrites.first { $0.pass == pass }?.count ?? 0
    }

    public var batchNormFolded: Int { count("fold-batch-normalization") }
    public var residualAddFused: Int { count("fuse-residual-add") }
    public var activationFused: Int { count("fuse-activation") }
    public var constantsFolded: Int { count("fold-constants") }
    public var nodesRemoved: Int { nodeCountBefore - nodeCountAfter }

    mutating func record(_ pass: String, _ count: Int) {
        if let index = rewrites.firstIndex(where: { $0.pass == pass }) {
            rewrites[index].count += count
        } else {
            rewrites.append((pass, count))
        }
    }
}

/// Runs the rewrite rules to a fixpoint, verifying the graph after every pass that changed it.
///
/// Order matters within a round: clean-ups and constant folding first, so that the patterns the fusions
/// look for are visible (a Sum becomes an Add before the residual fusion; a BatchNormalization folds into
/// its Conv before the Add after it fuses); dead code last.
public struct Optimizer: Sendable {
    public var passes: [any Pass]

    /// The standard pipeline.
    public static let standard = Optimizer(passes: [
        EliminateIdentity(), FoldConstants(), ResolveSymbolicReshape(), SumToAdd(), MatMulAddToGemm(), TransposeGemmWeights(),
        ReduceMeanThroughTranspose(), ReduceMeanToGlobalAveragePool(), ReshapeToFlatten(), FusePadIntoWindow(), FoldBatchNormalization(),
        BatchNormalizationToChannelAffine(), FuseResidualAdd(), FuseActivation(), EliminateDeadNodes(),
    ])

    /// Rounds before the optimizer gives up: the standard rules settle in two or three.
    public var roundLimit = 16

    public init(passes: [any Pass]) {
        self.passes = passes
    }

    /// Optimizes a model's graph; `log` receives one line per pass and round that rewrote something.
    public func optimize(
        _ model: Model, evaluate: @escaping NodeEvaluation, log: ((String) -> Void)? = nil
    ) throws -> (Model, OptimizationReport) {
        var model = model
        var report = OptimizationReport()
        report.nodeCountBefore = model.graph.nodes.count
        let context = OptimizationContext(opset: model.defaultOpsetVersion ?? 1, evaluate: evaluate)
        var graph = model.graph
        var rewriting: [String] = []
        for round in 1...roundLimit {
            report.statistics.rounds = round
            rewriting = []
            for pass in passes {
                let started = ContinuousClock.now
                let count: Int
                do {
                    count = try pass.run(on: &graph, context: context, statistics: &report.statistics)
                    if count > 0 {
                        report.statistics.verifiedNodes += graph.nodes.count
                        try graph.verify()
                        _ = try graph.inferFacts()
                    }
                } catch {
                    throw OptimizerError(pass: pass.name, underlying: error)
                }
                if count > 0 {
                    rewriting.append(pass.name)
                    report.record(pass.name, count)
                    let elapsed = ContinuousClock.now - started
                    let milliseconds = Double(elapsed.components.seconds) * 1e3 + Double(elapsed.components.attoseconds) / 1e15
                    log?("round \(round): \(pass.name): \(count) rewrite\(count == 1 ? "" : "s") (\(Int(milliseconds.rounded())) ms)")
                }
            }
            if rewriting.isEmpty { break }
        }
        if !rewriting.isEmpty { throw OptimizerDidNotConverge(rounds: roundLimit, passes: rewriting) }
        model.graph = graph
        report.nodeCountAfter = graph.nodes.count
        return (model, report)
    }
}
