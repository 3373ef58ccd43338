import COpenBLAS

/// Whether a GEMM operand is read as stored or transposed.
public enum MatrixTranspose: Sendable {
    case none
    case transposed

    @usableFromInline var cblas: CBLAS_TRANSPOSE { self == .none ? CblasNoTrans : CblasTrans }
}

/// Products at or below this many multiply-accumulates, untransposed, run in Resin's own loop: OpenBLAS
/// sends them to its small-matrix kernels, which allocate a packing buffer on every call (OpenBLAS
/// 0.3.21 on AVX-512 machines), and a session must not touch the heap while it runs.
@usableFromInline let smallProductLimit = 1 << 20

/// `C = alpha * op(A) * op(B) + beta * C` on row-major float matrices: the one wrapper over cblas_sgemm.
///
/// `op(A)` is `m x k`, `op(B)` is `k x n`, `C` is `m x n`; leading dimensions are the row strides of the
/// matrices as stored. The caller guarantees the pointers cover those extents.
@inlinable
public func sgemm(
    transposeA: MatrixTranspose = .none, transposeB: MatrixTranspose = .none,
    m: Int, n: Int, k: Int, alpha: Float = 1,
    a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
    beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
) {
    if m == 0 || n == 0 { return }
    if m == 1, k > 0 {
        // One row: a matrix-vector product, bound by reading B once; sgemv streams it without packing.
        let transposed = transposeB == .none
        cblas_sgemv(CblasRowMajor, transposed ? CblasTrans : CblasNoTrans,
                    blasint(transposed ? k : n), blasint(transposed ? n : k), alpha, b, blasint(ldb),
                    a, blasint(transposeA == .none ? 1 : lda), beta, c, 1)
        return
    }
    if transposeA == .none, transposeB == .none, m * n * k <= smallProductLimit {
        smallSGEMM(m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
        return
    }
    cblas_sgemm(CblasRowMajor, transposeA.cblas, transposeB.cblas, blasint(m), blasint(n), blasint(k),
                alpha, a, blasint(lda), b, blasint(ldb), beta, c, blasint(ldc))
}

/// Row-major `C = alpha * A * B + beta * C` for small products: each row of C accumulates scaled rows of
/// B, an inner loop over contiguous memory that the compiler vectorises.
@usableFromInline
func smallSGEMM(
    m: Int, n: Int, k: Int, alpha: Float, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
    beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
) {
    for row in 0..<m {
        let out = c + row * ldc
        if beta == 0 {
            out.update(repeating: 0, count: n)
        } else if beta != 1 {
            for column in 0..<n { out[column] *= beta }
        }
        let left = a + row * lda
        for inner in 0..<k {
            let scale = alpha * left[inner]
            if scale == 0 { continue }
            let source = b + inner * ldb
            for column in 0..<n { out[column] += scale * source[column] }
        }
    }
}

/// One slice of a GEMM split over a pool: the arguments every task shares.
private struct GEMMSplit {
    var transposeA: MatrixTranspose
    var transposeB: MatrixTranspose
    var m: Int, n: Int, k: Int
    var alpha: Float, beta: Float
    var a: UnsafePointer<Float>, lda: Int
    var b: UnsafePointer<Float>, ldb: Int
    var c: UnsafeMutablePointer<Float>, ldc: Int
    /// Rows (when splitting rows) or columns per task.
    var block: Int
    var splitsRows: Bool
}

/// `sgemm` split over a worker pool: rows of C when there are more rows than columns, else columns,
/// in blocks large enough to keep OpenBLAS's single-threaded kernels efficient.
public func parallelSGEMM(
    pool: WorkerPool, transposeA: MatrixTranspose = .none, transposeB: MatrixTranspose = .none,
    m: Int, n: Int, k: Int, alpha: Float = 1,
    a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
    beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
) {
    let threads = pool.threads
    // Below a few million multiply-accumulates the dispatch costs more than it saves, unless the product
    // streams a large matrix (a classifier's vector-matrix product), which two cores read faster.
    if threads == 1 || (m * n * k < 4 << 20 && k * n < 1 << 20) {
        sgemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda,
              b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
        return
    }
    let splitsRows = m >= n
    // Column blocks a multiple of 16 wide keep the kernels' vector loads aligned to their panels.
    let block = splitsRows ? (m + threads - 1) / threads : ((n + threads - 1) / threads + 15) / 16 * 16
    var split = GEMMSplit(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha, beta: beta,
                          a: a, lda: lda, b: b, ldb: ldb, c: c, ldc: ldc, block: block, splitsRows: splitsRows)
    withUnsafePointer(to: &split) { context in
        pool.forEach(threads, context: context) { raw, task in
            let s = raw.assumingMemoryBound(to: GEMMSplit.self).pointee
            let first = task * s.block
            if s.splitsRows {
                let rows = min(s.block, s.m - first)
                guard rows > 0 else { return }
                let aBlock = s.transposeA == .none ? s.a + first * s.lda : s.a + first
                sgemm(transposeA: s.transposeA, transposeB: s.transposeB, m: rows, n: s.n, k: s.k, alpha: s.alpha,
                      a: aBlock, lda: s.lda, b: s.b, ldb: s.ldb, beta: s.beta, c: s.c + first * s.ldc, ldc: s.ldc)
            } else {
                let columns = min(s.block, s.n - first)
                guard columns > 0 else { return }
                let bBlock = s.transposeB == .none ? s.b + first : s.b + first * s.ldb
                sgemm(transposeA: s.transposeA, transposeB: s.transposeB, m: s.m, n: columns, k: s.k, alpha: s.alpha,
                      a: s.a, lda: s.lda, b: bBlock, ldb: s.ldb, beta: s.beta, c: s.c + first, ldc: s.ldc)
            }
        }
    }
}
