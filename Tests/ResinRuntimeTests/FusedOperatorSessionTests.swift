import CAllocationCounter
import Resin
import ResinIR
import Testing
import TestSupport
@testable import ResinRuntime

/// Sessions over FusedConv, FusedGemm and ChannelAffine: results against the unfused standard operators,
/// and the in-place residual decision with what it saves in the memory plan.
@Suite struct FusedOperatorSessionTests {
    typealias G = HandBuiltGraphs

    /// Runs `model` on `feeds` and returns output `name` as floats.
    static func run(_ model: Model, _ feeds: [String: Tensor], output name: String, threads: Int = 1) throws -> [Float] {
        let session = try Session(model: model, options: SessionOptions(threads: threads))
        let outputs = try session.run(feeds)
        return try #require(outputs[name]?.floatValues)
    }

    static func input(_ shape: [Int], seed: Int = 11) -> Tensor {
        var random = SplitMix64(seed: seed)
        return .floats(random.floats(shape.reduce(1, *)), shape: shape, name: "x")
    }

    /// Filters prepared for the kernels (what a native file stores) give ONNX Runtime's outputs (the fixture's
    /// reference tensors), and are not counted as parameters a second time.
    @Test func preparedFiltersKeepResultsAndAreNotParameters() throws {
        let folder = TestPaths.fixtures + "/resnet-bottleneck-v1.5"
        let loaded = try ModelLoader.load(path: folder + "/model.onnx", optimize: true)
        let prepared = try KernelPreparation.prepare(loaded.model)
        let kinds = prepared.graph.nodes.compactMap { node -> PreparedFilters? in
            guard case .fusedConv(let fused) = node.op, node.inputs.count > 4 else { return nil }
            return fused.prepared
        }
        #expect(!kinds.isEmpty)
        let before = loaded.model.graph.cost(facts: try loaded.model.graph.inferFacts(bindings: ["N": 1]))
        let after = prepared.graph.cost(facts: try prepared.graph.inferFacts(bindings: ["N": 1]))
        #expect(after.parameters == before.parameters)
        #expect(after.parameterBytes == before.parameterBytes)
        let x = try TensorFile.read(path: folder + "/test_data_set_0/input_0.pb")
        let expected = try #require(TensorFile.read(path: folder + "/test_data_set_0/output_0.pb").floatValues)
        let feeds = [loaded.model.graph.runtimeInputs[0].name: x]
        let output = loaded.model.graph.outputs[0].name
        for threads in [1, 2] {
            expectClose(try Self.run(prepared, feeds, output: output, threads: threads), expected, rtol: 1e-4, atol: 1e-4)
        }
    }

    @Test func inPlaceResidualShrinksTheArenaAndKeepsTheResults() throws {
        let fused = G.residualBlock(channels: 8, size: 12, fused: true)
        let skipLives = G.residualBlock(channels: 8, size: 12, fused: true, extraOutputs: ["r"])
        let inPlace = try G.compiled(fused)
        let notInPlace = try G.compiled(fused, inPlace: false)
        let pinned = try G.compiled(skipLives)
        #expect(inPlace.inPlaceOutputs == ["y"])
        #expect(notInPlace.inPlaceOutputs.isEmpty)
        #expect(pinned.inPlaceOutputs.isEmpty, "a graph output must survive the run")
        let plan = MemoryPlanner.plan(inPlace.blocks)
        let tensorBytes = 8 * 12 * 12 * 4
        #expect(plan.arenaBytes < MemoryPlanner.plan(pinned.blocks).arenaBytes)
        #expect(plan.arenaBytes + tensorBytes <= MemoryPlanner.plan(notInPlace.blocks).arenaBytes)
        #expect(plan.lowerBoundBytes + tensorBytes == MemoryPlanner.plan(notInPlace.blocks).lowerBoundBytes)
        #expect(inPlace.blocks.count == notInPlace.blocks.count - 1, "the output takes no block of its own")

        let x = Self.input([1, 8, 12, 12])
        let expected = try Self.run(G.residualBlock(channels: 8, size: 12, fused: false), ["x": x], output: "y")
        for threads in [1, 2] {
            expectClose(try Self.run(fused, ["x": x], output: "y", threads: threads), expected, rtol: 1e-5, atol: 1e-5, "in place")
            expectClose(try Self.run(skipLives, ["x": x], output: "y", threads: threads), expected, rtol: 1e-5, atol: 1e-5, "not in place")
        }
        // The residual is still intact when it is an output.
        let session = try Session(model: skipLives)
        let outputs = try session.run(["x": x])
        let r = try Self.run(G.residualBlock(channels: 8, size: 12, fused: false, extraOutputs: ["r"]), ["x": x], output: "r")
        expectClose(try #require(outputs["r"]?.floatValues), r, rtol: 0, atol: 0)
    }

    /// A session plans one im2col band per thread for convolutions whose few columns split their panels over
    /// the threads (`ConvolutionGeometry.columnCopies`: 200 filters on a 7x7 map, 7 panels), and runs them on
    /// those copies: each convolution's workspace grows with the session's threads, and 2 and 3 threads give
    /// one thread's bits.
    @Test func sessionsPlanAnIm2colBandPerThread() throws {
        let model = G.residualBlock(channels: 200, size: 7, fused: true)
        func workspaces(_ threads: Int) throws -> [Int] {
            let compiler = try G.compiled(model, options: SessionOptions(threads: threads))
            return compiler.pending.compactMap { $0.workspaceBlock.map { compiler.blocks[$0].size } }
        }
        let one = try workspaces(1)
        #expect(one.count == 3 && one.allSatisfy { $0 == 200 * 9 * 49 * 4 }, "\(one)")
        let x = Self.input([1, 200, 7, 7])
        let serial = try Self.run(model, ["x": x], output: "y")
        #expect(serial.contains { $0 > 0 })
        for threads in [2, 3] {
            #expect(try workspaces(threads) == one.map { $0 * threads }, "\(threads) threads")
            let split = try Self.run(model, ["x": x], output: "y", threads: threads)
            #expect(split.map(\.bitPattern) == serial.map(\.bitPattern), "\(threads) threads")
        }
    }

    /// A session of 256-channel 14x14 convolutions (phased Winograd F(2x2), bands of 49 tiles, 8 panels of
    /// filters) plans a transformed input per thread (`ConvolutionGeometry.winogradInputCopies`), probes its
    /// threads' distance before each run, and gives one thread's bits whether it runs the phases (cores close)
    /// or the split by filters (cores apart), on 2 and 3 threads.
    @Test func sessionsSplitPhasedWinogradByFiltersWhenCoresAreApart() throws {
        let model = G.residualBlock(channels: 256, size: 14, fused: true)
        let x = Self.input([1, 256, 14, 14])
        let serial = try Self.run(model, ["x": x], output: "y")
        #expect(serial.contains { $0 > 0 })
        for threads in [2, 3] {
            // Each convolution's workspace: 16 positions of 49 tiles for a transformed input per thread and the products.
            let compiler = try G.compiled(model, options: SessionOptions(threads: threads))
            let workspaces = compiler.pending.compactMap { $0.workspaceBlock.map { compiler.blocks[$0].size } }
            #expect(workspaces == Array(repeating: 16 * (256 * threads + 256) * 49 * 4, count: 3), "\(threads) threads")
            for apart in [false, true] {
                let session = try Session(model: model, options: SessionOptions(threads: threads))
                let copies = session.programs[0].steps.compactMap { step -> Int? in
                    if case .convolution(let convolution) = step, convolution.geometry.usesWinograd {
                        return convolution.geometry.winogradInputCopies
                    }
                    return nil
                }
                #expect(copies == [threads, threads, threads], "\(threads) threads")
                session.pool.coresApart = !apart
                session.pool.fixedDistance = apart
                let y = try #require(try session.run(["x": x])["y"]?.floatValues)
                // The run's probe set the distance the pool was given.
                #expect(session.pool.coresApart == apart)
                #expect(y.map(\.bitPattern) == serial.map(\.bitPattern), "\(threads) threads, cores \(apart ? "apart" : "close")")
            }
        }
        // The probe and either schedule allocate nothing during a run.
        resin_allocation_group_join()  // before the session, so that its pool's threads are counted too
        defer { resin_allocation_group_leave() }
        let session = try Session(model: model, options: SessionOptions(threads: 2))
        session.inputBuffer(at: 0).copyMemory(from: UnsafeRawBufferPointer(rebasing: x.storage.bytes.prefix(session.inputs[0].byteCount)))
        for fixed in [nil, true, false] as [Bool?] {
            session.pool.fixedDistance = fixed
            try session.run()
            resin_allocation_counting_begin()
            for _ in 0..<5 { try session.run() }
            let allocations = resin_allocation_counting_end()
            if resin_allocation_counting_available() != 0 { #expect(allocations == 0, "\(allocations) heap allocations, distance \(String(describing: fixed))") }
        }
    }

    /// A residual seen through a view shares its block: the view's source must be dead too.
    @Test(arguments: [false, true])
    func residualThroughAViewIsTrackedByBlock(sourceUsedLater: Bool) throws {
        func block(fused: Bool) -> Model {
            var model = G.residualBlock(channels: 4, size: 9, fused: fused, extraOutputs: sourceUsedLater ? ["z"] : [])
            // The residual becomes Identity(r) (a view of r's block).
            model.graph.nodes.insert(G.node("Identity", .identity, ["r"], ["ri"]), at: 2)
            for index in model.graph.nodes.indices where model.graph.nodes[index].inputs.count > 1 {
                model.graph.nodes[index].inputs = model.graph.nodes[index].inputs.map { $0 == "r" ? "ri" : $0 }
            }
            if fused { #expect(model.graph.nodes.last?.inputs.last == "ri") }
            if sourceUsedLater { model.graph.nodes.append(G.node("Add", .binary(.add), ["y", "r"], ["z"])) }
            return model
        }
        let compiler = try G.compiled(block(fused: true))
        #expect(compiler.inPlaceOutputs == (sourceUsedLater ? [] : ["y"]))
        let x = Self.input([1, 4, 9, 9], seed: 2)
        let name = sourceUsedLater ? "z" : "y"
        expectClose(try Self.run(block(fused: true), ["x": x], output: name), try Self.run(block(fused: false), ["x": x], output: name),
                    rtol: 1e-5, atol: 1e-5)
    }

    /// A graph input (written once by the caller) or the convolution's own input never takes the output.
    @Test(arguments: ["x", "a"])
    func residualThatIsAGraphInputOrTheConvolutionInputIsNotOverwritten(skip: String) throws {
        func model(fused: Bool) -> Model {
            var random = SplitMix64(seed: 4)
            let initializers = [G.weights("w1", [4, 4, 3, 3], &random), G.weights("w2", [4, 4, 3, 3], &random)]
            var nodes = [G.conv(["x", "w1"], "c1"), G.relu("c1", "a")]
            if fused {
                nodes.append(G.fusedConv(["a", "w2", "", skip], "y", activation: .clip(min: 0, max: 6)))
            } else {
                let six = Tensor.floats([6], shape: [], name: "six"), zero = Tensor.floats([0], shape: [], name: "zero")
                nodes += [G.conv(["a", "w2"], "c2"), G.node("Add", .binary(.add), ["c2", skip], ["s"]),
                          G.node("Clip", .clip(ClipAttributes()), ["s", "zero", "six"], ["y"])]
                return G.model(nodes: nodes, inputs: [("x", [1, 4, 7, 7])], outputs: ["y"], initializers: initializers + [six, zero])
            }
            return G.model(nodes: nodes, inputs: [("x", [1, 4, 7, 7])], outputs: ["y"], initializers: initializers)
        }
        #expect(try G.compiled(model(fused: true)).inPlaceOutputs.isEmpty)
        let session = try Session(model: model(fused: true))
        let x = Self.input([1, 4, 7, 7], seed: 9)
        let first = try #require(try session.run(["x": x])["y"]?.floatValues)
        let second = try #require(try session.run(["x": x])["y"]?.floatValues)
        #expect(first == second)
        expectClose(first, try Self.run(model(fused: false), ["x": x], output: "y"), rtol: 1e-5, atol: 1e-5)
    }

    /// ChannelAffine against Mul and Add of `[C, 1, 1]` constants, with its scale constant or fed; FusedGemm
    /// against Gemm; each with its activation against Relu or Clip after it. The larger map runs the affine
    /// pass in two tasks (two threads), the smaller in one.
    @Test(arguments: [FusedActivation.none, .relu, .clip(min: -0.1, max: 0.2)], [5, 75])
    func channelAffineAndFusedGemmMatchTheUnfusedOperators(activation: FusedActivation, side: Int) throws {
        var random = SplitMix64(seed: 21)
        let scale = random.floats(6), shift = random.floats(6)
        let initializers = [
            Tensor.floats(scale, shape: [6], name: "scale"), Tensor.floats(shift, shape: [6], name: "shift"),
            Tensor.floats(scale, shape: [6, 1, 1], name: "scale3"), Tensor.floats(shift, shape: [6, 1, 1], name: "shift3"),
            G.weights("wg", [5, 6], &random), G.weights("bg", [5], &random),
        ]
        let shape = [2, 6, side, side]
        let gemm = GemmAttributes(alpha: 1.5, beta: 0.5, transB: true)
        let head = [G.node("GlobalAveragePool", .globalAveragePool, ["n"], ["g"]), G.node("Flatten", .flatten(FlattenAttributes()), ["g"], ["f"])]
        let fused = G.model(
            nodes: [G.node("ChannelAffine", .channelAffine(activation), ["x", "scale", "shift"], ["n"])] + head
                + [G.node(FusedGemmAttributes.opType, .fusedGemm(FusedGemmAttributes(gemm: gemm, activation: activation)), ["f", "wg", "bg"], ["y"])],
            inputs: [("x", shape)], outputs: ["y", "n"], initializers: initializers)
        /// The standard operator for `activation` from `input` to `output`, none when there is no activation.
        func standard(_ input: String, _ output: String) -> [Node] {
            switch activation {
            case .none: []
            case .relu: [G.relu(input, output)]
            case .clip(let low, let high): [G.node("Clip", .clip(ClipAttributes(min: low, max: high)), [input], [output])]
            }
        }
        let plain = activation == .none
        let unfused = G.model(
            nodes: [G.node("Mul", .binary(.mul), ["x", "scale3"], ["m"]), G.node("Add", .binary(.add), ["m", "shift3"], [plain ? "n" : "a"])]
                + standard("a", "n") + head + [G.node("Gemm", .gemm(gemm), ["f", "wg", "bg"], [plain ? "y" : "p"])] + standard("p", "y"),
            inputs: [("x", shape)], outputs: ["y", "n"], initializers: initializers)
        let x = Self.input(shape, seed: 8)
        for output in ["n", "y"] {
            expectClose(try Self.run(fused, ["x": x], output: output, threads: 2), try Self.run(unfused, ["x": x], output: output),
                        rtol: 1e-5, atol: 1e-6, "\(output)")
        }
        if case .clip(let low, let high) = activation {
            // The clamp bites on both sides, so a wrong bound shows.
            let n = try Self.run(fused, ["x": x], output: "n")
            #expect(n.contains(low) && n.contains(high))
        }
        // The scale and shift may be values computed at run time too.
        var fed = fused
        fed.graph.initializers.removeAll { $0.name == "scale" }
        fed.graph.inputs.append(ValueInfo(name: "scale", type: .tensor(.float, [.fixed(6)])))
        let session = try Session(model: fed)
        let outputs = try session.run(["x": x, "scale": .floats(scale, shape: [6], name: "scale")])
        expectClose(try #require(outputs["n"]?.floatValues), try Self.run(unfused, ["x": x], output: "n"), rtol: 1e-5, atol: 1e-6)
    }

    @Test func channelAffineNeedsOneScaleAndShiftPerChannel() throws {
        let model = G.model(
            nodes: [G.node("ChannelAffine", .channelAffine(.none), ["x", "scale", "shift"], ["y"])], inputs: [("x", [1, 3, 4, 4])], outputs: ["y"],
            initializers: [.floats([1, 2], shape: [2], name: "scale"), .floats([0, 0, 0], shape: [3], name: "shift")])
        #expect {
            try Session(model: model)
        } throws: { error in
            guard case GraphError.shapeMismatch(let node, let opType, let reason) = error else { return false }
            return node == "node_y" && opType == "ChannelAffine" && reason.contains("[2]")
        }
    }

    @Test func residualMustHaveTheConvolutionsShape() throws {
        var random = SplitMix64(seed: 1)
        let model = G.model(
            nodes: [G.fusedConv(["x", "w", "", "s"], "y")], inputs: [("x", [1, 2, 5, 5])], outputs: ["y"],
            initializers: [G.weights("w", [2, 2, 3, 3], &random), .floats([1, 2], shape: [1, 2, 1, 1], name: "s")])
        #expect {
            try Session(model: model)
        } throws: { error in
            guard case RuntimeError.unsupportedAttribute(_, let opType, let reason) = error else { return false }
            return opType == FusedConvAttributes.opType && reason.contains("[1, 2, 1, 1]") && reason.contains("[1, 2, 5, 5]")
        }
    }

    @Test func fusedOperatorsRunOnFloatsOnly() throws {
        let graph = Graph(
            nodes: [G.fusedConv(["x", "w"], "y")],
            inputs: [ValueInfo(name: "x", type: .tensor(.int64, [.fixed(1), .fixed(1), .fixed(3), .fixed(3)]))],
            outputs: [ValueInfo(name: "y", type: nil)],
            initializers: [.int64s(Array(repeating: 1, count: 9), shape: [1, 1, 3, 3], name: "w")])
        #expect(throws: RuntimeError.unsupportedType(node: "node_y", opType: FusedConvAttributes.opType, dataType: .int64)) {
            try Session(model: Model(opsetImports: [OpsetImport(domain: "", version: 13)], graph: graph))
        }
    }

    /// A residual network in miniature with every fused operator, large enough that the epilogue, the
    /// affine pass, the split GEMM and its activation all run on two threads: later runs allocate nothing.
    @Test(arguments: [1, 2])
    func fusedGraphRunsAllocateNothing(threads: Int) throws {
        var random = SplitMix64(seed: 31)
        let initializers = [
            G.weights("w1", [16, 16, 3, 3], &random), G.weights("b1", [16], &random),
            G.weights("w2", [16, 16, 3, 3], &random), G.weights("w3", [16, 16, 1, 1], &random), G.weights("b3", [16], &random),
            G.weights("scale", [16], &random), G.weights("shift", [16], &random),
            G.weights("wg", [16, 10], &random), G.weights("bg", [10], &random),
            G.weights("wm", [64, 1024], &random),
        ]
        let nodes = [
            G.conv(["x", "w1", "b1"], "c1"), G.relu("c1", "r"),
            G.fusedConv(["r", "w2", ""], "a"),
            G.fusedConv(["a", "w3", "b3", "r"], "y", activation: .clip(min: 0, max: 6), pads: 0),
            G.node("ChannelAffine", .channelAffine(.none), ["y", "scale", "shift"], ["n"]),
            G.node("GlobalAveragePool", .globalAveragePool, ["n"], ["g"]), G.node("Flatten", .flatten(FlattenAttributes()), ["g"], ["f"]),
            G.node(FusedGemmAttributes.opType, .fusedGemm(FusedGemmAttributes(gemm: GemmAttributes(), activation: .relu)), ["f", "wg", "bg"], ["out"]),
            G.node(FusedGemmAttributes.opType, .fusedGemm(FusedGemmAttributes(gemm: GemmAttributes(), activation: .clip(min: 0, max: 1))),
                   ["m", "wm"], ["wide"]),
        ]
        let model = G.model(nodes: nodes, inputs: [("x", [1, 16, 48, 48]), ("m", [64, 64])], outputs: ["out", "wide"], initializers: initializers)
        #expect(try G.compiled(model).inPlaceOutputs == ["y"])
        resin_allocation_group_join()  // before the session, so that its pool's threads are counted too
        defer { resin_allocation_group_leave() }
        let session = try Session(model: model, options: SessionOptions(threads: threads))
        for index in session.inputs.indices {
            let buffer = session.inputBuffer(at: index).bindMemory(to: Float.self)
            for element in buffer.indices { buffer[element] = Float.random(in: -1...1, using: &random) }
        }
        // The arena reuses an input's bytes once it is read, so every run writes its inputs again (from
        // buffers made beforehand: copying out of a Swift array allocates in debug builds).
        let saved = session.inputs.indices.map { index -> UnsafeMutableRawBufferPointer in
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: session.inputs[index].byteCount, alignment: 64)
            buffer.copyMemory(from: UnsafeRawBufferPointer(session.inputBuffer(at: index)))
            return buffer
        }
        defer { for buffer in saved { buffer.deallocate() } }
        try session.run()
        let first = (Array(session.outputBuffer(at: 0)), Array(session.outputBuffer(at: 1)))
        resin_allocation_counting_begin()
        for _ in 0..<20 {
            for index in 0..<saved.count { session.inputBuffer(at: index).copyMemory(from: UnsafeRawBufferPointer(saved[index])) }
            try session.run()
        }
        let allocations = resin_allocation_counting_end()
        // Counted except in sanitizer builds, whose runtime owns malloc (the outputs are still compared).
        if resin_allocation_counting_available() != 0 { #expect(allocations == 0, "\(allocations) heap allocations in 20 runs after the first") }
        #expect(Array(session.outputBuffer(at: 0)) == first.0)
        #expect(Array(session.outputBuffer(at: 1)) == first.1)
    }
}
