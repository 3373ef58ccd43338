import Testing
@testable import ResinIR

@Suite struct ShapeInferenceTests {
    @Test func convAndPoolingFollowTheResNetStem() throws {
        let graph = Graph(
            nodes: [
                try node("Conv", ["x", "w"], ["c"], attributes: [ints("strides", [2, 2]), ints("pads", [3, 3, 3, 3])]),
                try node("MaxPool", ["c"], ["p"], attributes: [ints("kernel_shape", [3, 3]), ints("strides", [2, 2]), ints("pads", [1, 1, 1, 1])]),
            ],
            inputs: [input("x", [.symbolic("N"), .fixed(3), .fixed(224), .fixed(224)])],
            outputs: [output("p")],
            initializers: [weights("w", [64, 3, 7, 7])])
        let facts = try graph.inferFacts()
        #expect(facts["c"]?.dimensions == [.symbolic("N"), .fixed(64), .fixed(112), .fixed(112)])
        #expect(facts["p"]?.dimensions == [.symbolic("N"), .fixed(64), .fixed(56), .fixed(56)])
        let bound = try graph.inferFacts(bindings: ["N": 4])
        #expect(bound["p"]?.dimensions == [.fixed(4), .fixed(64), .fixed(56), .fixed(56)])
    }

    @Test func groupedConvChecksChannels() throws {
        let graph = Graph(
            nodes: [try node("Conv", ["x", "w"], ["y"], name: "grouped", attributes: [int("group", 4)])],
            inputs: [input("x", [.fixed(1), .fixed(16), .fixed(8), .fixed(8)])],
            outputs: [output("y")],
            initializers: [weights("w", [32, 8, 3, 3])])
        #expect {
            try graph.inferFacts()
        } throws: { error in
            guard case GraphError.shapeMismatch(let node, let opType, let reason) = error else { return false }
            return node == "grouped" && opType == "Conv" && reason.contains("16 channels") && reason.contains("[32, 8, 3, 3]")
        }
    }

    @Test func shapeChainFlattenKeepsTheSymbolicBatch() throws {
        // Shape -> Gather(0) -> Unsqueeze -> Concat([-1]) -> Reshape, as old PyTorch exporters write a flatten.
        let graph = Graph(
            nodes: [
                try node("Shape", ["x"], ["s"]),
                try node("Gather", ["s", "zero"], ["n"]),
                try node("Unsqueeze", ["n"], ["n1"], attributes: [ints("axes", [0])], opset: 11),
                try node("Concat", ["n1", "minus1"], ["target"], attributes: [int("axis", 0)]),
                try node("Reshape", ["x", "target"], ["y"]),
            ],
            inputs: [input("x", [.symbolic("N"), .fixed(512), .fixed(1), .fixed(1)])],
            outputs: [output("y")],
            initializers: [.int64s([0], shape: [], name: "zero"), int64s("minus1", [-1])])
        let facts = try graph.inferFacts()
        #expect(facts["target"]?.elements == [.symbolic("N"), .fixed(-1)])
        #expect(facts["y"]?.dimensions == [.symbolic("N"), .fixed(512)])
    }

    @Test func reshapeCopiesZerosAndInfersMinusOne() throws {
        let graph = Graph(
            nodes: [try node("Reshape", ["x", "shape"], ["y"])],
            inputs: [input("x", [.fixed(2), .fixed(3), .fixed(4)])],
            outputs: [output("y")],
            initializers: [int64s("shape", [0, -1])])
        #expect(try graph.inferFacts()["y"]?.dimensions == [.fixed(2), .fixed(12)])
    }

    @Test func reshapeToTheWrongSizeNamesBothShapes() throws {
        let graph = Graph(
            nodes: [try node("Reshape", ["x", "shape"], ["y"], name: "bad")],
            inputs: [input("x", [.fixed(2), .fixed(3), .fixed(4)])],
            outputs: [output("y")],
            initializers: [int64s("shape", [5, 5])])
        #expect {
            try graph.inferFacts()
        } throws: { error in
            "\(error)".contains("'bad' (Reshape)") && "\(error)".contains("[2, 3, 4]") && "\(error)".contains("[5, 5]")
        }
    }

    @Test func gemmTransposesAndBroadcastsTheBias() throws {
        let graph = Graph(
            nodes: [try node("Gemm", ["a", "b", "c"], ["y"], attributes: [int("transB", 1)])],
            inputs: [input("a", [.symbolic("N"), .fixed(2048)])],
            outputs: [output("y")],
            initializers: [weights("b", [1000, 2048]), weights("c", [1000])])
        #expect(try graph.inferFacts()["y"]?.dimensions == [.symbolic("N"), .fixed(1000)])
    }

    @Test func matMulBroadcastsBatchDimensions() throws {
        let graph = Graph(
            nodes: [try node("MatMul", ["a", "b"], ["y"])],
            inputs: [input("a", [.fixed(5), .fixed(1), .fixed(3), .fixed(4)])],
            outputs: [output("y")],
            initializers: [weights("b", [2, 4, 6])])
        #expect(try graph.inferFacts()["y"]?.dimensions == [.fixed(5), .fixed(2), .fixed(3), .fixed(6)])
    }

    @Test func broadcastingRejectsIncompatibleShapes() throws {
        #expect(throws: ShapeProblem.self) { try broadcast([.fixed(3), .fixed(4)], [.fixed(5)]) }
        #expect(try broadcast([.symbolic("N"), .fixed(1)], [.fixed(7)]) == [.symbolic("N"), .fixed(7)])
    }

    @Test func reduceMeanOverSpatialAxes() throws {
        let graph = Graph(
            nodes: [
                try node("ReduceMean", ["x"], ["k"], attributes: [ints("axes", [2, 3])]),
                try node("ReduceMean", ["x", "axes"], ["d"], attributes: [int("keepdims", 0)], opset: 18),
            ],
            inputs: [input("x", [.fixed(1), .fixed(8), .fixed(7), .fixed(7)])],
            outputs: [output("k"), output("d")],
            initializers: [int64s("axes", [-2, -1])])
        let facts = try graph.inferFacts()
        #expect(facts["k"]?.dimensions == [.fixed(1), .fixed(8), .fixed(1), .fixed(1)])
        #expect(facts["d"]?.dimensions == [.fixed(1), .fixed(8)])
    }

    @Test func padAddsBordersFromItsInput() throws {
        let graph = Graph(
            nodes: [try node("Pad", ["x", "pads"], ["y"])],
            inputs: [input("x", [.fixed(1), .fixed(3), .fixed(8), .fixed(8)])],
            outputs: [output("y")],
            initializers: [int64s("pads", [0, 0, 1, 2, 0, 0, 3, 4])])
        #expect(try graph.inferFacts()["y"]?.dimensions == [.fixed(1), .fixed(3), .fixed(12), .fixed(14)])
    }
}
