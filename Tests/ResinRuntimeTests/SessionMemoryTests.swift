import Resin
import ResinIR
import Testing
import TestSupport
@testable import ResinRuntime

/// Sizes that come from a file's shapes are checked before anything is allocated: counts that do not fit
/// in 64 bits are errors naming the value, and a session needing more than its memory limit is refused.
@Suite struct SessionMemoryTests {
    typealias G = HandBuiltGraphs

    /// The fixture's model with its first input's declared shape replaced.
    static func model(_ fixture: String, inputShape: [Int]) throws -> Model {
        var model = try SessionTests.fixture(fixture).model
        let index = try #require(model.graph.inputs.firstIndex { $0.name == model.graph.runtimeInputs[0].name })
        model.graph.inputs[index].type = .tensor(.float, inputShape.map { .fixed($0) })
        return model
    }

    @Test func theLimitIsTheArenaFoldedConstantsAndPreparedFiltersExactly() throws {
        let (model, input, _) = try SessionTests.fixture("resnet-basic-v1.5")
        let memory = try Session.planMemory(model: model)
        #expect(memory.requiredBytes == memory.memoryPlan.arenaBytes + memory.foldedConstantBytes + memory.preparedWeightBytes)
        // resnet-basic-v1.5's convolutions have filters in the file (no prepared ones): their prepared forms count.
        #expect(memory.preparedWeightBytes >= model.graph.initializers.filter { $0.rank == 4 }.map { $0.storage.bytes.count }.reduce(0, +))
        #expect(memory.limit == SessionOptions.physicalMemoryBytes)
        #expect(memory.fits)
        // At the limit the session is made and runs; one byte under, it is refused before allocating.
        let exact = try Session(model: model, options: SessionOptions(memoryLimit: memory.requiredBytes))
        #expect(exact.memoryPlan == memory.memoryPlan)
        _ = try exact.run([exact.inputs[0].name: input])
        let under = memory.requiredBytes - 1
        #expect {
            try Session(model: model, options: SessionOptions(memoryLimit: under))
        } throws: { error in
            guard case RuntimeError.memoryLimitExceeded(let bytes, let limit, _) = error else { return false }
            return bytes == memory.requiredBytes && limit == under && "\(error)".contains("\(under) bytes")
        }
        let planned = try Session.planMemory(model: model, options: SessionOptions(memoryLimit: under))
        #expect(!planned.fits)
        #expect(planned.memoryPlan == memory.memoryPlan)
    }

    /// The file: a ResNet whose input declares a batch of 2^40. Its plan is made (without the
    /// 20 PB arena) and the session refused, naming the input and its bytes.
    @Test func aDimensionOf2To40IsPlannedAndRefusedNotAllocated() throws {
        let huge = 1 << 40
        let model = try Self.model("resnet-basic-v1.5", inputShape: [huge, 3, 64, 64])
        let memory = try Session.planMemory(model: model)
        let inputBytes = huge * 3 * 64 * 64 * 4
        #expect(memory.memoryPlan.arenaBytes >= inputBytes)
        #expect(!memory.fits)
        #expect {
            try Session(model: model)
        } throws: { error in
            let text = "\(error)"
            return text.contains("'input'") && text.contains("\(inputBytes) bytes") && text.contains("[\(huge), 3, 64, 64]")
        }
    }

    /// Two dimensions of 2^40 make a count past 2^63: an error naming the value, not a trap.
    @Test(arguments: [[1 << 40, 1 << 40, 8], [1 << 62, 3, 8, 8], [3, 1 << 62]])
    func countsPast64BitsAreErrorsNotTraps(shape: [Int]) throws {
        let model = G.model(nodes: [G.relu("x", "y")], inputs: [("x", shape)], outputs: ["y"], initializers: [])
        let expected = RuntimeError.sizeOverflow(value: "x", node: "", opType: "", dataType: .float, shape: shape)
        #expect(throws: expected) { try Session.planMemory(model: model) }
        #expect(throws: expected) { try Session(model: model) }
    }

    /// A dimension of 2^62 through every stage that multiplies shapes: inference, the cost `inspect`
    /// reports (multiply-accumulates past 2^63 are unknown, not a trap), and the session.
    @Test func aDimensionOf2To62DoesNotTrapAnywhere() throws {
        let huge = 1 << 62
        var random = SplitMix64(seed: 5)
        let model = G.model(
            nodes: [G.conv(["x", "w"], "c"), G.relu("c", "y")], inputs: [("x", [huge, 4, 8, 8])], outputs: ["y"],
            initializers: [G.weights("w", [8, 4, 3, 3], &random)])
        let facts = try model.graph.inferFacts()
        #expect(facts["y"]?.dimensions == [.fixed(huge), .fixed(8), .fixed(8), .fixed(8)])
        let cost = model.graph.cost(facts: facts)
        #expect(cost.multiplyAccumulates == nil)
        #expect(cost.parameters == 8 * 4 * 9)
        #expect(throws: RuntimeError.sizeOverflow(value: "x", node: "", opType: "", dataType: .float, shape: [huge, 4, 8, 8])) {
            try Session(model: model)
        }
    }

    /// A batch from the command line obeys the bound a file's own dimensions do.
    @Test func aBatchAboveTheMaximumIsRefused() throws {
        let (model, _, _) = try SessionTests.fixture("quirk-symbolic-batch")
        #expect(throws: RuntimeError.dimensionTooLarge(input: "input", dimension: 1 << 62)) {
            try Session(model: model, options: SessionOptions(batch: 1 << 62))
        }
    }

    /// A constant folded at compile time is sized before it is evaluated: ConstantOfShape asking for 2^40
    /// floats (4 TiB) is refused under the limit instead of allocating.
    @Test func foldedConstantsAreCheckedBeforeTheyAreAllocated() throws {
        let fill = ConstantOfShapeAttributes(value: .floats([1], shape: [1]))
        let model = G.model(
            nodes: [G.node("ConstantOfShape", .constantOfShape(fill), ["shape"], ["big"]),
                    G.node("Add", .binary(.add), ["x", "big"], ["y"])],
            inputs: [("x", [1])], outputs: ["y"],
            initializers: [.int64s([1 << 20, 1 << 20], shape: [2], name: "shape")])
        #expect {
            try Session(model: model, options: SessionOptions(memoryLimit: 1 << 30))
        } throws: { error in
            guard case RuntimeError.memoryLimitExceeded(let bytes, let limit, let what) = error else { return false }
            return bytes == (1 << 42) && limit == 1 << 30 && what.contains("'big'") && what.contains("ConstantOfShape")
        }
    }
}
