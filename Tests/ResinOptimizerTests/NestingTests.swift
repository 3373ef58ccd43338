import ResinIR
import ResinONNX
import Testing
@testable import ResinOptimizer

/// If nodes nested inside If branches, as deep as the importer accepts and one level past it.
@Suite struct SubgraphNestingTests {
    /// An If whose then-branch holds an If, `depth` times; the innermost branch reads `i` from the top graph.
    /// Else-branches stay flat, so the model grows linearly with the depth.
    static func nested(depth: Int) throws -> Graph {
        var branch = Graph(nodes: [try node("Relu", ["i"], ["b0"])], outputs: [output("b0")])
        for level in 1..<max(depth, 1) {
            let flat = Graph(nodes: [try node("Relu", ["x"], ["e\(level)"])], outputs: [output("e\(level)")])
            let inner = Node(name: "if\(level)", opType: "If", inputs: ["cond"], outputs: ["b\(level)"],
                             attributes: [Attribute(name: "then_branch", value: .graph(branch)),
                                          Attribute(name: "else_branch", value: .graph(flat))],
                             op: .unsupported(UnsupportedOperator(opType: "If", domain: "")))
            branch = Graph(nodes: [inner], outputs: [output("b\(level)")])
        }
        let flat = Graph(nodes: [try node("Relu", ["x"], ["e"])], outputs: [output("e")])
        let top = Node(name: "if\(depth)", opType: "If", inputs: ["cond"], outputs: ["y"],
                       attributes: [Attribute(name: "then_branch", value: .graph(branch)),
                                    Attribute(name: "else_branch", value: .graph(flat))],
                       op: .unsupported(UnsupportedOperator(opType: "If", domain: "")))
        return Graph(nodes: [try node("Identity", ["x"], ["i"]), top],
                     inputs: [input("x", [.fixed(2)]), ValueInfo(name: "cond", type: .tensor(.bool, []))], outputs: [output("y")])
    }

    static func model(_ graph: Graph) -> Model {
        Model(irVersion: 8, opsetImports: [OpsetImport(domain: "", version: 13)], graph: graph)
    }

    static func importBytes(_ bytes: [UInt8]) throws -> Model {
        try bytes.withUnsafeBytes { buffer in
            try ONNXImporter.importModel(bytes: buffer, file: "nested.onnx", folder: nil)
        }
    }

    @Test func theOuterReadOfTheDeepestBranchIsSeenAtTheTop() throws {
        let graph = try Self.nested(depth: 200)
        #expect(GraphIndex.outerReads(of: graph.nodes[1]) == ["i", "cond", "x"])
        // The Identity making `i` stays: removing it would leave the innermost branch reading nothing.
        let (optimized, _) = try optimize(graph, with: Optimizer.standard.passes)
        #expect(optimized.opTypes == ["Identity", "If"])
    }

    @Test func theDeepestImportableNestingRoundTripsAndOnePastItIsAClearError() throws {
        // Each If level nests three messages (graph, node, attribute); the importer stops past 100.
        var deepest = 0
        var refusal: (any Error)?
        for depth in 1...40 {
            let bytes = ONNXExporter.encode(Self.model(try Self.nested(depth: depth)))
            let imported: Model
            do {
                imported = try Self.importBytes(bytes)
            } catch {
                #expect(error is ImportError)
                refusal = error
                break
            }
            try imported.graph.verify()
            #expect(ONNXExporter.encode(imported) == bytes, "depth \(depth) exports back to the same bytes")
            deepest = depth
        }
        #expect(deepest >= 30, "ONNX files nest If bodies a few levels; thirty must import")
        let message = try #require(refusal.map { "\($0)" }, "some depth below 40 must pass the limit")
        #expect(message.contains("nested.onnx") && message.contains("nest deeper than 100"), "\(message)")
        // What imports also optimizes: the optimizer's subgraph walk handles the deepest accepted nesting.
        let imported = try Self.importBytes(ONNXExporter.encode(Self.model(try Self.nested(depth: deepest))))
        let (optimized, _) = try optimize(imported.graph, with: Optimizer.standard.passes)
        #expect(optimized.opTypes == ["Identity", "If"])
    }
}
