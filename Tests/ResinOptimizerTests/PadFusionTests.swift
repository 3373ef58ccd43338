import ResinIR
import Testing
@testable import ResinOptimizer

/// `fuse-pad`: an explicit constant Pad before a window becomes the window's pads only where the two compute
/// the same values. Each fused graph is run against the unfused one (the runtime's Pad and unpadded window).
@Suite struct PadFusionTests {
    static let shape = [1, 2, 6, 7]

    /// x -> [Relu] -> Pad(pads, value) -> window, with the window's attributes; opset 13 takes pads and value
    /// as inputs, opset 10 as attributes.
    func graph(
        _ window: String, attributes: [Attribute] = [], pads: [Int] = [0, 0, 1, 2, 0, 0, 2, 1], value: Float = 0,
        relu: Bool = false, opset: Int = 13, padReadTwice: Bool = false
    ) throws -> Graph {
        var nodes: [Node] = []
        var source = "x"
        if relu {
            nodes.append(try node("Relu", ["x"], ["r"]))
            source = "r"
        }
        var initializers = [floats("w", seeded(3 * 2 * 9, seed: 21), [3, 2, 3, 3])]
        if opset >= 11 {
            initializers += [int64s("pads", pads.map { Int64($0) }), floats("value", [value], [])]
            nodes.append(try node("Pad", [source, "pads", "value"], ["p"], opset: opset))
        } else {
            nodes.append(try node("Pad", [source], ["p"], attributes: [ints("pads", pads), Attribute(name: "value", value: .float(value))], opset: opset))
        }
        let kernel = ints("kernel_shape", [3, 3])
        switch window {
        case "Conv": nodes.append(try node("Conv", ["p", "w"], ["y"], attributes: attributes, opset: opset))
        default: nodes.append(try node(window, ["p"], ["y"], attributes: [kernel] + attributes, opset: opset))
        }
        if padReadTwice { nodes.append(try node("Relu", ["p"], ["z"])) }
        return Graph(nodes: nodes, inputs: [input("x", Self.shape.map { .fixed($0) })],
                     outputs: [output("y")] + (padReadTwice ? [output("z")] : []), initializers: initializers)
    }

    /// Fuses `graph` and checks that the window, now reading the Pad's input, computes what the Pad and the window did.
    func expectFused(_ graph: Graph, pads expected: [Int], opset: Int = 13, sourceLocation: SourceLocation = #_sourceLocation) throws -> Node {
        let (fused, report) = try optimize(graph, with: [FusePadIntoWindow()], opset: opset)
        #expect(report.count("fuse-pad") == 1, sourceLocation: sourceLocation)
        #expect(!fused.opTypes.contains("Pad"), sourceLocation: sourceLocation)
        let window = try #require(fused.nodes.last, sourceLocation: sourceLocation)
        #expect(window.inputs[0] == (graph.opTypes.first == "Relu" ? "r" : "x"), sourceLocation: sourceLocation)
        #expect(window.attributes.first { $0.name == "pads" }?.value == .ints(expected.map { Int64($0) }), sourceLocation: sourceLocation)
        #expect(!window.attributes.contains { $0.name == "auto_pad" }, sourceLocation: sourceLocation)
        // Values of both signs, so a border filled wrongly shows.
        let feed = ["x": Tensor.floats(seeded(Self.shape.reduce(1, *), seed: 22).map { $0 * 3 }, shape: Self.shape)]
        #expect(maxDifference(try run(graph, feeds: feed, opset: opset), try run(fused, feeds: feed, opset: opset)) < 1e-5,
                sourceLocation: sourceLocation)
        // The attributes export writes say what the typed operator does.
        let reparsed = try Operator(opType: window.opType, domain: window.domain ?? "", attributes: window.attributes, opset: opset)
        #expect(reparsed == window.op, sourceLocation: sourceLocation)
        return window
    }

    func expectKept(_ graph: Graph, opset: Int = 13, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let (result, report) = try optimize(graph, with: [FusePadIntoWindow()], opset: opset)
        #expect(report.count("fuse-pad") == 0, sourceLocation: sourceLocation)
        #expect(result.opTypes.contains("Pad"), sourceLocation: sourceLocation)
    }

    @Test func aZeroPadBecomesTheConvsPadsAddedToItsOwn() throws {
        _ = try expectFused(try graph("Conv", attributes: [Attribute(name: "auto_pad", value: .string(Array("VALID".utf8)))]),
                            pads: [1, 2, 2, 1])
        _ = try expectFused(try graph("Conv", attributes: [ints("pads", [1, 0, 0, 1])]), pads: [2, 2, 2, 2])
        _ = try expectFused(try graph("Conv", opset: 10), pads: [1, 2, 2, 1], opset: 10)
    }

    @Test func aConvKeepsAPadItCannotTakeOver() throws {
        try expectKept(try graph("Conv", value: 1))
        try expectKept(try graph("Conv", pads: [0, 0, -1, 1, 0, 0, 1, 1]))
        try expectKept(try graph("Conv", attributes: [Attribute(name: "auto_pad", value: .string(Array("SAME_UPPER".utf8)))]))
        try expectKept(try graph("Conv", padReadTwice: true))
    }

    @Test func aZeroPadBecomesAMaxPoolsPadsOnlyAfterARelu() throws {
        let fused = try expectFused(try graph("MaxPool", attributes: [ints("strides", [2, 2])], relu: true), pads: [1, 2, 2, 1])
        #expect(fused.opType == "MaxPool")
        // Negative inputs would read the zero border as their largest value.
        try expectKept(try graph("MaxPool", attributes: [ints("strides", [2, 2])]))
        // A window wholly in a 3-wide border would read 0 from the Pad and nothing from the pool's pads.
        try expectKept(try graph("MaxPool", pads: [0, 0, 3, 0, 0, 0, 0, 0], relu: true))
        try expectKept(try graph("MaxPool", attributes: [Attribute(name: "ceil_mode", value: .int(1))], relu: true))
        // Pads of the channels are not a window's.
        try expectKept(try graph("MaxPool", pads: [0, 1, 1, 1, 0, 0, 1, 1], relu: true))
        // A border of -inf is never a maximum, whatever the input.
        _ = try expectFused(try graph("MaxPool", value: -.infinity), pads: [1, 2, 2, 1])
    }

    /// A pre-activation block's BatchNormalization and Relu, one ChannelAffine that clamps at 0, is a producer
    /// whose outputs cannot be negative too.
    @Test func aZeroPadBecomesAMaxPoolsPadsAfterAChannelAffineThatClampsAtZero() throws {
        let graph = Graph(
            nodes: [try node("BatchNormalization", ["x", "gamma", "beta", "mean", "var"], ["b"]), try node("Relu", ["b"], ["r"]),
                    try node("Pad", ["r", "pads"], ["p"]), try node("MaxPool", ["p"], ["y"], attributes: [ints("kernel_shape", [3, 3])])],
            inputs: [input("x", Self.shape.map { .fixed($0) })], outputs: [output("y")],
            initializers: [floats("gamma", [1, 2], [2]), floats("beta", [-1, 1], [2]), floats("mean", [0.5, -0.5], [2]),
                           floats("var", [1, 4], [2]), int64s("pads", [0, 0, 1, 1, 0, 0, 1, 1])])
        let (fused, report) = try optimize(graph, with: [BatchNormalizationToChannelAffine(), FuseActivation(), FusePadIntoWindow()])
        #expect(report.count("fuse-pad") == 1)
        #expect(fused.opTypes == ["ChannelAffine", "MaxPool"])
        let feed = ["x": Tensor.floats(seeded(Self.shape.reduce(1, *), seed: 23).map { $0 * 3 }, shape: Self.shape)]
        #expect(maxDifference(try run(graph, feeds: feed), try run(fused, feeds: feed)) < 1e-5)
    }

    @Test func aZeroPadBecomesAnAveragePoolThatCountsItsPads() throws {
        let fused = try expectFused(try graph("AveragePool"), pads: [1, 2, 2, 1])
        #expect(fused.attributes.first { $0.name == "count_include_pad" }?.value == .int(1))
        try expectKept(try graph("AveragePool", attributes: [ints("pads", [1, 1, 1, 1])]))
        _ = try expectFused(try graph("AveragePool", attributes: [ints("pads", [1, 0, 0, 0]), Attribute(name: "count_include_pad", value: .int(1))]),
                            pads: [2, 2, 2, 1])
    }
}
