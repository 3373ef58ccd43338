import Foundation
import Resin
import Testing
import TestSupport

/// One `InferenceSession` shared by 8 threads and by 8 tasks, each feeding distinct seeded inputs: every
/// output equals, bit for bit, what a separate session made with the same options returns for that input
/// alone, the pool never holds more arenas than `maxConcurrentRuns`, and callers that will not wait get
/// `ResinError.busy` and nothing else. `tools/sanitize` runs this suite under ThreadSanitizer (its filter
/// matches `Concurren`).
@Suite struct InferenceSessionConcurrencyTests {
    static let fixture = "resnet-preact-v2"
    static let callers = 8
    /// 200 runs per caller, the figure, with and without ThreadSanitizer.
    static let runsPerCaller = 200
    /// Inputs per caller, used round-robin: distinct across callers and within one caller's runs.
    static let inputsPerCaller = 4

    /// The model, its names, every caller's inputs and their outputs from a separate session.
    struct Case: Sendable {
        var model: Model
        var inputName: String
        var outputName: String
        var inputs: [[Tensor]]
        var expected: [[Tensor]]

        init(options: InferenceSession.Options) throws {
            model = try Model(contentsOf: APIFixture.modelPath(InferenceSessionConcurrencyTests.fixture))
            inputName = model.inputs[0].name
            outputName = model.outputs[0].name
            let shape = try APIFixture.sizes(model.inputs[0].shape)
            let perCaller = InferenceSessionConcurrencyTests.inputsPerCaller
            inputs = try (0..<InferenceSessionConcurrencyTests.callers).map { caller in
                try (0..<perCaller).map { try APIFixture.input(shape: shape, seed: UInt64(1000 + caller * perCaller + $0)) }
            }
            // References one at a time from a session nobody else uses, compiled the same way (same batch
            // and threads, so the same kernels and summation order).
            var single = options
            single.maxConcurrentRuns = 1
            let reference = try InferenceSession(model: model, options: single)
            let outputName = outputName, inputName = inputName
            expected = try inputs.map { row in try row.map { try #require(try reference.run([inputName: $0])[outputName]) } }
            let distinct = Set(expected.joined().map { $0.withUnsafeBytes { Array($0) } })
            try #require(distinct.count == expected.joined().count, "two inputs give the same output: a mix-up could pass unseen")
        }
    }

    /// What one caller saw.
    struct Tally: Sendable {
        var correct = 0
        var wrong = 0
        var busy = 0
        var otherErrors: [String] = []
    }

    /// One caller's runs, synchronous; `attempts` bounds callers that are refused.
    static func callRepeatedly(_ session: InferenceSession, _ testCase: Case, caller: Int, completions: Int) -> Tally {
        var tally = Tally()
        var attempts = 0
        while tally.correct + tally.wrong < completions, attempts < 2_000_000, tally.otherErrors.count < 10 {
            let which = attempts % inputsPerCaller
            attempts += 1
            do {
                let output = try session.run([testCase.inputName: testCase.inputs[caller][which]])[testCase.outputName]
                if output == testCase.expected[caller][which] { tally.correct += 1 } else { tally.wrong += 1 }
            } catch .busy {
                tally.busy += 1
            } catch {
                tally.otherErrors.append("\(error)")
            }
        }
        return tally
    }

    static func check(_ tallies: [Tally], completions: Int, sourceLocation: SourceLocation = #_sourceLocation) {
        let wrong = tallies.map(\.wrong).reduce(0, +)
        #expect(wrong == 0, "\(wrong) runs returned another input's (or a mixed) output", sourceLocation: sourceLocation)
        for (caller, tally) in tallies.enumerated() {
            #expect(tally.otherErrors.isEmpty, "caller \(caller): \(tally.otherErrors.prefix(3))", sourceLocation: sourceLocation)
            #expect(tally.correct == completions, "caller \(caller): \(tally.correct) of \(completions) correct", sourceLocation: sourceLocation)
        }
    }

    /// 8 threads x 200 waiting runs on a pool of 3 arenas.
    @Test func threadsGetTheirOwnOutputs() throws {
        let options = InferenceSession.Options(threads: 1, maxConcurrentRuns: 3)
        let testCase = try Case(options: options)
        let session = try InferenceSession(model: testCase.model, options: options)
        let tallies = Tallies(count: Self.callers)
        let finished = DispatchGroup()
        for caller in 0..<Self.callers {
            finished.enter()
            Thread {
                tallies.set(caller, Self.callRepeatedly(session, testCase, caller: caller, completions: Self.runsPerCaller))
                finished.leave()
            }.start()
        }
        finished.wait()
        Self.check(tallies.values, completions: Self.runsPerCaller)
        #expect(tallies.values.allSatisfy { $0.busy == 0 }, "waiting callers were refused")
        let statistics = session.poolStatistics
        #expect(statistics.created <= 3 && statistics.peakLent <= 3, "pool went past 3 arenas: \(statistics)")
        #expect(statistics.lent == 0, "arenas still lent after every run returned: \(statistics)")
    }

    /// 8 tasks x 200 runs through the async API; waiting suspends the tasks, so this also passes with more
    /// tasks than cooperative threads.
    @Test func tasksGetTheirOwnOutputs() async throws {
        let options = InferenceSession.Options(threads: 1, maxConcurrentRuns: 2)
        let testCase = try Case(options: options)
        let session = try InferenceSession(model: testCase.model, options: options)
        let runs = Self.runsPerCaller
        let tallies = await withTaskGroup(of: (Int, Tally).self) { group in
            for caller in 0..<Self.callers {
                group.addTask {
                    var tally = Tally()
                    for run in 0..<runs {
                        let which = run % Self.inputsPerCaller
                        do {
                            let output = try await session.run([testCase.inputName: testCase.inputs[caller][which]])[testCase.outputName]
                            if output == testCase.expected[caller][which] { tally.correct += 1 } else { tally.wrong += 1 }
                        } catch {
                            tally.otherErrors.append("\(error)")
                        }
                    }
                    return (caller, tally)
                }
            }
            var tallies = [Tally](repeating: Tally(), count: Self.callers)
            for await (caller, tally) in group { tallies[caller] = tally }
            return tallies
        }
        Self.check(tallies, completions: runs)
        let statistics = session.poolStatistics
        #expect(statistics.created <= 2 && statistics.peakLent <= 2, "pool went past 2 arenas: \(statistics)")
    }

    /// Callers that will not wait: each call either returns its own output or throws `busy`, the pool stays
    /// at 2 arenas, and every refusal was counted by the pool.
    @Test func nonWaitingCallersAreRefusedWithBusy() throws {
        let options = InferenceSession.Options(threads: 1, maxConcurrentRuns: 2, waitsForFreeArena: false)
        let testCase = try Case(options: options)
        let session = try InferenceSession(model: testCase.model, options: options)
        let completions = Self.runsPerCaller / 4
        let tallies = Tallies(count: Self.callers)
        let finished = DispatchGroup()
        for caller in 0..<Self.callers {
            finished.enter()
            Thread {
                tallies.set(caller, Self.callRepeatedly(session, testCase, caller: caller, completions: completions))
                finished.leave()
            }.start()
        }
        finished.wait()
        Self.check(tallies.values, completions: completions)
        let statistics = session.poolStatistics
        #expect(statistics.created <= 2 && statistics.peakLent <= 2, "pool went past 2 arenas: \(statistics)")
        #expect(statistics.refused == tallies.values.map(\.busy).reduce(0, +))
    }

    /// With the one arena lent out, a non-waiting run is refused with `busy` at once; once the arena is back,
    /// the same call runs (checked deterministically by holding the arena instead of racing a run).
    @Test func busyIsTypedAndFreedArenasServeAgain() throws {
        let options = InferenceSession.Options(threads: 1, maxConcurrentRuns: 1, waitsForFreeArena: false)
        let testCase = try Case(options: options)
        let refusing = try InferenceSession(model: testCase.model, options: options)
        let input = [testCase.inputName: testCase.inputs[0][0]]
        try refusing.holdingArena {
            #expect(throws: ResinError.busy(maxConcurrentRuns: 1)) { try refusing.run(input) }
        }
        #expect(try refusing.run(input)[testCase.outputName] == testCase.expected[0][0])
    }
}

/// Per-caller tallies written once each from the worker threads.
final class Tallies: @unchecked Sendable {
    private let lock = NSLock()
    private var storage: [InferenceSessionConcurrencyTests.Tally]
    init(count: Int) { storage = Array(repeating: .init(), count: count) }
    func set(_ index: Int, _ tally: InferenceSessionConcurrencyTests.Tally) { lock.lock(); storage[index] = tally; lock.unlock() }
    var values: [InferenceSessionConcurrencyTests.Tally] { lock.lock(); defer { lock.unlock() }; return storage }
}
