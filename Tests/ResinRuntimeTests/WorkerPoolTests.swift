import CResinKernels
import Synchronization
import Testing
import TestSupport
@testable import ResinRuntime

@Suite struct WorkerPoolTests {
    @Test(arguments: [1, 2, 3])
    func everyTaskRunsExactlyOnce(threads: Int) {
        let pool = WorkerPool(threads: threads)
        var hits = [Int](repeating: 0, count: 1000)
        var expected = [Int](repeating: 0, count: 1000)
        for round in 0..<50 {
            let count = 1 + round * 17 % 1000
            for task in 0..<count { expected[task] += 1 }
            hits.withUnsafeMutableBufferPointer { buffer in
                let base = buffer.baseAddress!
                withUnsafePointer(to: base) { context in
                    pool.forEach(count, context: context) { raw, task in
                        raw.assumingMemoryBound(to: UnsafeMutablePointer<Int>.self).pointee[task] += 1
                    }
                }
            }
        }
        #expect(hits == expected)
    }

    /// Four threads dispatching on one pool at once (as parallel test cases sharing a static pool did) each get
    /// every one of their tasks run exactly once, and a task that dispatches on its own pool gets its inner
    /// tasks run too. Before callers were serialised, a second caller's job replaced the first one's while the
    /// workers ran it: outputs were left unwritten, and this test hung.
    @Test func concurrentCallersEachGetAllTheirTasks() async {
        let pool = WorkerPool(threads: 3)
        let callers = 4, rounds = 300, count = 64
        let tallies = await withTaskGroup(of: [Int].self) { group in
            for _ in 0..<callers {
                group.addTask {
                    var hits = [Int](repeating: 0, count: count)
                    for _ in 0..<rounds {
                        hits.withUnsafeMutableBufferPointer { buffer in
                            withUnsafePointer(to: buffer.baseAddress!) { context in
                                pool.forEach(count, context: context) { raw, task in
                                    raw.assumingMemoryBound(to: UnsafeMutablePointer<Int>.self).pointee[task] += 1
                                }
                            }
                        }
                    }
                    return hits
                }
            }
            return await group.reduce(into: [[Int]]()) { $0.append($1) }
        }
        #expect(tallies.count == callers)
        for hits in tallies { #expect(hits == [Int](repeating: rounds, count: count)) }

        // A task that dispatches again on its pool: the inner tasks run on the task's own thread.
        struct Nested { var pool: WorkerPool; var inner: UnsafeMutablePointer<Int> }
        var inner = [Int](repeating: 0, count: 4 * 8)
        inner.withUnsafeMutableBufferPointer { buffer in
            var nested = Nested(pool: pool, inner: buffer.baseAddress!)
            withUnsafePointer(to: &nested) { context in
                pool.forEach(4, context: context) { raw, outer in
                    let nested = raw.assumingMemoryBound(to: Nested.self).pointee
                    var slice = nested.inner + outer * 8
                    withUnsafePointer(to: &slice) { context in
                        nested.pool.forEach(8, context: context) { raw, task in
                            raw.assumingMemoryBound(to: UnsafeMutablePointer<Int>.self).pointee[task] += 1
                        }
                    }
                }
            }
        }
        #expect(inner == [Int](repeating: 1, count: 4 * 8))
    }

    /// The probe of a pool's own threads (`probeCoreDistance`): a pool of one has nothing to measure; a pool of
    /// two measures a round trip and sets `coresApart` from it, or from `fixedDistance` when that is set; and
    /// each side of the probe gives up when the other never answers (the pool may run both tasks on one
    /// thread), so a probe cannot hang.
    @Test func probeMeasuresTheRoundTripBetweenThePoolsThreads() throws {
        #expect(WorkerPool.serial.probeCoreDistance() == nil)
        let pool = WorkerPool(threads: 2)
        pool.fixedDistance = nil
        var measured: Double?
        // While parallel tests keep the cores busy, the other thread may wait for one longer than a session's
        // probe waits (50 microseconds): here each side waits up to 50 ms, a few scheduler time slices.
        for _ in 0..<50 where measured == nil { measured = pool.probeCoreDistance(timeout: 0.05) }
        // No upper bound: with the cores busy, the other thread may lose its core for milliseconds in every batch.
        let nanoseconds = try #require(measured)
        #expect(nanoseconds > 0)
        #expect(pool.coresApart == (nanoseconds > WorkerPool.apartNanoseconds))
        for fixed in [true, false] {
            pool.fixedDistance = fixed
            pool.coresApart = !fixed
            #expect(pool.probeCoreDistance() == nil)
            #expect(pool.coresApart == fixed)
        }
        for role in [0, 1] {
            var probe = resin_core_probe(turn: 0, nanoseconds: 0)
            resin_core_probe_task(&probe, role, 1e-3)
            if role == 0 { #expect(probe.nanoseconds == -1, "the measuring side alone has no round trip") }
        }
    }

    @Test func parallelGEMMMatchesSerial() {
        var random = SplitMix64(seed: 11)
        for (m, n, k) in [(300, 200, 90), (40, 900, 150), (1000, 9, 600)] {
            let a = random.floats(m * k), b = random.floats(k * n)
            var serial = [Float](repeating: 0, count: m * n)
            var parallel = serial
            sgemm(m: m, n: n, k: k, a: a, lda: k, b: b, ldb: n, c: &serial, ldc: n)
            parallelSGEMM(pool: WorkerPool(threads: 2), m: m, n: n, k: k, a: a, lda: k, b: b, ldb: n, c: &parallel, ldc: n)
            expectClose(parallel, serial, rtol: 1e-5, atol: 1e-5)
        }
    }
}
