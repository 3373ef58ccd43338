import ResinIR
import Testing
import TestSupport
@testable import ResinRuntime

/// One node on constant inputs, as the optimizer's constant folding evaluates it.
@Suite struct NodeEvaluatorTests {
    typealias G = HandBuiltGraphs

    @Test func fusedConvolutionMatchesTheKernelReference() throws {
        var random = SplitMix64(seed: 12)
        let x = G.weights("x", [2, 4, 6, 5], &random, scale: 1), w = G.weights("w", [6, 2, 3, 3], &random, scale: 1)
        let b = G.weights("b", [6], &random, scale: 1), skip = G.weights("s", [2, 6, 3, 5], &random, scale: 1)
        let attributes = FusedConvAttributes(
            conv: ConvAttributes(window: WindowAttributes(strides: [2, 1], pads: [1, 1, 1, 1]), group: 2), activation: .clip(min: 0, max: 6))
        let node = G.node(FusedConvAttributes.opType, .fusedConv(attributes), ["x", "w", "b", "s"], ["y"])
        let outputs = try NodeEvaluator.evaluate(node, inputs: [x, w, b, skip], opset: 13)
        try #require(outputs.count == 1)
        #expect(outputs[0].name == "y" && outputs[0].dataType == .float && outputs[0].shape == [2, 6, 3, 5])
        let window = try attributes.conv.window.resolve(spatial: [6, 5], kernel: [3, 3])
        let geometry = ConvolutionGeometry(batch: 2, inputChannels: 4, outputChannels: 6, group: 2, inputSpatial: [6, 5], window: window)
        let expected = FusedConvolutionKernelTests.reference(
            x: x.floatValues!, w: w.floatValues!, bias: b.floatValues!, skip: skip.floatValues!, activation: attributes.activation, geometry: geometry)
        expectClose(try #require(outputs[0].floatValues), expected, rtol: 1e-5, atol: 1e-5)
    }

    @Test func fusedGemmAndChannelAffine() throws {
        let a = Tensor.floats([1, -2, 3, -4], shape: [2, 2], name: "a"), b = Tensor.floats([1, 0, 0, 1], shape: [2, 2], name: "b")
        let gemm = G.node(FusedGemmAttributes.opType, .fusedGemm(FusedGemmAttributes(gemm: GemmAttributes(), activation: .relu)), ["a", "b", ""], ["y"])
        #expect(try NodeEvaluator.evaluate(gemm, inputs: [a, b, nil], opset: 13).first?.floatValues == [1, 0, 3, 0])
        let x = Tensor.floats([1, 2, 3, 4, 5, 6], shape: [1, 2, 3], name: "x")
        let affine = G.node("ChannelAffine", .channelAffine(.none), ["x", "scale", "shift"], ["z"])
        let z = try NodeEvaluator.evaluate(affine, inputs: [x, .floats([2, -1], shape: [2]), .floats([0.5, 1], shape: [2])], opset: 13)
        #expect(z.first?.floatValues == [2.5, 4.5, 6.5, -3, -4, -5])
        #expect(z.first?.name == "z")
    }

    /// The shape arithmetic that exporters emit folds with the same kernels.
    @Test func shapeArithmetic() throws {
        let x = Tensor.floats(Array(repeating: 0, count: 24), shape: [2, 3, 4], name: "x")
        let shape = try NodeEvaluator.evaluate(G.node("Shape", .shape(ShapeAttributes()), ["x"], ["s"]), inputs: [x], opset: 13)
        #expect(shape.first?.dataType == .int64 && shape.first?.integerValues == [2, 3, 4])
        let sum = try NodeEvaluator.evaluate(G.node("Add", .binary(.add), ["s", "one"], ["t"]),
                                             inputs: [shape[0], .int64s([1], shape: [1])], opset: 13)
        #expect(sum.first?.integerValues == [3, 4, 5] && sum.first?.shape == [3])
        let reshaped = try NodeEvaluator.evaluate(G.node("Reshape", .reshape(ReshapeAttributes()), ["x", "target"], ["r"]),
                                                  inputs: [x, .int64s([0, -1], shape: [2])], opset: 13)
        #expect(reshaped.first?.shape == [2, 12])
    }

    @Test func inferenceDropoutPassesDataAndAnAllTrueMask() throws {
        let x = Tensor.floats([1, 2, 3], shape: [3], name: "x")
        let node = G.node("Dropout", .dropout(DropoutAttributes()), ["x"], ["y", "mask"])
        let outputs = try NodeEvaluator.evaluate(node, inputs: [x], opset: 13)
        try #require(outputs.count == 2)
        #expect(outputs[0].floatValues == [1, 2, 3])
        #expect(outputs[1].dataType == .bool && Array(outputs[1].storage.bytes) == [1, 1, 1])
        let training = Tensor(name: "t", dataType: .bool, shape: [], storage: TensorStorage(bytes: [1]))
        let trainingNode = G.node("Dropout", .dropout(DropoutAttributes()), ["x", "", "t"], ["y"])
        #expect(throws: RuntimeError.self) { try NodeEvaluator.evaluate(trainingNode, inputs: [x, nil, training], opset: 13) }
    }

    @Test func unresolvedOutputsAreRefused() throws {
        // Without its weight, a convolution's output channels are unknown.
        let x = Tensor.floats(Array(repeating: 0, count: 9), shape: [1, 1, 3, 3], name: "x")
        #expect(throws: RuntimeError.unresolvedShape(value: "y", node: "node_y", opType: "Conv")) {
            try NodeEvaluator.evaluate(G.conv(["x", ""], "y"), inputs: [x, nil], opset: 13)
        }
    }

    @Test func unsupportedTypesAndOperatorsAreRefused() throws {
        let x = Tensor.int64s(Array(repeating: 1, count: 9), shape: [1, 1, 3, 3], name: "x")
        let w = Tensor.int64s([1], shape: [1, 1, 1, 1], name: "w")
        let node = G.fusedConv(["x", "w"], "y", pads: 0)
        #expect(throws: RuntimeError.unsupportedType(node: "node_y", opType: FusedConvAttributes.opType, dataType: .int64)) {
            try NodeEvaluator.evaluate(node, inputs: [x, w], opset: 13)
        }
        let unknown = G.node("Erf", .unsupported(UnsupportedOperator(opType: "Erf", domain: "")), ["x"], ["y"])
        #expect {
            try NodeEvaluator.evaluate(unknown, inputs: [x], opset: 13)
        } throws: { error in
            guard case RuntimeError.unsupportedOperators(let uses) = error else { return false }
            return uses.first?.opType == "Erf"
        }
    }

    @Test func inputsWhoseBytesDoNotCoverTheirShapeAreRefused() throws {
        let short = Tensor(name: "x", dataType: .float, shape: [4], storage: TensorStorage(bytes: [0, 0, 0, 0]))
        #expect {
            try NodeEvaluator.evaluate(G.relu("x", "y"), inputs: [short], opset: 13)
        } throws: { error in
            guard case RuntimeError.inputMismatch(let name, _, let found) = error else { return false }
            return name == "x" && found == "4 bytes"
        }
    }

    /// The session folds through the same path: a fused node on constants becomes a constant.
    @Test func sessionsFoldConstantFusedNodes() throws {
        var random = SplitMix64(seed: 2)
        let model = G.model(
            nodes: [G.fusedConv(["c", "w", "", "s"], "k", pads: 0), G.node("Add", .binary(.add), ["x", "k"], ["y"])],
            inputs: [("x", [1, 2, 3, 3])], outputs: ["y"],
            initializers: [G.weights("c", [1, 2, 3, 3], &random), G.weights("w", [2, 2, 1, 1], &random), G.weights("s", [1, 2, 3, 3], &random)])
        let compiler = try G.compiled(model)
        #expect(compiler.pending.count == 1)
        #expect(compiler.values["k"]?.isConstant == true)
    }
}
