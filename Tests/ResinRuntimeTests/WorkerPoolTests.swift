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
