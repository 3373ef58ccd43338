import CResinKernels
import Resin
import ResinIR
import ResinRuntime

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
        // Many short repetitions (about 2 ms each at 100 GFLOP/s per thread for AVX-512), keeping the best:
        // on a shared machine the peak is what the cores do when nothing else runs, and the convolutions'
        // medians of sub-millisecond runs see such moments too. Each thread's share is cut in 16 slices:
        // tasks are claimed from a counter, so a thread that starts late takes fewer slices instead of
        // leaving one whole loop to run after the others finish.
        let slices = 16
        var job = Job(isa: isa, iterations: (quick ? 100_000 : 500_000) / slices)
        return threadCounts.map { threads in
            let pool = WorkerPool(threads: threads)
            var best = 0.0
            for _ in 0..<(quick ? 3 : 40) {
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

    /// Nanoseconds of a cache line's round trip between two threads (`resin_core_round_trip_ns`), the median of
    /// three runs of up to 100,000 hand-overs (2,000 for a quick run), or nil when no second thread ran.
    static func coreRoundTrip(quick: Bool) -> Double? {
        let runs = (0..<3).map { _ in resin_core_round_trip_ns(quick ? 2_000 : 100_000, quick ? 0.01 : 0.1) }
        guard runs.allSatisfy({ $0 > 0 }) else { return nil }
        return runs.sorted()[1]
    }
}
