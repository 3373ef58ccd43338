import CResinKernels
import ResinIR

/// The shapes of an ONNX Gemm, resolved once per session.
public struct GemmGeometry: Equatable, Sendable {
    /// Rows of op(A) and of the output.
    public var m: Int
    /// Columns of op(B) and of the output.
    public var n: Int
    /// The inner dimension.
    public var k: Int
    public var transA: Bool
    public var transB: Bool
    public var alpha: Float
    public var beta: Float
    /// The shape of C, which broadcasts to `[m, n]`; nil when there is no C.
    public var biasShape: [Int]?

    /// Most rows of A (the batch of a classifier) the row product takes; more run on sgemm, whose packed
    /// kernels then reuse each block of B enough. ResNet-50's classifier (1000 x 2048), one thread, AVX-512,
    /// against OpenBLAS 0.3 in the same process: batch 1 0.30 ms against sgemv's 0.59, batch 4 0.36 against
    /// sgemm's 1.26, batch 8 0.62 to 0.71 against 2.2 or more, batch 16 1.2 against 7.7 (a busy machine).
    public static let rowProductBatchLimit = 16

    /// Whether the product runs on `resin_row_gemm_fn`: B transposed (`[n, k]`, a classifier's weights as
    /// stored) and few rows of A. Shapes alone decide.
    public var usesRowProduct: Bool { transB && !transA && m <= Self.rowProductBatchLimit && k > 0 }

    public init(m: Int, n: Int, k: Int, transA: Bool, transB: Bool, alpha: Float, beta: Float, biasShape: [Int]?) {
        self.m = m
        self.n = n
        self.k = k
        self.transA = transA
        self.transB = transB
        self.alpha = alpha
        self.beta = beta
        self.biasShape = biasShape
    }
}

extension Kernels {
    /// ONNX Gemm: `Y = alpha * op(A) * op(B) + beta * C`. C is broadcast into Y first, then one product
    /// accumulates onto it, so the bias costs one pass over the output. A classifier (B transposed, A with at
    /// most `rowProductBatchLimit` rows) runs on the row product of `instructionSet` (`resin_row_gemm_fn`),
    /// anything else on sgemm.
    public static func gemm(
        a: UnsafePointer<Float>, b: UnsafePointer<Float>, c: UnsafePointer<Float>?,
        output: UnsafeMutablePointer<Float>, geometry g: GemmGeometry, pool: WorkerPool? = nil,
        instructionSet: InstructionSet = .active
    ) {
        var accumulate: Float = 0
        if let c, let shape = g.biasShape, g.beta != 0 {
            fillBroadcast(c, shape: shape, scale: g.beta, rows: g.m, columns: g.n, into: output)
            accumulate = 1
        }
        if g.usesRowProduct {
            var problem = resin_row_gemm_problem(batch: g.m, rows: g.n, k: g.k, a: a, lda: g.k, w: b, ldw: g.k, y: output, ldy: g.n,
                                                 alpha: g.alpha, accumulate: accumulate == 1 ? 1 : 0)
            return rowProduct(&problem, pool: pool ?? .serial, instructionSet: instructionSet)
        }
        parallelSGEMM(pool: pool ?? .serial, transposeA: g.transA ? .transposed : .none, transposeB: g.transB ? .transposed : .none,
                      m: g.m, n: g.n, k: g.k, alpha: g.alpha,
                      a: a, lda: g.transA ? g.m : g.k, b: b, ldb: g.transB ? g.k : g.n,
                      beta: accumulate, c: output, ldc: g.n)
    }

    /// What every task of a split row product shares.
    private struct RowProductSplit {
        var problem: UnsafePointer<resin_row_gemm_problem>
        var kernel: resin_row_gemm_fn
        var block: Int
    }

    /// How many tasks a row product of `rows` x `k` weights and `batch` rows of A splits into on `threads`
    /// threads: one per 32 Ki multiply-adds, at most one per thread. ResNet-50's classifier (1000 x 2048) takes
    /// two on two threads: each core streams half of the 8 MB of weights (0.215 -> 0.180 ms with the cores close,
    /// 0.217 -> 0.116 apart, Zen 5, medians of 133 and 12 alternating profiles).
    static func rowProductTasks(rows: Int, k: Int, batch: Int, threads: Int) -> Int {
        // Parenthesised: Swift's `>>` binds tighter than `*`, and without them the shift applied to the batch
        // alone, so no classifier below 32 Ki images ever split.
        min(threads, max(1, (rows * k * max(1, batch)) >> 15))
    }

    /// The row product over the rows of W, split over the pool's threads in blocks of a multiple of 4 rows
    /// (the kernels' tile) when W is large enough to repay a dispatch (`rowProductTasks`).
    private static func rowProduct(_ problem: UnsafeMutablePointer<resin_row_gemm_problem>, pool: WorkerPool, instructionSet: InstructionSet) {
        let kernel = instructionSet.kernels.pointee.row_gemm!
        let rows = problem.pointee.rows
        let tasks = rowProductTasks(rows: rows, k: problem.pointee.k, batch: problem.pointee.batch, threads: pool.threads)
        guard tasks > 1 else { return kernel(problem, 0, rows) }
        var split = RowProductSplit(problem: UnsafePointer(problem), kernel: kernel, block: ((rows + tasks - 1) / tasks + 3) / 4 * 4)
        withUnsafePointer(to: &split) { context in
            pool.forEach(tasks, context: context) { raw, task in
                let s = raw.assumingMemoryBound(to: RowProductSplit.self).pointee
                let rows = s.problem.pointee.rows
                let first = min(rows, task * s.block)
                s.kernel(s.problem, first, min(rows, first + s.block))
            }
        }
    }

    /// Writes `scale * C` broadcast to `[rows, columns]`; C has rank 0, 1 or 2.
    static func fillBroadcast(
        _ c: UnsafePointer<Float>, shape: [Int], scale: Float, rows: Int, columns: Int, into output: UnsafeMutablePointer<Float>
    ) {
        let cRows = shape.count == 2 ? shape[0] : 1
        let cColumns = shape.isEmpty ? 1 : shape[shape.count - 1]
        for row in 0..<rows {
            let source = c + (cRows == 1 ? 0 : row) * cColumns
            let destination = output + row * columns
            if cColumns == 1 {
                destination.update(repeating: scale * source[0], count: columns)
            } else {
                for column in 0..<columns { destination[column] = scale * source[column] }
            }
        }
    }

    /// ONNX Gemm by its definition, in double precision: the reference for tests.
    public static func referenceGemm(
        a: UnsafePointer<Float>, b: UnsafePointer<Float>, c: UnsafePointer<Float>?,
        output: UnsafeMutablePointer<Float>, geometry g: GemmGeometry
    ) {
        for row in 0..<g.m {
            for column in 0..<g.n {
                var sum: Double = 0
                for inner in 0..<g.k {
                    let x = g.transA ? a[inner * g.m + row] : a[row * g.k + inner]
                    let y = g.transB ? b[column * g.k + inner] : b[inner * g.n + column]
                    sum += Double(x) * Double(y)
                }
                var value = Double(g.alpha) * sum
                if let c, let shape = g.biasShape {
                    let cRows = shape.count == 2 ? shape[0] : 1
                    let cColumns = shape.last ?? 1
                    value += Double(g.beta) * Double(c[(cRows == 1 ? 0 : row) * cColumns + (cColumns == 1 ? 0 : column)])
                }
                output[row * g.n + column] = Float(value)
            }
        }
    }
}

/// The shapes of an ONNX MatMul with broadcast batch dimensions, resolved once per session.
public struct MatMulGeometry: Equatable, Sendable {
    public var m: Int
    public var n: Int
    public var k: Int
    /// Element offsets of A, B and the output for each matrix of the broadcast batch.
    public var aOffsets: [Int]
    public var bOffsets: [Int]
    /// Set when A's batch is contiguous and B is one matrix: the whole product is one sgemm with
    /// `batch * m` rows.
    public var foldsBatchIntoRows: Bool

    /// Geometry for A of shape `aShape` and B of `bShape` (ranks >= 1, numpy matmul rules).
    public init(aShape: [Int], bShape: [Int]) {
        var a = aShape
        var b = bShape
        if a.count == 1 { a.insert(1, at: 0) }
        if b.count == 1 { b.append(1) }
        m = a[a.count - 2]
        k = a[a.count - 1]
        n = b[b.count - 1]
        let aBatch = Array(a.dropLast(2))
        let bBatch = Array(b.dropLast(2))
        let rank = max(aBatch.count, bBatch.count)
        let aPadded = Array(repeating: 1, count: rank - aBatch.count) + aBatch
        let bPadded = Array(repeating: 1, count: rank - bBatch.count) + bBatch
        let batch = zip(aPadded, bPadded).map { max($0, $1) }
        let count = batch.reduce(1, *)
        var aOffsets: [Int] = []
        var bOffsets: [Int] = []
        aOffsets.reserveCapacity(count)
        bOffsets.reserveCapacity(count)
        for index in 0..<count {
            var rest = index
            var aIndex = 0
            var bIndex = 0
            var aStride = 1
            var bStride = 1
            for axis in stride(from: rank - 1, through: 0, by: -1) {
                let coordinate = rest % batch[axis]
                rest /= batch[axis]
                if aPadded[axis] != 1 { aIndex += coordinate * aStride }
                if bPadded[axis] != 1 { bIndex += coordinate * bStride }
                aStride *= aPadded[axis]
                bStride *= bPadded[axis]
            }
            aOffsets.append(aIndex * m * k)
            bOffsets.append(bIndex * k * n)
        }
        self.aOffsets = aOffsets
        self.bOffsets = bOffsets
        foldsBatchIntoRows = bPadded.allSatisfy { $0 == 1 } && aPadded == batch
    }
}

extension Kernels {
    /// ONNX MatMul through sgemm, one call per broadcast batch matrix (or one for all of them).
    public static func matMul(
        a: UnsafePointer<Float>, b: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, geometry g: MatMulGeometry,
        pool: WorkerPool? = nil
    ) {
        let pool = pool ?? .serial
        if g.foldsBatchIntoRows {
            parallelSGEMM(pool: pool, m: g.m * g.aOffsets.count, n: g.n, k: g.k, a: a, lda: g.k, b: b, ldb: g.n, c: output, ldc: g.n)
            return
        }
        for index in 0..<g.aOffsets.count {
            parallelSGEMM(pool: pool, m: g.m, n: g.n, k: g.k, a: a + g.aOffsets[index], lda: g.k, b: b + g.bOffsets[index], ldb: g.n,
                          c: output + index * g.m * g.n, ldc: g.n)
        }
    }

    /// ONNX MatMul by its definition, in double precision: the reference for tests.
    public static func referenceMatMul(a: UnsafePointer<Float>, b: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, geometry g: MatMulGeometry) {
        for index in 0..<g.aOffsets.count {
            for row in 0..<g.m {
                for column in 0..<g.n {
                    var sum: Double = 0
                    for inner in 0..<g.k {
                        sum += Double(a[g.aOffsets[index] + row * g.k + inner]) * Double(b[g.bOffsets[index] + inner * g.n + column])
                    }
                    output[index * g.m * g.n + row * g.n + column] = Float(sum)
                }
            }
        }
    }
}
