import Testing
import TestSupport
@testable import ResinRuntime

@Suite struct SGEMMTests {
    @Test func multipliesSmallMatricesLikeTheDefinition() {
        // [[1, 2, 3], [4, 5, 6]] x [[7, 8], [9, 10], [11, 12]] = [[58, 64], [139, 154]].
        let a: [Float] = [1, 2, 3, 4, 5, 6]
        let b: [Float] = [7, 8, 9, 10, 11, 12]
        var c = [Float](repeating: 1, count: 4)
        sgemm(m: 2, n: 2, k: 3, a: a, lda: 3, b: b, ldb: 2, beta: 1, c: &c, ldc: 2)
        #expect(c == [59, 65, 140, 155])
        var t = [Float](repeating: 0, count: 4)
        // op(B) = B^T with B stored as 2 x 3: [[7, 9, 11], [8, 10, 12]].
        let bt: [Float] = [7, 9, 11, 8, 10, 12]
        sgemm(transposeB: .transposed, m: 2, n: 2, k: 3, a: a, lda: 3, b: bt, ldb: 3, c: &t, ldc: 2)
        #expect(t == [58, 64, 139, 154])
    }

    /// `beta = 1` accumulates onto C on every path: sgemv for one row, Resin's small loop, OpenBLAS, and
    /// the row and column splits over a pool (what in-place residual convolutions rely on).
    @Test(arguments: [(1, 300, 40), (8, 9, 7), (64, 48, 400), (64, 2048, 64), (2048, 64, 64)])
    func accumulatesOntoCWithBetaOne(m: Int, n: Int, k: Int) {
        var random = SplitMix64(seed: m * 31 + n)
        let a = random.floats(m * k), b = random.floats(k * n), c = random.floats(m * n)
        var expected = c
        for row in 0..<m {
            for column in 0..<n {
                var sum = Double(c[row * n + column])
                for inner in 0..<k { sum += Double(a[row * k + inner]) * Double(b[inner * n + column]) }
                expected[row * n + column] = Float(sum)
            }
        }
        for threads in [1, 2] {
            var actual = c
            parallelSGEMM(pool: WorkerPool(threads: threads), m: m, n: n, k: k, a: a, lda: k, b: b, ldb: n, beta: 1, c: &actual, ldc: n)
            expectClose(actual, expected, rtol: 1e-4, atol: 1e-4, "\(threads) threads")
        }
    }
}
