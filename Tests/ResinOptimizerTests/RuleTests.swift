import ResinIR
import ResinRuntime
import Testing
@testable import ResinOptimizer

@Suite struct FoldBatchNormalizationTests {
    /// Conv [1 filter, 1x1] of weight 2 then BN(gamma 3, beta 0.5, mean 1, var 3, eps 1): s = 3 / sqrt(4) = 1.5,
    /// W' = 2 * 1.5 = 3, b' = (0 - 1) * 1.5 + 0.5 = -1.
    func graph(biased: Bool = false, scaleIsInput: Bool = false, extraConsumer: Bool = false) throws -> Graph {
        var nodes = [
            try node("Conv", biased ? ["x", "w", "b"] : ["x", "w"], ["c"]),
            try node("BatchNormalization", ["c", scaleIsInput ? "gamma_in" : "gamma", "beta", "mean", "var"], ["y"],
                     attributes: [Attribute(name: "epsilon", value: .float(1))]),
        ]
        if extraConsumer { nodes.append(try node("Relu", ["c"], ["z"])) }
        var inputs = [input("x", [.fixed(1), .fixed(1), .fixed(2), .fixed(2)])]
        if scaleIsInput { inputs.append(input("gamma_in", [.fixed(1)])) }
        return Graph(
            nodes: nodes, inputs: inputs, outputs: [output("y")] + (extraConsumer ? [output("z")] : []),
            initializers: [floats("w", [2], [1, 1, 1, 1]), floats("b", [0.25], [1]), floats("gamma", [3], [1]), floats("beta", [0.5], [1]),
                           floats("mean", [1], [1]), floats("var", [3], [1])])
    }

    @Test func foldsIntoAConvWithoutBias() throws {
        let (folded, report) = try optimize(try graph(), with: [FoldBatchNormalization(), EliminateDeadNodes()])
        #expect(folded.opTypes == ["Conv"])
        #expect(report.batchNormFolded == 1)
        #expect(folded.nodes[0].outputs == ["y"], "the BN's output name stays")
        let constants = folded.initializersByName
        #expect(constants[folded.nodes[0].inputs[1]]?.floatValues == [3])
        #expect(constants[folded.nodes[0].inputs[2]]?.floatValues == [-1])
    }

    @Test func foldsIntoAConvWithBias() throws {
        // b' = (0.25 - 1) * 1.5 + 0.5 = -0.625.
        let (folded, _) = try optimize(try graph(biased: true), with: [FoldBatchNormalization(), EliminateDeadNodes()])
        #expect(folded.initializersByName[folded.nodes[0].inputs[2]]?.floatValues == [-0.625])
    }

    @Test func doesNotFoldANonConstantScale() throws {
        let (result, report) = try optimize(try graph(scaleIsInput: true), with: [FoldBatchNormalization()])
        #expect(result.opTypes == ["Conv", "BatchNormalization"])
        #expect(report.batchNormFolded == 0)
    }

    @Test func doesNotFoldWhenTheConvFeedsAnotherNode() throws {
        let (result, _) = try optimize(try graph(extraConsumer: true), with: [FoldBatchNormalization()])
        #expect(result.opTypes.contains("BatchNormalization"))
    }

    @Test func foldsIntoGemmWithTransposedWeights() throws {
        // Y = A B^T + C then BN per output feature; compare with the runtime on the unfolded graph.
        let features = 3, inner = 4
        let graph = Graph(
            nodes: [try node("Gemm", ["a", "w", "c"], ["g"], attributes: [Attribute(name: "transB", value: .int(1))]),
                    try node("BatchNormalization", ["g", "gamma", "beta", "mean", "var"], ["y"])],
            inputs: [input("a", [.fixed(2), .fixed(inner)])], outputs: [output("y")],
            initializers: [floats("w", seeded(features * inner, seed: 1), [features, inner]), floats("c", seeded(features, seed: 2), [features]),
                           floats("gamma", [0.5, 1.5, 2], [3]), floats("beta", [0.1, -0.2, 0.3], [3]),
                           floats("mean", [0.05, -0.1, 0.2], [3]), floats("var", [0.5, 1, 2], [3])])
        let (folded, report) = try optimize(graph, with: [FoldBatchNormalization(), EliminateDeadNodes()])
        #expect(report.batchNormFolded == 1)
        #expect(folded.opTypes == ["Gemm"])
        let feed = ["a": Tensor.floats(seeded(2 * inner, seed: 3), shape: [2, inner])]
        #expect(maxDifference(try run(graph, feeds: feed), try run(folded, feeds: feed)) < 1e-5)
    }

    @Test func aLoneBatchNormalizationBecomesAChannelAffine() throws {
        let graph = Graph(
            nodes: [try node("Relu", ["x"], ["r"]), try node("BatchNormalization", ["r", "gamma", "beta", "mean", "var"], ["y"])],
            inputs: [input("x", [.fixed(1), .fixed(2), .fixed(3), .fixed(3)])], outputs: [output("y")],
            initializers: [floats("gamma", [1, 2], [2]), floats("beta", [0, 1], [2]), floats("mean", [0.5, -0.5], [2]), floats("var", [1, 4], [2])])
        let (affine, _) = try optimize(graph, with: [FoldBatchNormalization(), BatchNormalizationToChannelAffine()])
        #expect(affine.opTypes == ["Relu", "ChannelAffine"])
        let feed = ["x": Tensor.floats(seeded(18, seed: 4), shape: [1, 2, 3, 3])]
        #expect(maxDifference(try run(graph, feeds: feed), try run(affine, feeds: feed)) < 1e-5)
    }

    /// Pre-activation blocks: BatchNormalization then Relu becomes one ChannelAffine pass that clamps, and
    /// exports back as Mul, Add and Relu.
    @Test func aReluAfterAChannelAffineFusesIntoItAndExportsBack() throws {
        let graph = Graph(
            nodes: [try node("Relu", ["x"], ["r"]), try node("BatchNormalization", ["r", "gamma", "beta", "mean", "var"], ["b"]),
                    try node("Relu", ["b"], ["y"])],
            inputs: [input("x", [.fixed(1), .fixed(2), .fixed(3), .fixed(3)])], outputs: [output("y")],
            initializers: [floats("gamma", [1, 2], [2]), floats("beta", [-1, 1], [2]), floats("mean", [0.5, -0.5], [2]), floats("var", [1, 4], [2])])
        let (fused, report) = try optimize(graph, with: [FoldBatchNormalization(), BatchNormalizationToChannelAffine(), FuseActivation()])
        #expect(fused.opTypes == ["Relu", "ChannelAffine"])
        #expect(fused.nodes[1].op == .channelAffine(.relu) && fused.nodes[1].outputs == ["y"])
        #expect(report.activationFused == 1)
        let feed = ["x": Tensor.floats(seeded(18, seed: 4), shape: [1, 2, 3, 3])]
        let expected = try run(graph, feeds: feed)
        // Channel 0's shift of about -1.5 sends some of its values below zero, so the Relu changes them.
        #expect(expected.contains(0))
        #expect(maxDifference(expected, try run(fused, feeds: feed)) < 1e-5)
        let lowered = try StandardONNX.lower(Model(irVersion: 8, opsetImports: [OpsetImport(domain: "", version: 13)], graph: fused)).graph
        #expect(lowered.opTypes == ["Relu", "Mul", "Add", "Relu"])
        #expect(lowered.nodes.last?.outputs == ["y"])
        #expect(maxDifference(expected, try run(lowered, feeds: feed)) < 1e-5)
    }
}

@Suite struct FusionTests {
    func residual(swapped: Bool = false, convFeedsTwo: Bool = false, relu: Bool = true, biased: Bool = true) throws -> Graph {
        var nodes = [
            try node("Relu", ["x"], ["skip"]),
            try node("Conv", biased ? ["skip", "w", "b"] : ["skip", "w"], ["c"], attributes: [ints("pads", [1, 1, 1, 1])]),
            try node("Add", swapped ? ["skip", "c"] : ["c", "skip"], ["sum"]),
        ]
        if relu { nodes.append(try node("Relu", ["sum"], ["y"])) }
        if convFeedsTwo { nodes.append(try node("Relu", ["c"], ["other"])) }
        return Graph(
            nodes: nodes, inputs: [input("x", [.symbolic("N"), .fixed(2), .fixed(4), .fixed(4)])],
            outputs: [output(relu ? "y" : "sum")] + (convFeedsTwo ? [output("other")] : []),
            initializers: [floats("w", seeded(2 * 2 * 9, seed: 5), [2, 2, 3, 3]), floats("b", [0.1, -0.1], [2])])
    }

    @Test(arguments: [false, true])
    func fusesTheResidualAddAndReluInEitherOperandOrder(swapped: Bool) throws {
        let graph = try residual(swapped: swapped)
        let (fused, report) = try optimize(graph, with: [FuseResidualAdd(), FuseActivation()])
        #expect(fused.opTypes == ["Relu", "FusedConv"])
        #expect(report.residualAddFused == 1 && report.activationFused == 1)
        #expect(fused.nodes[1].inputs == ["skip", "w", "b", "skip"])
        #expect(fused.nodes[1].outputs == ["y"])
        let feed = ["x": Tensor.floats(seeded(2 * 2 * 16, seed: 6), shape: [2, 2, 4, 4])]
        #expect(maxDifference(try run(graph, feeds: feed), try run(fused, feeds: feed)) < 1e-5)
    }

    @Test func fusesAConvWithoutBiasAndKeepsTheGraphOutputName() throws {
        let (fused, _) = try optimize(try residual(relu: false, biased: false), with: [FuseResidualAdd()])
        #expect(fused.opTypes == ["Relu", "FusedConv"])
        #expect(fused.nodes[1].inputs == ["skip", "w", "", "skip"])
        #expect(fused.nodes[1].outputs == ["sum"], "a graph output keeps its name")
    }

    @Test func doesNotFuseAConvWhoseOutputIsReadTwice() throws {
        let (result, report) = try optimize(try residual(convFeedsTwo: true), with: [FuseResidualAdd()])
        #expect(report.residualAddFused == 0)
        #expect(result.opTypes.contains("Add"))
    }

    @Test func fusesClipAsRelu6IntoGemm() throws {
        let graph = Graph(
            nodes: [try node("Gemm", ["a", "w"], ["g"]), try node("Clip", ["g", "low", "high"], ["y"])],
            inputs: [input("a", [.fixed(1), .fixed(3)])], outputs: [output("y")],
            initializers: [floats("w", seeded(6, seed: 7), [3, 2]), floats("low", [0], []), floats("high", [6], [])])
        let (fused, report) = try optimize(graph, with: [FuseActivation()])
        #expect(fused.opTypes == ["FusedGemm"])
        #expect(report.activationFused == 1)
        #expect(fused.nodes[0].op == .fusedGemm(FusedGemmAttributes(gemm: GemmAttributes(), activation: .clip(min: 0, max: 6))))
    }

    @Test func doesNotFuseAReluWhoseInputIsReadTwice() throws {
        let graph = Graph(
            nodes: [try node("Conv", ["x", "w"], ["c"]), try node("Relu", ["c"], ["y"]), try node("Sigmoid", ["c"], ["z"])],
            inputs: [input("x", [.fixed(1), .fixed(1), .fixed(2), .fixed(2)])], outputs: [output("y"), output("z")],
            initializers: [floats("w", [1], [1, 1, 1, 1])])
        let (result, _) = try optimize(graph, with: [FuseActivation()])
        #expect(result.opTypes == ["Conv", "Relu", "Sigmoid"])
    }
}

@Suite struct CanonicalizationTests {
    @Test func shapeChainFoldsAwayWithAFixedBatch() throws {
        let graph = try shapeChain(batch: .fixed(2))
        let (folded, report) = try optimize(graph, with: Optimizer.standard.passes)
        #expect(folded.opTypes == ["Reshape"] || folded.opTypes == ["Flatten"])
        #expect(report.constantsFolded >= 4)
    }

    @Test func shapeChainResolvesWithASymbolicBatch() throws {
        let (resolved, _) = try optimize(try shapeChain(batch: .symbolic("N")), with: Optimizer.standard.passes)
        #expect(!resolved.opTypes.contains("Shape") && !resolved.opTypes.contains("Concat"))
        let feed = ["x": Tensor.floats(seeded(3 * 8, seed: 8), shape: [3, 8, 1, 1])]
        #expect(try run(resolved, feeds: feed) == feed["x"]!.floatValues!)
    }

    /// x [batch, 8, 1, 1] -> Shape -> Gather(0) -> Unsqueeze -> Concat([-1]) -> Reshape, as old exporters flatten.
    func shapeChain(batch: Dimension) throws -> Graph {
        Graph(
            nodes: [
                try node("Shape", ["x"], ["s"]), try node("Gather", ["s", "zero"], ["n"]),
                try node("Unsqueeze", ["n"], ["n1"], attributes: [ints("axes", [0])], opset: 11),
                try node("Concat", ["n1", "minus1"], ["target"], attributes: [Attribute(name: "axis", value: .int(0))]),
                try node("Reshape", ["x", "target"], ["y"]),
            ],
            inputs: [input("x", [batch, .fixed(8), .fixed(1), .fixed(1)])], outputs: [output("y")],
            initializers: [.int64s([0], shape: [], name: "zero"), int64s("minus1", [-1])])
    }

    @Test func identityGoesAndAGraphOutputKeepsItsName() throws {
        let graph = Graph(
            nodes: [try node("Relu", ["x"], ["r"]), try node("Identity", ["r"], ["i"]), try node("Dropout", ["i"], ["y"])],
            inputs: [input("x", [.fixed(4)])], outputs: [output("y")])
        let (clean, report) = try optimize(graph, with: [EliminateIdentity()])
        #expect(clean.opTypes == ["Relu"])
        #expect(clean.nodes[0].outputs == ["y"])
        #expect(report.count("eliminate-identity") == 2)
    }

    @Test func valuesASubgraphReadsKeepTheirProducersAndNames() throws {
        // An If branch reads "i" from the enclosing graph: the Identity making it must stay, or the branch
        // would refer to nothing.
        let branch = Graph(nodes: [try node("Relu", ["i"], ["b"])], outputs: [output("b")])
        let ifNode = Node(name: "if", opType: "If", inputs: ["cond"], outputs: ["y"],
                          attributes: [Attribute(name: "then_branch", value: .graph(branch)),
                                       Attribute(name: "else_branch", value: .graph(branch))],
                          op: .unsupported(UnsupportedOperator(opType: "If", domain: "")))
        let graph = Graph(
            nodes: [try node("Identity", ["x"], ["i"]), ifNode],
            inputs: [input("x", [.fixed(2)]), ValueInfo(name: "cond", type: .tensor(.bool, []))], outputs: [output("y")])
        let (result, _) = try optimize(graph, with: [EliminateIdentity(), EliminateDeadNodes()])
        #expect(result.opTypes == ["Identity", "If"])
    }

    @Test func matMulPlusVectorBecomesGemm() throws {
        let graph = Graph(
            nodes: [try node("MatMul", ["a", "w"], ["m"]), try node("Add", ["m", "b"], ["y"])],
            inputs: [input("a", [.fixed(2), .fixed(3)])], outputs: [output("y")],
            initializers: [floats("w", seeded(12, seed: 9), [3, 4]), floats("b", seeded(4, seed: 10), [4])])
        let (gemm, _) = try optimize(graph, with: [MatMulAddToGemm()])
        #expect(gemm.opTypes == ["Gemm"])
        let feed = ["a": Tensor.floats(seeded(6, seed: 11), shape: [2, 3])]
        #expect(maxDifference(try run(graph, feeds: feed), try run(gemm, feeds: feed)) < 1e-6)
    }

    @Test func aGemmTakesItsConstantWeightsTransposed() throws {
        let graph = Graph(
            nodes: [try node("MatMul", ["a", "w"], ["m"]), try node("Add", ["m", "b"], ["y"]), try node("MatMul", ["a", "w"], ["z"])],
            inputs: [input("a", [.fixed(2), .fixed(3)])], outputs: [output("y"), output("z")],
            initializers: [floats("w", seeded(12, seed: 9), [3, 4]), floats("b", seeded(4, seed: 10), [4])])
        let (gemm, report) = try optimize(graph, with: [MatMulAddToGemm(), TransposeGemmWeights(), EliminateDeadNodes()])
        #expect(report.count("transpose-gemm-weights") == 1)
        #expect(gemm.opTypes == ["Gemm", "MatMul"])
        #expect(gemm.nodes[0].op == .gemm(GemmAttributes(transB: true)))
        #expect(gemm.nodes[0].attributes.first { $0.name == "transB" }?.value == .int(1))
        let transposed = try #require(gemm.initializers.first { $0.name == gemm.nodes[0].inputs[1] })
        #expect(transposed.shape == [4, 3])
        // W is [3, 4]: row 1 column 2 is element 6, and it sits at row 2 column 1 of the transpose.
        #expect(transposed.floatValues?[2 * 3 + 1] == seeded(12, seed: 9)[1 * 4 + 2])
        // The other MatMul still reads W as it was.
        #expect(gemm.nodes[1].inputs == ["a", "w"] && gemm.initializers.contains { $0.name == "w" && $0.shape == [3, 4] })
        let feed = ["a": Tensor.floats(seeded(6, seed: 11), shape: [2, 3])]
        #expect(maxDifference(try run(graph, feeds: feed), try run(gemm, feeds: feed)) < 1e-6)
    }

    /// TensorFlow's head: the map back to NHWC, then the mean over H and W.
    @Test(arguments: [13, 18])
    func reduceMeanReadsPastATransposeThatOnlyMovesTheReducedAxes(opset: Int) throws {
        func graph(perm: [Int], axes: [Int], keepdims: Int = 0) throws -> Graph {
            let reduce = opset >= 18
                ? try node("ReduceMean", ["t", "axes"], ["y"], attributes: [Attribute(name: "keepdims", value: .int(Int64(keepdims)))], opset: opset)
                : try node("ReduceMean", ["t"], ["y"], attributes: [ints("axes", axes), Attribute(name: "keepdims", value: .int(Int64(keepdims)))], opset: opset)
            return Graph(nodes: [try node("Transpose", ["x"], ["t"], attributes: [ints("perm", perm)], opset: opset), reduce],
                         inputs: [input("x", [.fixed(2), .fixed(3), .fixed(4), .fixed(5)])], outputs: [output("y")],
                         initializers: opset >= 18 ? [int64s("axes", axes.map { Int64($0) })] : [])
        }
        let nhwc = try graph(perm: [0, 2, 3, 1], axes: [1, 2])
        let (direct, report) = try optimize(nhwc, with: [ReduceMeanThroughTranspose(), EliminateDeadNodes()], opset: opset)
        #expect(report.count("reducemean-through-transpose") == 1)
        #expect(direct.opTypes == ["ReduceMean"] && direct.nodes[0].inputs[0] == "x")
        let feed = ["x": Tensor.floats(seeded(120, seed: 13), shape: [2, 3, 4, 5])]
        let expected = try run(nhwc, feeds: feed, opset: opset)
        #expect(expected.count == 6)
        #expect(maxDifference(expected, try run(direct, feeds: feed, opset: opset)) < 1e-6)
        // Kept axes that the Transpose reorders, or kept reduced axes, keep the Transpose.
        for kept in [try graph(perm: [0, 2, 3, 1], axes: [1]), try graph(perm: [0, 2, 3, 1], axes: [1, 2], keepdims: 1)] {
            #expect(try optimize(kept, with: [ReduceMeanThroughTranspose()], opset: opset).0.opTypes == ["Transpose", "ReduceMean"])
        }
    }

    @Test func matMulPlusAMatrixIsNotGemm() throws {
        let graph = Graph(
            nodes: [try node("MatMul", ["a", "w"], ["m"]), try node("Add", ["m", "b"], ["y"])],
            inputs: [input("a", [.fixed(2), .fixed(3)])], outputs: [output("y")],
            initializers: [floats("w", seeded(12, seed: 9), [3, 4]), floats("b", seeded(8, seed: 10), [2, 4])])
        let (result, _) = try optimize(graph, with: [MatMulAddToGemm()])
        #expect(result.opTypes == ["MatMul", "Add"])
    }

    @Test func reduceMeanOverSpaceIsGlobalAveragePoolOnlyWithKeepdims() throws {
        let spatial = Graph(nodes: [try node("ReduceMean", ["x"], ["y"], attributes: [ints("axes", [2, 3])])],
                            inputs: [input("x", [.fixed(1), .fixed(2), .fixed(3), .fixed(3)])], outputs: [output("y")])
        #expect(try optimize(spatial, with: [ReduceMeanToGlobalAveragePool()]).0.opTypes == ["GlobalAveragePool"])
        let channels = Graph(nodes: [try node("ReduceMean", ["x"], ["y"], attributes: [ints("axes", [1, 2])])],
                             inputs: [input("x", [.fixed(1), .fixed(2), .fixed(3), .fixed(3)])], outputs: [output("y")])
        #expect(try optimize(channels, with: [ReduceMeanToGlobalAveragePool()]).0.opTypes == ["ReduceMean"])
        let dropped = Graph(nodes: [try node("ReduceMean", ["x"], ["y"], attributes: [ints("axes", [2, 3]), Attribute(name: "keepdims", value: .int(0))])],
                            inputs: [input("x", [.fixed(1), .fixed(2), .fixed(3), .fixed(3)])], outputs: [output("y")])
        #expect(try optimize(dropped, with: [ReduceMeanToGlobalAveragePool()]).0.opTypes == ["ReduceMean"])
    }

    @Test func twoInputSumIsAddButThreeIsNot() throws {
        let two = Graph(nodes: [try node("Sum", ["a", "b"], ["y"])], inputs: [input("a", [.fixed(2)]), input("b", [.fixed(2)])], outputs: [output("y")])
        #expect(try optimize(two, with: [SumToAdd()]).0.opTypes == ["Add"])
        let three = Graph(nodes: [try node("Sum", ["a", "b", "a"], ["y"])], inputs: [input("a", [.fixed(2)]), input("b", [.fixed(2)])], outputs: [output("y")])
        #expect(try optimize(three, with: [SumToAdd()]).0.opTypes == ["Sum"])
    }

    @Test func reshapeAfterGlobalPoolingThatFlattensIsFlatten() throws {
        let graph = Graph(
            nodes: [try node("GlobalAveragePool", ["x"], ["p"]), try node("Reshape", ["p", "shape"], ["y"])],
            inputs: [input("x", [.fixed(2), .fixed(3), .fixed(4), .fixed(4)])], outputs: [output("y")],
            initializers: [int64s("shape", [2, 3])])
        #expect(try optimize(graph, with: [ReshapeToFlatten()]).0.opTypes == ["GlobalAveragePool", "Flatten"])
        let other = Graph(
            nodes: [try node("GlobalAveragePool", ["x"], ["p"]), try node("Reshape", ["p", "shape"], ["y"])],
            inputs: [input("x", [.fixed(2), .fixed(3), .fixed(4), .fixed(4)])], outputs: [output("y")],
            initializers: [int64s("shape", [3, 2])])
        #expect(try optimize(other, with: [ReshapeToFlatten()]).0.opTypes == ["GlobalAveragePool", "Reshape"])
    }

    @Test func deadNodesAndInitializersGoButOutputsStay() throws {
        let graph = Graph(
            nodes: [try node("Relu", ["x"], ["y"]), try node("Relu", ["x"], ["unused"]), try node("Add", ["x", "c"], ["z"])],
            inputs: [input("x", [.fixed(2)])], outputs: [output("y"), output("z")],
            initializers: [floats("c", [1, 2], [2]), floats("orphan", [3], [1])])
        let (clean, _) = try optimize(graph, with: [EliminateDeadNodes()])
        #expect(clean.opTypes == ["Relu", "Add"])
        #expect(clean.initializers.compactMap(\.name) == ["c"])
    }

    @Test func aFailingPassIsNamed() throws {
        struct Breaker: Pass {
            let name = "break-everything"
            func run(on graph: inout Graph, context: OptimizationContext) throws -> Int {
                graph.nodes[0].inputs = ["nothing"]
                return 1
            }
        }
        let graph = Graph(nodes: [try node("Relu", ["x"], ["y"])], inputs: [input("x", [.fixed(2)])], outputs: [output("y")])
        #expect {
            try optimize(graph, with: [Breaker()])
        } throws: { error in
            (error as? OptimizerError)?.pass == "break-everything" && "\(error)".contains("'nothing'")
        }
    }
}

@Suite struct LoweringTests {
    @Test func fusedConvLowersToStandardOperatorsWithTheSameOutputs() throws {
        let graph = try FusionTests().residual()
        let (fused, _) = try optimize(graph, with: [FuseResidualAdd(), FuseActivation()])
        let lowered = try StandardONNX.lower(Model(irVersion: 8, opsetImports: [OpsetImport(domain: "", version: 13)], graph: fused)).graph
        #expect(lowered.opTypes == ["Relu", "Conv", "Add", "Relu"])
        #expect(lowered.nodes.allSatisfy { ($0.domain ?? "").isEmpty })
        #expect(lowered.nodes.last?.outputs == ["y"])
        let feed = ["x": Tensor.floats(seeded(2 * 2 * 16, seed: 12), shape: [2, 2, 4, 4])]
        #expect(maxDifference(try run(graph, feeds: feed), try run(lowered, feeds: feed)) < 1e-5)
    }
}
