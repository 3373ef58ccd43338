import Testing
@testable import ResinIR

@Suite struct GraphStructureTests {
    @Test func undefinedInputNamesTheNode() throws {
        let graph = Graph(nodes: [try node("Relu", ["missing"], ["y"], name: "act")], outputs: [output("y")])
        #expect(throws: GraphError.undefinedInput(node: "act", opType: "Relu", input: "missing")) { try graph.verify() }
    }

    @Test func twoProducersOfOneName() throws {
        let graph = Graph(
            nodes: [try node("Relu", ["x"], ["y"], name: "a"), try node("Relu", ["x"], ["y"], name: "b")],
            inputs: [input("x", [.fixed(1)])], outputs: [output("y")])
        #expect(throws: GraphError.duplicateProducer(name: "y", first: "node 'a' (Relu)", second: "node 'b' (Relu)")) {
            try graph.verify()
        }
    }

    @Test func cycleIsReported() throws {
        let graph = Graph(
            nodes: [try node("Add", ["x", "b"], ["a"], name: "first"), try node("Relu", ["a"], ["b"], name: "second")],
            inputs: [input("x", [.fixed(1)])], outputs: [output("b")])
        #expect { try graph.verify() } throws: { error in
            guard case GraphError.cycle(let nodes) = error else { return false }
            return Set(nodes) == ["first", "second"] && nodes.count == 2
        }
    }

    @Test func unsortedAcyclicGraphGetsATopologicalOrder() throws {
        let graph = Graph(
            nodes: [try node("Relu", ["a"], ["b"]), try node("Relu", ["x"], ["a"])],
            inputs: [input("x", [.fixed(1)])], outputs: [output("b")])
        #expect(try graph.topologicalOrder() == [1, 0])
    }

    @Test func undefinedGraphOutput() throws {
        let graph = Graph(nodes: [try node("Relu", ["x"], ["y"])], inputs: [input("x", [.fixed(1)])], outputs: [output("z")])
        #expect(throws: GraphError.undefinedOutput(name: "z")) { try graph.verify() }
    }

    @Test func wrongNumberOfInputs() throws {
        let graph = Graph(
            nodes: [try node("Conv", ["x"], ["y"], name: "c")], inputs: [input("x", [.fixed(1)])], outputs: [output("y")])
        #expect(throws: GraphError.arity(node: "c", opType: "Conv", reason: "takes 2 to 3 inputs, found 1")) {
            try graph.verify()
        }
    }

    @Test func initializerListedAsInputIsNotADuplicate() throws {
        // IR version 3 files list every initializer among the graph inputs.
        let graph = Graph(
            nodes: [try node("Add", ["x", "w"], ["y"])],
            inputs: [input("x", [.fixed(2)]), input("w", [.fixed(2)])], outputs: [output("y")],
            initializers: [weights("w", [2])])
        try graph.verify()
        #expect(graph.runtimeInputs.map(\.name) == ["x"])
    }

    @Test func unsupportedOperatorsAreAllListed() throws {
        let graph = Graph(
            nodes: [
                try node("Erf", ["x"], ["a"]), try node("Erf", ["a"], ["b"]),
                try node("HardSwish", ["b"], ["c"]),
            ],
            inputs: [input("x", [.fixed(1)])], outputs: [output("c")])
        let uses = graph.unsupportedOperators
        #expect(uses.map(\.opType) == ["Erf", "HardSwish"])
        #expect(uses[0].nodes == ["a", "b"])
        #expect(GraphError.unsupportedOperators(uses).description.contains("Erf (2 nodes"))
    }
}
