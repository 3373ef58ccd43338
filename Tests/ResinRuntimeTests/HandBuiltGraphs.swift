import TestSupport
import ResinIR
@testable import ResinRuntime

/// Small graphs written node by node, for what the fixtures do not isolate: fused operators, in-place
/// accumulation and its memory plan.
enum HandBuiltGraphs {
    /// A node of the default domain, or of Resin's for its own operators.
    static func node(_ opType: String, _ op: Operator, _ inputs: [String], _ outputs: [String]) -> Node {
        let resin: Bool
        switch op {
        case .fusedConv, .fusedGemm, .channelAffine: resin = true
        default: resin = false
        }
        return Node(name: outputs.first.map { "node_\($0)" }, opType: opType, domain: resin ? resinDomain : nil,
                    inputs: inputs, outputs: outputs, op: op)
    }

    static func conv(_ inputs: [String], _ output: String, pads: Int = 1) -> Node {
        node("Conv", .conv(ConvAttributes(window: WindowAttributes(pads: Array(repeating: pads, count: 4)))), inputs, [output])
    }

    static func fusedConv(_ inputs: [String], _ output: String, activation: FusedActivation = .relu, pads: Int = 1) -> Node {
        let attributes = FusedConvAttributes(conv: ConvAttributes(window: WindowAttributes(pads: Array(repeating: pads, count: 4))),
                                             activation: activation)
        return node(FusedConvAttributes.opType, .fusedConv(attributes), inputs, [output])
    }

    static func relu(_ input: String, _ output: String) -> Node { node("Relu", .relu, [input], [output]) }

    static func model(nodes: [Node], inputs: [(String, [Int])], outputs: [String], initializers: [Tensor]) -> Model {
        let graph = Graph(
            nodes: nodes,
            inputs: inputs.map { ValueInfo(name: $0.0, type: .tensor(.float, $0.1.map { .fixed($0) })) },
            outputs: outputs.map { ValueInfo(name: $0, type: nil) },
            initializers: initializers)
        return Model(opsetImports: [OpsetImport(domain: "", version: 13)], graph: graph)
    }

    static func weights(_ name: String, _ shape: [Int], _ random: inout SplitMix64, scale: Float = 0.3) -> Tensor {
        .floats(random.floats(shape.reduce(1, *), in: -scale...scale), shape: shape, name: name)
    }

    /// A basic residual block: `r = Relu(Conv(x))`, `a = Relu(Conv(r))`, `y = Relu(Conv(a) + r)`, written
    /// as the optimizer leaves it (`fused`: the last two as FusedConv) or with Conv, Add and Relu.
    /// `extraOutputs` are added to the graph's outputs.
    static func residualBlock(channels: Int, size: Int, fused: Bool, extraOutputs: [String] = [], seed: Int = 3) -> Model {
        var random = SplitMix64(seed: seed)
        let initializers = [
            weights("w1", [channels, channels, 3, 3], &random), weights("b1", [channels], &random),
            weights("w2", [channels, channels, 3, 3], &random), weights("b2", [channels], &random),
            weights("w3", [channels, channels, 3, 3], &random), weights("b3", [channels], &random),
        ]
        var nodes = [conv(["x", "w1", "b1"], "c1"), relu("c1", "r")]
        if fused {
            nodes += [fusedConv(["r", "w2", "b2"], "a"), fusedConv(["a", "w3", "b3", "r"], "y")]
        } else {
            nodes += [conv(["r", "w2", "b2"], "c2"), relu("c2", "a"),
                      conv(["a", "w3", "b3"], "c3"), node("Add", .binary(.add), ["c3", "r"], ["s"]), relu("s", "y")]
        }
        return model(nodes: nodes, inputs: [("x", [1, channels, size, size])], outputs: ["y"] + extraOutputs, initializers: initializers)
    }

    /// A compiler run over `model`, as a session would make it.
    static func compiled(_ model: Model, inPlace: Bool = true, options: SessionOptions = SessionOptions()) throws -> GraphCompiler {
        var compiler = GraphCompiler(model: model)
        compiler.accumulatesInPlace = inPlace
        try compiler.compile(options: options)
        return compiler
    }
}
