import ResinIR
import Testing
@testable import ResinOptimizer

/// The optimizer runs its rules to a fixpoint; rules that never settle are an error naming them, not a
/// silent stop at the round limit.
@Suite struct ConvergenceTests {
    /// Rewrites every node of one operator type into another (Relu and LeakyRelu with alpha 0 agree).
    struct Swap: Pass {
        let name: String
        let from: String, to: String
        func run(on graph: inout Graph, context: OptimizationContext) throws -> Int {
            var count = 0
            for index in graph.nodes.indices where graph.nodes[index].opType == from {
                let old = graph.nodes[index]
                let attributes = to == "LeakyRelu" ? [Attribute(name: "alpha", value: .float(0))] : []
                graph.nodes[index] = try node(to, old.inputs, old.outputs, attributes: attributes)
                count += 1
            }
            return count
        }
    }

    static func graph() throws -> Graph {
        Graph(nodes: [try node("Relu", ["x"], ["y"])], inputs: [input("x", [.fixed(4)])], outputs: [output("y")])
    }

    @Test func rulesThatUndoEachOtherAreAnErrorNamingThem() throws {
        let passes: [any Pass] = [Swap(name: "relu-to-leaky", from: "Relu", to: "LeakyRelu"),
                                  Swap(name: "leaky-to-relu", from: "LeakyRelu", to: "Relu")]
        #expect {
            try optimize(try Self.graph(), with: passes)
        } throws: { error in
            guard let error = error as? OptimizerDidNotConverge else { return false }
            return error.passes == ["relu-to-leaky", "leaky-to-relu"] && error.rounds == 16
                && "\(error)".contains("'relu-to-leaky', 'leaky-to-relu' still rewriting")
        }
    }

    /// One rewrite then nothing: round 2 sees no change and the optimizer returns.
    @Test func aRuleThatSettlesConverges() throws {
        let (graph, report) = try optimize(try Self.graph(), with: [Swap(name: "relu-to-leaky", from: "Relu", to: "LeakyRelu")])
        #expect(graph.opTypes == ["LeakyRelu"])
        #expect(report.count("relu-to-leaky") == 1)
    }
}

/// The rule tests' comparison helper must not pass outputs that cannot be compared.
@Suite struct MaxDifferenceTests {
    @Test func outputsOfDifferentLengthsAreInfinitelyApart() {
        withKnownIssue("the helper records the length mismatch") {
            #expect(maxDifference([1, 2, 3], [1, 2]) == .infinity)
        }
    }

    @Test func aNaNOnOneSideIsInfinitelyApartButNaNMatchesNaN() {
        #expect(maxDifference([1, .nan], [1, 2]) == .infinity)
        #expect(maxDifference([1, .nan], [1.5, .nan]) == 0.5)
    }
}
