import CAllocationCounter
import Foundation
import Resin
import ResinIR
import ResinONNX
import Testing
import TestSupport
@testable import ResinRuntime

/// Sessions on the bundled fixtures against ONNX Runtime's stored outputs.
@Suite struct SessionTests {
    /// A fixture's model, first input and expected first output.
    static func fixture(_ name: String) throws -> (model: Model, input: Tensor, expected: Tensor) {
        let folder = TestPaths.fixtures + "/" + name
        let model = try ONNXImporter.importModel(atPath: folder + "/model.onnx")
        let input = try TensorFile.read(path: folder + "/test_data_set_0/input_0.pb")
        let expected = try TensorFile.read(path: folder + "/test_data_set_0/output_0.pb")
        return (model, input, expected)
    }

    static let runnable = TestPaths.fixtureNames.filter { $0 != "quirk-proto-edge-cases" }

    @Test(arguments: runnable)
    func matchesONNXRuntime(_ name: String) throws {
        let (model, input, expected) = try Self.fixture(name)
        let inputName = model.graph.runtimeInputs[0].name
        let session = try Session(model: model, options: SessionOptions(threads: 1, inputShapes: [inputName: input.shape]))
        let outputs = try session.run([inputName: input])
        let actual = try #require(outputs[session.outputs[0].name])
        let comparison = TensorComparison(actual: actual, expected: expected, rtol: 1e-4, atol: 1e-4)
        #expect(comparison.passed, "max abs \(comparison.maxAbsoluteError), max rel \(comparison.maxRelativeError) at \(comparison.worstIndex)")
    }

    @Test(arguments: [1, 2])
    func repeatedRunsAreBitIdenticalAndAllocateNothing(threads: Int) throws {
        let (model, input, _) = try Self.fixture("resnet-bottleneck-v1.5")
        // Joined before the session exists, so that its pool's threads are counted with this one.
        resin_allocation_group_join()
        defer { resin_allocation_group_leave() }
        let session = try Session(model: model, options: SessionOptions(threads: threads))
        let destination = session.inputBuffer(at: 0)
        destination.copyMemory(from: input.storage.bytes)
        try session.run()
        let first = Array(session.outputBuffer(at: 0))
        resin_allocation_counting_begin()
        for _ in 0..<100 { try session.run() }
        let allocations = resin_allocation_counting_end()
        // Counted except in sanitizer builds, whose runtime owns malloc (the outputs are still compared).
        if resin_allocation_counting_available() != 0 { #expect(allocations == 0, "\(allocations) heap allocations in 100 runs after the first") }
        #expect(Array(session.outputBuffer(at: 0)) == first)
    }

    /// One thread against two: both match ONNX Runtime, repeated runs at one thread count are bit-identical,
    /// and the two counts differ by rounding only. Splitting the work changes at most the order of fp32 sums
    /// of a few thousand terms, which moves a result by far less than 1e-5 of the output's largest magnitude;
    /// a chunk lost or done twice moves it by a sizeable fraction of it.
    @Test func threadCountChangesOnlyRounding() throws {
        let (model, input, expected) = try Self.fixture("resnext")
        let name = model.graph.runtimeInputs[0].name
        var results: [[Float]] = []
        for threads in [1, 2] {
            let session = try Session(model: model, options: SessionOptions(threads: threads))
            let first = try #require(session.run([name: input])[session.outputs[0].name])
            let again = try #require(session.run([name: input])[session.outputs[0].name])
            #expect(TensorComparison(actual: first, expected: expected, rtol: 1e-4, atol: 1e-4).passed, "\(threads) threads")
            let values = try #require(first.floatValues)
            #expect(values.map(\.bitPattern) == again.floatValues?.map(\.bitPattern), "repeated runs at \(threads) threads")
            results.append(values)
        }
        #expect(results[0].count == results[1].count)
        let scale = results[0].map(abs).max() ?? 0
        let largest = zip(results[0], results[1]).map { abs($0 - $1) }.max() ?? .infinity
        #expect(scale > 0 && largest <= 1e-5 * scale, "one and two threads differ by \(largest), output magnitude \(scale)")
    }

    @Test func symbolicBatchBindsToTheGivenBatch() throws {
        let (model, input, expected) = try Self.fixture("quirk-symbolic-batch")
        #expect(input.shape[0] == 2)
        let session = try Session(model: model, options: SessionOptions(batch: 2))
        #expect(session.inputs[0].shape == input.shape)
        #expect(session.outputs[0].shape == expected.shape)
        let four = try Session(model: model, options: SessionOptions(batch: 4))
        #expect(four.inputs[0].shape[0] == 4)
        #expect(four.outputs[0].shape[0] == 4)
    }

    @Test func wrongInputShapeNamesTheInputAndBothShapes() throws {
        let (model, _, _) = try Self.fixture("resnet-basic-v1.5")
        let session = try Session(model: model)
        let wrong = Tensor.floats(Array(repeating: 0, count: 3 * 32 * 32), shape: [1, 3, 32, 32])
        #expect {
            try session.run([session.inputs[0].name: wrong])
        } throws: { error in
            let text = "\(error)"
            return text.contains("'\(session.inputs[0].name)'") && text.contains("[1, 3, 64, 64]") && text.contains("[1, 3, 32, 32]")
        }
    }

    @Test func concurrentRunsAreRefusedNotCorrupted() throws {
        let (model, input, expected) = try Self.fixture("resnet-preact-v2")
        let name = model.graph.runtimeInputs[0].name
        let session = try Session(model: model)
        let results = LockedResults()
        DispatchQueue.concurrentPerform(iterations: 8) { _ in
            do {
                let output = try session.run([name: input])[session.outputs[0].name]!
                results.record(TensorComparison(actual: output, expected: expected, rtol: 1e-4, atol: 1e-4).passed ? "ok" : "wrong")
            } catch RuntimeError.busy {
                results.record("busy")
            } catch {
                results.record("error")
            }
        }
        // Every run either produced the right answer or was refused; none produced a wrong one.
        #expect(results.values.allSatisfy { $0 == "ok" || $0 == "busy" })
        #expect(results.values.contains("ok"))
    }

    @Test func unsupportedOperatorsAreAllListed() throws {
        var model = try Self.fixture("resnet-basic-v1.5").model
        for index in [3, 5, 7] {
            let opType = index == 5 ? "HardSwish" : "Erf"
            model.graph.nodes[index].opType = opType
            model.graph.nodes[index].op = .unsupported(UnsupportedOperator(opType: opType, domain: ""))
        }
        #expect {
            try Session(model: model)
        } throws: { error in
            let text = "\(error)"
            return text.contains("Erf (2 nodes") && text.contains("HardSwish (1 node")
        }
    }
}

final class LockedResults: @unchecked Sendable {
    private let lock = NSLock()
    private var storage: [String] = []
    func record(_ value: String) { lock.lock(); storage.append(value); lock.unlock() }
    var values: [String] { lock.lock(); defer { lock.unlock() }; return storage }
}
