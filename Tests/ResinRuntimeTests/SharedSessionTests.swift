import Foundation
import Resin
import ResinIR
import Testing
import TestSupport
@testable import ResinRuntime

/// One session shared by several threads, each feeding its own input: every run that returns normally
/// returns its own input's output, bit for bit, and every other call is refused with `busy`.
///
/// The same input on every thread (as a first version of this check did) cannot tell a run that read
/// another caller's bytes from a correct one; distinct inputs can.
@Suite struct SharedSessionTests {
    /// What happened to one thread's calls.
    struct Tally: Sendable {
        var correct = 0
        var wrong = 0
        var busy = 0
        var otherErrors: [String] = []
    }

    /// An input of the fixture's shape filled from `seed`, distinct for every seed.
    static func input(like template: Tensor, seed: UInt64) -> Tensor {
        var random = SplitMix64(seed: seed)
        let values = (0..<template.shape.reduce(1, *)).map { _ in Float.random(in: -2...2, using: &random) }
        return Tensor.floats(values, shape: template.shape)
    }

    @Test(arguments: [(threads: 2, completions: 100), (threads: 4, completions: 50)])
    func everyReturnedOutputIsItsOwnInputs(threads: Int, completions: Int) throws {
        let (model, template, _) = try SessionTests.fixture("resnet-preact-v2")
        let name = model.graph.runtimeInputs[0].name
        let inputs = (0..<threads).map { Self.input(like: template, seed: UInt64(100 + $0)) }
        // References from a separate session, one input at a time: nothing shares it.
        let reference = try Session(model: model)
        let outputName = reference.outputs[0].name
        let expected = try inputs.map { try #require(try reference.run([name: $0])[outputName]) }
        for (index, output) in expected.enumerated().dropFirst() {
            try #require(output.storage.bytes.elementsEqual(expected[0].storage.bytes) == false,
                         "inputs 0 and \(index) give the same output: the check could not see a mix-up")
        }

        let shared = try Session(model: model)
        let tallies = LockedTallies(count: threads)
        let finished = DispatchGroup()
        for thread in 0..<threads {
            finished.enter()
            let worker = Thread {
                defer { finished.leave() }
                var tally = Tally()
                var attempts = 0
                // Every thread calls until `completions` of its runs returned (bounded, so a session that
                // starves a thread fails the check instead of hanging it).
                while tally.correct + tally.wrong < completions && attempts < 5_000_000 {
                    attempts += 1
                    do {
                        let output = try shared.run([name: inputs[thread]])[outputName]
                        if let output, output.storage.bytes.elementsEqual(expected[thread].storage.bytes) {
                            tally.correct += 1
                        } else {
                            tally.wrong += 1
                        }
                    } catch RuntimeError.busy {
                        tally.busy += 1
                    } catch {
                        tally.otherErrors.append("\(error)")
                        if tally.otherErrors.count >= 10 { break }
                    }
                }
                tallies.set(thread, tally)
            }
            worker.start()
        }
        finished.wait()

        let results = tallies.values
        let wrong = results.map(\.wrong).reduce(0, +)
        let correct = results.map(\.correct).reduce(0, +)
        #expect(wrong == 0, "\(wrong) runs returned normally with another input's (or a mixed) output; \(correct) were correct")
        for (thread, tally) in results.enumerated() {
            #expect(tally.otherErrors.isEmpty, "thread \(thread): \(tally.otherErrors.prefix(3))")
            #expect(tally.correct == completions, "thread \(thread) completed \(tally.correct) correct runs of \(completions) (\(tally.busy) refused)")
        }
        #expect(correct + wrong == threads * completions, "\(correct + wrong) runs completed")
    }
}

/// Per-thread tallies written once each from the worker threads.
final class LockedTallies: @unchecked Sendable {
    private let lock = NSLock()
    private var storage: [SharedSessionTests.Tally]
    init(count: Int) { storage = Array(repeating: SharedSessionTests.Tally(), count: count) }
    func set(_ index: Int, _ tally: SharedSessionTests.Tally) { lock.lock(); storage[index] = tally; lock.unlock() }
    var values: [SharedSessionTests.Tally] { lock.lock(); defer { lock.unlock() }; return storage }
}
