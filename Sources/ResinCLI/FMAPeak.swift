import CResinKernels
import Resin

/// The processor's measured arithmetic limit for the instruction set in use: `resin_fma_peak_loop`
/// (fma_peak.c, registers only) on every thread of a pool at once, the best of a few repetitions.
enum FMAPeak {
    private struct Job {
        var isa: resin_isa
        var iterations: Int
    }

    /// GFLOP/s per thread count.
    static func measure(threadCounts: [Int], quick: Bool) -> [Double] {
        let isa = resin_isa(rawValue: UInt32(InstructionSet.active.rawValue))
        let flopsPerIteration = Double(resin_fma_peak_flops_per_iteration(isa))
        // About 50 ms per thread at 100 GFLOP/s for AVX-512 (a few ms in quick mode), in 16 slices per
        // thread: tasks are claimed from a counter, so a thread that starts late takes fewer slices instead
        // of leaving one whole loop to run after the others finish.
        let slices = 16
        var job = Job(isa: isa, iterations: (quick ? 500_000 : 10_000_000) / slices)
        return threadCounts.map { threads in
            let pool = WorkerPool(threads: threads)
            var best = 0.0
            for _ in 0..<(quick ? 1 : 3) {
                let start = monotonicMilliseconds()
                withUnsafePointer(to: &job) { context in
                    pool.forEach(threads * slices, context: context) { raw, task in
                        let job = raw.assumingMemoryBound(to: Job.self).pointee
                        _ = resin_fma_peak_loop(job.isa, job.iterations, 1 + Float(task))
                    }
                }
                let seconds = (monotonicMilliseconds() - start) / 1000
                best = max(best, Double(threads * slices * job.iterations) * flopsPerIteration / seconds / 1e9)
            }
            return best
        }
    }
}
