import COpenBLAS

/// Whether a GEMM operand is read as stored or transposed.
public enum MatrixTranspose: Sendable {
    case none
    case transposed

    @usableFromInline var cblas: CBLAS_TRANSPOSE { self == .none ? CblasNoTrans : CblasTrans }
}

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
    cblas_sgemm(CblasRowMajor, transposeA.cblas, transposeB.cblas, blasint(m), blasint(n), blasint(k),
                alpha, a, blasint(lda), b, blasint(ldb), beta, c, blasint(ldc))
}
