import Testing
import TestSupport
@testable import ResinRuntime

/// The classifier Gemm's row product (row_gemm_*.c) under every instruction set, against the double-precision
/// definition.
@Suite struct RowProductTests {
    static let pools = [WorkerPool.serial, WorkerPool(threads: 2), WorkerPool(threads: 3)]

    /// Batch 1 to 3 and 9 (two tiles of 4 and a remainder), k and the rows of W not multiples of the vector
    /// width, 4-row tile or 32, every bias form Gemm broadcasts, alpha and beta; W large enough in the last
    /// cases that 2 and 3 threads split its rows.
    @Test(arguments: [(1, 7, 5), (2, 33, 37), (3, 13, 100), (9, 6, 17), (1, 1001, 70), (9, 203, 300), (3, 130, 2048)])
    func matchesReference(batch: Int, rows: Int, k: Int) throws {
        var random = SplitMix64(seed: batch * 7919 + rows * 31 + k)
        let biasShapes: [[Int]?] = [nil, [], [rows], [1, rows], [batch, 1], [batch, rows]]
        for (index, biasShape) in biasShapes.enumerated() {
            let geometry = GemmGeometry(m: batch, n: rows, k: k, transA: false, transB: true, alpha: index % 2 == 0 ? 1 : 0.75,
                                        beta: index == 3 ? 0.5 : 1, biasShape: biasShape)
            #expect(geometry.usesRowProduct)
            if rows * k * batch >= 70_000 {
                #expect(Kernels.rowProductTasks(rows: rows, k: k, batch: batch, threads: 2) == 2)
                #expect(Kernels.rowProductTasks(rows: rows, k: k, batch: batch, threads: 3) >= 2)
            }
            let a = random.floats(batch * k), w = random.floats(rows * k)
            let c = biasShape.map { random.floats(max(1, $0.reduce(1, *))) }
            var expected = [Float](repeating: .nan, count: batch * rows)
            c.withOptionalPointer { c in Kernels.referenceGemm(a: a, b: w, c: c, output: &expected, geometry: geometry) }
            for instructionSet in InstructionSet.supported {
                for pool in Self.pools {
                    var y = [Float](repeating: .nan, count: batch * rows)
                    c.withOptionalPointer { c in
                        Kernels.gemm(a: a, b: w, c: c, output: &y, geometry: geometry, pool: pool, instructionSet: instructionSet)
                    }
                    expectClose(y, expected, rtol: 1e-5, atol: 1e-5 * Float(k).squareRoot(),
                                "\(instructionSet), \(pool.threads) threads, batch \(batch), \(rows) x \(k), bias \(String(describing: biasShape))")
                }
            }
        }
    }

    /// A classifier's weights are split over the threads at batch 1 as at a larger batch, and a small product
    /// stays on one.
    @Test func classifierSplitsOverThreads() {
        #expect(Kernels.rowProductTasks(rows: 1000, k: 2048, batch: 1, threads: 2) == 2)
        #expect(Kernels.rowProductTasks(rows: 1000, k: 2048, batch: 8, threads: 3) == 3)
        #expect(Kernels.rowProductTasks(rows: 1000, k: 2048, batch: 1, threads: 1) == 1)
        #expect(Kernels.rowProductTasks(rows: 10, k: 64, batch: 1, threads: 2) == 1)
    }

    /// The thread split never changes a bit: every output sums in the same order whatever the tile it falls in.
    @Test func splitsGiveTheSameBits() throws {
        var random = SplitMix64(seed: 5)
        let geometry = GemmGeometry(m: 5, n: 1003, k: 517, transA: false, transB: true, alpha: 1, beta: 1, biasShape: [1003])
        let a = random.floats(5 * 517), w = random.floats(1003 * 517), c = random.floats(1003)
        for instructionSet in InstructionSet.supported {
            let outputs = Self.pools.map { pool in
                var y = [Float](repeating: .nan, count: 5 * 1003)
                Kernels.gemm(a: a, b: w, c: c, output: &y, geometry: geometry, pool: pool, instructionSet: instructionSet)
                return y.map(\.bitPattern)
            }
            #expect(outputs.allSatisfy { $0 == outputs[0] }, "\(instructionSet)")
        }
    }

    /// Only B transposed with few rows of A takes the row product; the others (and a batch past the limit)
    /// stay on sgemm and still match the definition.
    @Test func otherGemmsStayOnSgemm() throws {
        let limit = GemmGeometry.rowProductBatchLimit
        let cases: [(m: Int, transA: Bool, transB: Bool)] = [(2, false, false), (2, true, true), (limit + 1, false, true)]
        var random = SplitMix64(seed: 11)
        for (m, transA, transB) in cases {
            let geometry = GemmGeometry(m: m, n: 19, k: 23, transA: transA, transB: transB, alpha: 1, beta: 1, biasShape: [19])
            #expect(!geometry.usesRowProduct, "\(m) \(transA) \(transB)")
            let a = random.floats(m * 23), b = random.floats(23 * 19), c = random.floats(19)
            var y = [Float](repeating: .nan, count: m * 19), expected = y
            Kernels.gemm(a: a, b: b, c: c, output: &y, geometry: geometry)
            Kernels.referenceGemm(a: a, b: b, c: c, output: &expected, geometry: geometry)
            expectClose(y, expected, rtol: 1e-5, atol: 1e-5)
        }
        #expect(GemmGeometry(m: limit, n: 19, k: 23, transA: false, transB: true, alpha: 1, beta: 1, biasShape: nil).usesRowProduct)
    }
}
