import Foundation
import Resin
import ResinIR
import ResinRuntime
import Testing
import TestSupport

/// The measuring commands: the thread count `bench` defaults to, the GFLOP/s `--profile` prints per
/// convolution, and the per-convolution benchmark behind tools/bench-kernels.
@Suite struct BenchToolTests {
    /// `bench` without `--threads` runs as many threads as the cores it may run on: one in a child restricted
    /// to CPU 0, as many as the test process may use otherwise.
    @Test func threadsDefaultToTheCoresTheProcessMayRunOn() throws {
        let arguments = ["bench", TestPaths.model("resnet-basic-v1.5"), "--warmup", "0", "--iterations", "1", "--json"]
        let pinned = try Affinity.withCallingThreadPinnedToFirstCPU { try runResin(arguments) }
        try #require(pinned.status == 0, "\(pinned.standardError)")
        #expect(try threads(in: pinned.standardOutput) == 1, "\(pinned.standardOutput)")

        let free = try runResin(arguments)
        try #require(free.status == 0, "\(free.standardError)")
        #expect(try threads(in: free.standardOutput) == Affinity.usableCPUs(), "\(free.standardOutput)")
        // An explicit --threads still wins.
        let explicit = try Affinity.withCallingThreadPinnedToFirstCPU { try runResin(arguments + ["--threads", "3"]) }
        #expect(try threads(in: explicit.standardOutput) == 3)
    }

    /// `--batch` on a model whose batch is fixed runs the fixed batch and says so on standard error.
    @Test func benchWarnsWhenTheBatchIsFixed() throws {
        let result = try runResin(["bench", TestPaths.model("resnet-basic-v1.5"), "--batch", "4", "--warmup", "0",
                                   "--iterations", "1", "--json"])
        try #require(result.status == 0, "\(result.standardError)")
        let object = try #require(JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8)) as? [String: Any])
        #expect(object["batch"] as? Int == 1)
        #expect(result.standardError.contains("batch is fixed at 1; --batch 4"), "\(result.standardError)")
    }

    /// `bench --help` says what the default is.
    @Test func helpDocumentsTheThreadsDefault() throws {
        let result = try runResin(["bench", "--help"])
        #expect(result.status == 0)
        #expect(result.standardOutput.contains("default: the cores it"), "\(result.standardOutput)")
    }

    /// `--profile --json` gives every convolution step its multiply-accumulates and GFLOP/s = 2 x MACs / time;
    /// the steps' MACs add up to what `inspect` counts for the whole model.
    @Test func profileShowsGigaflopsPerConvolution() throws {
        let model = TestPaths.model("resnet-bottleneck-v1.5")
        let result = try runResin(["bench", model, "--warmup", "0", "--iterations", "2", "--profile", "--json", "--threads", "1"])
        try #require(result.status == 0, "\(result.standardError)")
        let object = try #require(JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8)) as? [String: Any])
        let profile = try #require(object["profileMs"] as? [String: Any])
        let steps = try #require(profile["steps"] as? [[String: Any]])
        let convolutions = steps.filter { ["Conv", "FusedConv"].contains($0["opType"] as? String ?? "") }
        try #require(!convolutions.isEmpty)
        var total = 0
        for step in steps {
            guard let macs = step["macs"] as? Int else { continue }
            total += macs
            let milliseconds = try #require(step["ms"] as? Double)
            let gflops = try #require(step["gflops"] as? Double)
            // Both figures are rounded to three decimals: the time's rounding bounds the GFLOP/s.
            if milliseconds > 0.001 {
                let high = 2 * Double(macs) / ((milliseconds - 0.0005) * 1e6) + 0.0005
                let low = 2 * Double(macs) / ((milliseconds + 0.0005) * 1e6) - 0.0005
                #expect(gflops >= low && gflops <= high, "\(step)")
            }
        }
        for step in convolutions { #expect((step["macs"] as? Int ?? 0) > 0, "\(step)") }
        let inspect = try runResin(["inspect", model, "--json"])
        try #require(inspect.status == 0, "\(inspect.standardError)")
        let summary = try #require(JSONSerialization.jsonObject(with: Data(inspect.standardOutput.utf8)) as? [String: Any])
        #expect(total == summary["macsPerImage"] as? Int)

        let text = try runResin(["bench", model, "--warmup", "0", "--iterations", "2", "--profile"])
        try #require(text.status == 0, "\(text.standardError)")
        let lines = text.standardOutput.split(separator: "\n")
        let section = try #require(lines.firstIndex { $0.hasPrefix("convolutions (") })
        let rows = lines[(section + 1)...].prefix { $0.hasPrefix("  ") }
        #expect(rows.count == convolutions.count)
        #expect(rows.allSatisfy { $0.contains(" ms") && $0.contains("GFLOP/s") }, "\(text.standardOutput)")
    }

    /// `resin bench-kernels --quick` measures three distinct convolutions of a model (grouped ones included)
    /// with positive GFLOP/s on one and all threads, sgemm on the same product, the FMA peak and the round trip
    /// of a cache line between two threads.
    @Test func kernelBenchmarkQuickRun() throws {
        let result = try runResin(["bench-kernels", "--quick", "--json", "--threads", "2", TestPaths.model("resnext")], timeout: 120)
        try #require(result.status == 0, "\(result.standardError)")
        let object = try #require(JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8)) as? [String: Any])
        #expect(object["isa"] as? String == "\(InstructionSet.active)")
        #expect(object["threads"] as? [Int] == [1, 2])
        let peaks = try #require(object["peakGflops"] as? [[String: Any]])
        #expect(peaks.count == 2 && peaks.allSatisfy { ($0["gflops"] as? Double ?? 0) > 0 })
        #expect((object["coreRoundTripNs"] as? Double ?? 0) > 0, "two threads passed a cache line: \(object["coreRoundTripNs"] ?? "missing")")
        let layers = try #require(object["layers"] as? [[String: Any]])
        #expect(layers.count == 3)
        var shapes = Set<String>()
        for layer in layers {
            shapes.insert(layer["shape"] as? String ?? "")
            #expect(["plain", "packed", "winograd"].contains(layer["path"] as? String ?? ""))
            let product = try #require(layer["product"] as? [String: Int])
            let groups = product["groups"] ?? 0, m = product["m"] ?? 0, k = product["k"] ?? 0, n = product["n"] ?? 0
            #expect(layer["macs"] as? Int == groups * m * k * n, "\(layer)")
            for key in ["resin", "sgemm"] {
                let runs = try #require(layer[key] as? [[String: Any]])
                #expect(runs.map { $0["threads"] as? Int } == [1, 2])
                #expect(runs.allSatisfy { ($0["gflops"] as? Double ?? 0) > 0 }, "\(key): \(runs)")
            }
        }
        #expect(shapes.count == 3, "the convolutions listed are distinct: \(shapes)")
        #expect(shapes.contains { $0.hasSuffix(" g4") }, "ResNeXt's grouped convolution is among the first three: \(shapes)")
    }

    /// tools/bench-kernels merges one quick run per instruction set into its table.
    @Test func kernelBenchmarkWrapperSmoke() throws {
        let script = TestPaths.root + "/tools/bench-kernels"
        let result = try runProgram("/usr/bin/env", ["python3", script, "--quick", "--resin", TestPaths.executable,
                                                     TestPaths.model("resnext")], timeout: 300)
        try #require(result.status == 0, "\(result.standardError)")
        for instructionSet in InstructionSet.supported {
            #expect(result.standardOutput.contains("peak     \(instructionSet)"), "\(result.standardOutput)")
            #expect(result.standardOutput.contains("\(instructionSet) 1T"), "\(result.standardOutput)")
        }
        #expect(result.standardOutput.split(separator: "\n").filter { $0.hasPrefix("resnext ") }.count == 3)
    }

    private func threads(in output: String) throws -> Int? {
        let object = try #require(JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any])
        return object["threads"] as? Int
    }
}

/// The calling thread's CPU affinity, which a child process started from that thread inherits.
/// Glibc's Swift module hides the calls (they need _GNU_SOURCE), so they are looked up by name.
enum Affinity {
    private typealias Call = @convention(c) (pid_t, Int, UnsafeMutableRawPointer?) -> Int32
    private static let maskBytes = 128

    private static func call(_ name: String) throws -> Call {
        let symbol = try #require(dlsym(UnsafeMutableRawPointer(bitPattern: 0), name), "\(name) is not in the C library")
        return unsafeBitCast(symbol, to: Call.self)
    }

    /// CPUs the calling thread may run on.
    static func usableCPUs() throws -> Int {
        var mask = [UInt8](repeating: 0, count: maskBytes)
        let get = try call("sched_getaffinity")
        let status = mask.withUnsafeMutableBytes { get(0, $0.count, $0.baseAddress) }
        try #require(status == 0)
        return mask.reduce(0) { $0 + $1.nonzeroBitCount }
    }

    /// Runs `body` with the calling thread allowed only the first CPU it may use, then restores its mask.
    static func withCallingThreadPinnedToFirstCPU<Result>(_ body: () throws -> Result) throws -> Result {
        var saved = [UInt8](repeating: 0, count: maskBytes)
        let get = try call("sched_getaffinity")
        try #require(saved.withUnsafeMutableBytes { get(0, $0.count, $0.baseAddress) } == 0)
        let byte = try #require(saved.firstIndex { $0 != 0 })
        let first = byte * 8 + saved[byte].trailingZeroBitCount
        var pinned = [UInt8](repeating: 0, count: maskBytes)
        pinned[first / 8] = 1 << (first % 8)
        let set = try call("sched_setaffinity")
        try #require(pinned.withUnsafeMutableBytes { set(0, $0.count, $0.baseAddress) } == 0)
        defer { _ = saved.withUnsafeMutableBytes { set(0, $0.count, $0.baseAddress) } }
        try #require(try usableCPUs() == 1)
        return try body()
    }
}
