import Testing
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
}
