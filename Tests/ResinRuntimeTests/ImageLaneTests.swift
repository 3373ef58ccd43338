import CAllocationCounter
import Foundation
import ResinIR
import Testing
import TestSupport
@testable import ResinRuntime

/// Image lanes (`ImageLanes`): a batch the threads divide runs as whole images per thread, and gives what
/// the model's definition gives each image; graphs in which images meet, and batches the threads do not
/// divide, run layer by layer.
@Suite struct ImageLaneTests {
    static let channels = 3, filters = 8, size = 7, classes = 5

    /// A small classifier with a symbolic batch: Conv 3x3 (pads 1), Relu, GlobalAveragePool, Flatten and a
    /// Gemm with transposed weights, then `tail` (nodes reading "y" and writing "out"), if any.
    static func classifier(tail: [Node] = [], output: String = "y") -> Model {
        var random = SplitMix64(seed: 11)
        let initializers = [
            HandBuiltGraphs.weights("w", [filters, channels, 3, 3], &random), HandBuiltGraphs.weights("b", [filters], &random),
            HandBuiltGraphs.weights("fw", [classes, filters], &random), HandBuiltGraphs.weights("fb", [classes], &random),
        ]
        let nodes = [
            HandBuiltGraphs.conv(["x", "w", "b"], "c"), HandBuiltGraphs.relu("c", "r"),
            HandBuiltGraphs.node("GlobalAveragePool", .globalAveragePool, ["r"], ["g"]),
            HandBuiltGraphs.node("Flatten", .flatten(FlattenAttributes(axis: 1)), ["g"], ["f"]),
            HandBuiltGraphs.node("Gemm", .gemm(GemmAttributes(transB: true)), ["f", "fw", "fb"], ["y"]),
        ] + tail
        let graph = Graph(
            nodes: nodes,
            inputs: [ValueInfo(name: "x", type: .tensor(.float, [.symbolic("N"), .fixed(channels), .fixed(size), .fixed(size)]))],
            outputs: [ValueInfo(name: output, type: nil)], initializers: initializers)
        return Model(opsetImports: [OpsetImport(domain: "", version: 13)], graph: graph)
    }

    static func initializer(_ model: Model, _ name: String) -> [Float] {
        model.graph.initializersByName[name]!.storage.bytes.withMemoryRebound(to: Float.self) { Array($0) }
    }

    /// The classifier's logits for every image by its definition, in double precision, image by image.
    static func referenceLogits(_ model: Model, input: [Float], batch: Int) -> [Double] {
        let pooled = referencePooled(model, input: input, batch: batch)
        let fw = initializer(model, "fw"), fb = initializer(model, "fb")
        var logits: [Double] = []
        for image in 0..<batch {
            for label in 0..<classes {
                var sum = Double(fb[label])
                for filter in 0..<filters { sum += Double(fw[label * filters + filter]) * pooled[image * filters + filter] }
                logits.append(sum)
            }
        }
        return logits
    }

    /// The classifier's pooled features ("g", `[batch, filters, 1, 1]`) by its definition, in double precision.
    static func referencePooled(_ model: Model, input: [Float], batch: Int) -> [Double] {
        let w = initializer(model, "w"), b = initializer(model, "b")
        var features: [Double] = []
        for image in 0..<batch {
            var pooled = [Double](repeating: 0, count: filters)
            for filter in 0..<filters {
                for row in 0..<size {
                    for column in 0..<size {
                        var sum = Double(b[filter])
                        for channel in 0..<channels {
                            for dy in 0..<3 {
                                for dx in 0..<3 {
                                    let y = row + dy - 1, x = column + dx - 1
                                    guard y >= 0, y < size, x >= 0, x < size else { continue }
                                    let pixel = input[((image * channels + channel) * size + y) * size + x]
                                    sum += Double(w[((filter * channels + channel) * 3 + dy) * 3 + dx]) * Double(pixel)
                                }
                            }
                        }
                        pooled[filter] += max(0, sum) / Double(size * size)
                    }
                }
            }
            features += pooled
        }
        return features
    }

    static func input(batch: Int) -> [Float] {
        var random = SplitMix64(seed: UInt64(100 + batch))
        return random.floats(batch * channels * size * size)
    }

    /// Runs `session` on `input` (written into its input buffer) and reads its first output.
    static func run(_ session: Session, _ input: [Float]) throws -> [Float] {
        input.withUnsafeBytes { session.inputBuffer(at: 0).copyMemory(from: $0) }
        try session.run()
        return floats(session, output: 0)
    }

    static func floats(_ session: Session, output index: Int) -> [Float] {
        let output = session.outputBuffer(at: index)
        return (0..<(output.count / 4)).map { output.load(fromByteOffset: $0 * 4, as: Float.self) }
    }

    /// The operators of the session's batch tail, or nil without one.
    static func tailOperators(_ session: Session) -> [String]? {
        session.batchTail.map { session.stepNodes[$0.start...].map(\.opType) }
    }

    /// Every logit within fp32 rounding of the reference (sums of 27 products, then of 8).
    static func expectClose(_ actual: [Float], _ expected: [Double], _ what: String) {
        #expect(actual.count == expected.count, "\(what): \(actual.count) values for \(expected.count)")
        for (index, (value, reference)) in zip(actual, expected).enumerated() {
            #expect(abs(Double(value) - reference) <= 1e-5 + 1e-5 * abs(reference), "\(what): logit \(index) is \(value), expected \(reference)")
        }
    }

    @Test(arguments: [(2, 2), (4, 2), (6, 3), (8, 2)])
    func lanesGiveEachImageItsOwnResult(batch: Int, threads: Int) throws {
        let model = Self.classifier()
        let session = try Session(model: model, options: SessionOptions(batch: batch, threads: threads))
        #expect(session.imageLanes == threads)
        // The classifier's product runs once for the batch, after the lanes.
        #expect(Self.tailOperators(session) == ["Gemm"])
        #expect(session.inputs[0].shape == [batch, Self.channels, Self.size, Self.size])
        #expect(session.outputs[0].shape == [batch, Self.classes])
        let input = Self.input(batch: batch)
        let expected = Self.referenceLogits(model, input: input, batch: batch)
        Self.expectClose(try Self.run(session, input), expected, "batch \(batch), \(threads) threads")
        // Each image's bits are those of a one-thread session of one image (what Docs/API.md promises).
        let single = try Session(model: model, options: SessionOptions(batch: 1, threads: 1))
        let lanes = try Self.run(session, input)
        let imageFloats = Self.channels * Self.size * Self.size
        for image in 0..<batch {
            let alone = try Self.run(single, Array(input[(image * imageFloats)..<((image + 1) * imageFloats)]))
            #expect(Array(lanes[(image * Self.classes)..<((image + 1) * Self.classes)]) == alone, "image \(image)")
        }
        // Again with other images: nothing of the last run stays in a lane.
        let other = input.map { -0.5 * $0 }
        Self.expectClose(try Self.run(session, other), Self.referenceLogits(model, input: other, batch: batch), "second run")
        // Copied in and out by run(_:) as well.
        let tensor = Tensor.floats(input, shape: session.inputs[0].shape, name: "x")
        let outputs = try session.run(["x": tensor])
        let logits = try #require(outputs["y"]).storage.bytes.withMemoryRebound(to: Float.self) { Array($0) }
        Self.expectClose(logits, expected, "run(_:)")
    }

    @Test func aProfiledRunTimesEveryStepAndGivesTheSameResults() throws {
        let model = Self.classifier()
        let session = try Session(model: model, options: SessionOptions(batch: 4, threads: 2))
        #expect(session.imageLanes == 2)
        let input = Self.input(batch: 4)
        input.withUnsafeBytes { session.inputBuffer(at: 0).copyMemory(from: $0) }
        let timings = try session.runProfiled()
        #expect(timings.map(\.node) == session.stepNodes.map(\.displayName))
        #expect(timings.contains { $0.opType == "Conv" } && timings.contains { $0.opType == "Gemm" })
        #expect(timings.allSatisfy { $0.milliseconds >= 0 })
        let output = session.outputBuffer(at: 0)
        let logits = (0..<(output.count / 4)).map { output.load(fromByteOffset: $0 * 4, as: Float.self) }
        Self.expectClose(logits, Self.referenceLogits(model, input: input, batch: 4), "profiled")
    }

    /// After the first run, no lane allocates, on any thread; the batch's input stays where it was written, so
    /// the same input gives the same bits.
    @Test(arguments: [(2, 2), (8, 2)])
    func lanesAllocateNothingWhileRunning(batch: Int, threads: Int) throws {
        // Joined before the session exists, so that its pool's threads are counted with this one.
        resin_allocation_group_join()
        defer { resin_allocation_group_leave() }
        let session = try Session(model: Self.classifier(), options: SessionOptions(batch: batch, threads: threads))
        #expect(session.imageLanes == threads)
        let first = try Self.run(session, Self.input(batch: batch))
        resin_allocation_counting_begin()
        for _ in 0..<50 { try session.run() }
        let allocations = resin_allocation_counting_end()
        // Counted except in sanitizer builds, whose runtime owns malloc (the outputs are still compared).
        if resin_allocation_counting_available() != 0 { #expect(allocations == 0, "\(allocations) heap allocations in 50 runs") }
        let output = session.outputBuffer(at: 0)
        #expect((0..<(output.count / 4)).map { output.load(fromByteOffset: $0 * 4, as: Float.self) } == first)
    }

    /// A softmax over the batch axis makes every image's output depend on the others: layer by layer, and
    /// right.
    @Test func aSoftmaxAcrossTheBatchRunsLayerByLayer() throws {
        let softmax = HandBuiltGraphs.node("Softmax", .softmax(SoftmaxAttributes(axis: 0)), ["y"], ["out"])
        let model = Self.classifier(tail: [softmax], output: "out")
        let session = try Session(model: model, options: SessionOptions(batch: 4, threads: 2))
        #expect(session.imageLanes == 0)
        let input = Self.input(batch: 4)
        let logits = Self.referenceLogits(model, input: input, batch: 4)
        var expected = logits
        for label in 0..<Self.classes {
            let column = (0..<4).map { logits[$0 * Self.classes + label] }
            let largest = column.max()!
            let total = column.reduce(0) { $0 + exp($1 - largest) }
            for image in 0..<4 { expected[image * Self.classes + label] = exp(column[image] - largest) / total }
        }
        Self.expectClose(try Self.run(session, input), expected, "softmax over the batch")
    }

    @Test func otherGraphsAndBatchesRunLayerByLayer() throws {
        // A transpose that moves the batch axis.
        let transpose = HandBuiltGraphs.node("Transpose", .transpose(TransposeAttributes(permutation: [1, 0])), ["y"], ["out"])
        let transposed = try Session(model: Self.classifier(tail: [transpose], output: "out"),
                                     options: SessionOptions(batch: 4, threads: 2))
        #expect(transposed.imageLanes == 0)
        #expect(transposed.outputs[0].shape == [Self.classes, 4])
        // A batch the threads do not divide, one thread, one image, and lanes switched off.
        for (batch, threads, lanes) in [(3, 2, true), (4, 1, true), (1, 2, true), (4, 2, false)] {
            var options = SessionOptions(batch: batch, threads: threads)
            options.imageLanes = lanes
            let model = Self.classifier()
            let session = try Session(model: model, options: options)
            #expect(session.imageLanes == 0, "batch \(batch), \(threads) threads")
            let input = Self.input(batch: batch)
            Self.expectClose(try Self.run(session, input), Self.referenceLogits(model, input: input, batch: batch),
                             "batch \(batch), \(threads) threads, layer by layer")
        }
    }

    /// The lanes' arenas with the batch's inputs and outputs, each lane planned like a session of one image on
    /// one thread.
    @Test func theArenaIsTheLanesPartsAndTheBatchsInputsAndOutputs() throws {
        let model = Self.classifier()
        let one = try Session(model: model, options: SessionOptions(batch: 1, threads: 1))
        let lanes = try Session(model: model, options: SessionOptions(batch: 8, threads: 2))
        #expect(lanes.imageLanes == 2)
        #expect(lanes.memoryPlan.offsets == one.memoryPlan.offsets)
        let inputBytes = 8 * Self.channels * Self.size * Self.size * 4, outputBytes = 8 * Self.classes * 4
        let io = MemoryPlanner.aligned(inputBytes) + MemoryPlanner.aligned(outputBytes)
        // The batch tail's region: the batch's pooled features (the Gemm's input) and its logits.
        let tail = MemoryPlanner.aligned(8 * Self.filters * 4) + MemoryPlanner.aligned(outputBytes)
        #expect(lanes.memoryPlan.arenaBytes == io + 2 * MemoryPlanner.aligned(one.memoryPlan.arenaBytes) + tail)
        #expect(lanes.memoryPlan.lowerBoundBytes == io + 2 * MemoryPlanner.aligned(one.memoryPlan.lowerBoundBytes) + tail)
    }

    /// A tail of a Gemm and a softmax over the classes, with the lanes' pooled features a second output: the
    /// lanes write the features, the tail the probabilities, both right, run after run.
    @Test func theBatchTailRunsTheClassifierOnceForTheBatch() throws {
        let softmax = HandBuiltGraphs.node("Softmax", .softmax(SoftmaxAttributes(axis: 1)), ["y"], ["out"])
        var model = Self.classifier(tail: [softmax], output: "out")
        model.graph.outputs.append(ValueInfo(name: "g", type: nil))
        let session = try Session(model: model, options: SessionOptions(batch: 6, threads: 2))
        #expect(session.imageLanes == 2)
        #expect(Self.tailOperators(session) == ["Gemm", "Softmax"])
        for scale: Float in [1, -2] {
            let input = Self.input(batch: 6).map { scale * $0 }
            let logits = Self.referenceLogits(model, input: input, batch: 6)
            var expected: [Double] = []
            for image in 0..<6 {
                let row = logits[(image * Self.classes)..<((image + 1) * Self.classes)]
                let largest = row.max()!
                let total = row.reduce(0) { $0 + exp($1 - largest) }
                expected += row.map { exp($0 - largest) / total }
            }
            Self.expectClose(try Self.run(session, input), expected, "probabilities, input x \(scale)")
            Self.expectClose(Self.floats(session, output: 1), Self.referencePooled(model, input: input, batch: 6),
                             "pooled features, input x \(scale)")
        }
    }

    /// A tail that would read a graph input is not taken: the lanes run the whole graph, and it is right.
    @Test func aTailReadingAGraphInputStaysInTheLanes() throws {
        let add = HandBuiltGraphs.node("Add", .binary(.add), ["y", "z"], ["out"])
        var model = Self.classifier(tail: [add], output: "out")
        model.graph.inputs.append(ValueInfo(name: "z", type: .tensor(.float, [.symbolic("N"), .fixed(Self.classes)])))
        let session = try Session(model: model, options: SessionOptions(batch: 4, threads: 2))
        #expect(session.imageLanes == 2)
        #expect(session.batchTail == nil)
        let input = Self.input(batch: 4)
        let offsets = (0..<(4 * Self.classes)).map { Float($0) / 8 - 1 }
        offsets.withUnsafeBytes { session.inputBuffer(at: 1).copyMemory(from: $0) }
        let logits = Self.referenceLogits(model, input: input, batch: 4)
        Self.expectClose(try Self.run(session, input), zip(logits, offsets).map { $0 + Double($1) }, "logits plus z")
    }

    /// Under a memory limit the lanes fit and the whole batch does not: lanes; under one neither fits: the
    /// error gives the lanes' need, the smaller.
    @Test func aMemoryLimitCountsTheLanes() throws {
        let model = Self.classifier()
        var layered = SessionOptions(batch: 8, threads: 2)
        layered.imageLanes = false
        let batchNeed = try Session.planMemory(model: model, options: layered).requiredBytes
        let lanes = try Session(model: model, options: SessionOptions(batch: 8, threads: 2))
        #expect(lanes.memoryPlan.arenaBytes < batchNeed)
        let fitting = try Session(model: model, options: SessionOptions(batch: 8, threads: 2, memoryLimit: batchNeed - 1))
        #expect(fitting.imageLanes == 2)
        let error = #expect(throws: RuntimeError.self) {
            try Session(model: model, options: SessionOptions(batch: 8, threads: 2, memoryLimit: 1024))
        }
        guard case .memoryLimitExceeded(let bytes, _, _)? = error else {
            Issue.record("expected memoryLimitExceeded, got \(String(describing: error))")
            return
        }
        #expect(bytes < batchNeed, "needs \(bytes), the batch \(batchNeed)")
    }
}
