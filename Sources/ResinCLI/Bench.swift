import ArgumentParser
import Resin
import ResinIR
import ResinRuntime

/// `resin bench <model>`: load time, first run, and latency over many runs.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure load time, first-run time and per-run latency on seeded random inputs.")

    @Argument(help: "The model (.onnx or .resin).")
    var model: String

    @Option(help: "Warm-up runs before timing.")
    var warmup = 3

    @Option(help: "Timed runs.")
    var iterations = 20

    @Flag(help: "Print one JSON object.")
    var json = false

    @Flag(help: "Also time every step over as many more runs: time per operator type and the slowest steps.")
    var profile = false

    @OptionGroup var runtime: RuntimeOptions

    func validate() throws {
        try runtime.validate()
        guard warmup >= 0, iterations >= 1 else { throw ValidationError("--warmup must be >= 0 and --iterations >= 1") }
    }

    func run() throws {
        try reportingErrors(about: model) {
            let start = monotonicMilliseconds()
            let loaded = try runtime.load(model)
            let session = try Session(model: loaded.model, options: runtime.sessionOptions(batch: runtime.batch ?? 1))
            let loadMs = monotonicMilliseconds() - start
            var random = SeededGenerator(seed: 2024)
            for index in session.inputs.indices {
                fillRandom(session.inputBuffer(at: index), type: session.inputs[index].dataType, using: &random)
            }
            let firstStart = monotonicMilliseconds()
            try session.run()
            let firstRunMs = monotonicMilliseconds() - firstStart
            for _ in 0..<warmup { try session.run() }
            var latencies: [Double] = []
            latencies.reserveCapacity(iterations)
            for _ in 0..<iterations {
                let begin = monotonicMilliseconds()
                try session.run()
                latencies.append(monotonicMilliseconds() - begin)
            }
            // Mean milliseconds per run of every step, in execution order, then per operator type.
            var stepMeans: [Session.StepTiming] = []
            var profileTotals: [String: (milliseconds: Double, steps: Int)] = [:]
            if profile {
                for _ in 0..<iterations {
                    let timings = try session.runProfiled()
                    if stepMeans.isEmpty {
                        stepMeans = timings.map { timing in
                            var zero = timing
                            zero.milliseconds = 0
                            return zero
                        }
                    }
                    for (index, timing) in timings.enumerated() { stepMeans[index].milliseconds += timing.milliseconds / Double(iterations) }
                }
                for step in stepMeans {
                    let previous = profileTotals[step.opType] ?? (0, 0)
                    profileTotals[step.opType] = (previous.milliseconds + step.milliseconds, previous.steps + 1)
                }
            }
            // Multiply-accumulates per step, for GFLOP/s beside each convolution's time.
            let stepMACs = profile ? StepCost.multiplyAccumulates(of: loaded.model, session: session) : [:]
            func gflopsText(_ step: Session.StepTiming) -> String {
                guard let macs = stepMACs[step.node] else { return "" }
                return "  " + formatted(StepCost.gigaflops(macs: macs, milliseconds: step.milliseconds), "%7.1f") + " GFLOP/s"
            }
            let convolutions = stepMeans.enumerated().filter { StepCost.isConvolution($0.element.opType) }
            let convolutionMACs = convolutions.reduce(0) { $0 + (stepMACs[$1.element.node] ?? 0) }
            let convolutionMs = convolutions.reduce(0.0) { $0 + $1.element.milliseconds }
            let slowest = stepMeans.enumerated().sorted { $0.element.milliseconds > $1.element.milliseconds }.prefix(10)
            latencies.sort()
            let median = percentile(latencies, 0.5)
            let p90 = percentile(latencies, 0.9)
            let batch = session.inputs.first?.shape.first ?? 1
            if let requested = runtime.batch, requested != batch {
                // --batch binds a symbolic batch only: a torchvision export fixed at 1 still runs 1 image.
                printWarning("\(model): the first input's batch is fixed at \(batch); --batch \(requested) binds only a symbolic batch dimension")
            }
            let imagesPerSecond = Double(batch) / (median / 1000)
            let peak = peakResidentBytes()
            if json {
                let object: JSONValue = .object([
                    ("loadMs", .double(rounded(loadMs))), ("firstRunMs", .double(rounded(firstRunMs))),
                    ("latencyMs", .object([("min", .double(rounded(latencies[0]))), ("median", .double(rounded(median))),
                                           ("p90", .double(rounded(p90)))])),
                    ("imagesPerSecond", .double(rounded(imagesPerSecond))), ("batch", .int(batch)),
                    ("threads", .int(runtime.threads)), ("arenaBytes", .int(session.memoryPlan.arenaBytes)), ("imageLanes", .int(session.imageLanes)),
                    ("peakResidentBytes", .int(peak)), ("iterations", .int(iterations)), ("warmup", .int(warmup)),
                    ("isa", .string(InstructionSet.active.description)), ("cpu", .string(InstructionSet.processorName)),
                ] + (profile ? [("profileMs", .object([
                    ("operators", .object(profileTotals.sorted { $0.value.milliseconds > $1.value.milliseconds }
                        .map { ($0.key, .double(rounded($0.value.milliseconds))) })),
                    ("steps", .array(stepMeans.map { step in
                        var fields: [(String, JSONValue)] = [("node", .string(step.node)), ("opType", .string(step.opType)),
                                                             ("ms", .double(rounded(step.milliseconds)))]
                        if let macs = stepMACs[step.node] {
                            fields += [("macs", .int(macs)),
                                       ("gflops", .double(rounded(StepCost.gigaflops(macs: macs, milliseconds: step.milliseconds))))]
                        }
                        return .object(fields)
                    })),
                ]))] : []))
                print(object.rendered())
            } else {
                print("model:        \(model)")
                print("batch:        \(batch), threads \(runtime.threads)")
                print("kernels:      \(InstructionSet.active) on \(InstructionSet.processorName)")
                print("load:         \(formatted(loadMs, "%.1f")) ms (open to ready-to-run)")
                print("first run:    \(formatted(firstRunMs, "%.1f")) ms")
                print("latency:      min \(formatted(latencies[0], "%.2f")) ms, median \(formatted(median, "%.2f")) ms, p90 \(formatted(p90, "%.2f")) ms over \(iterations) runs")
                print("throughput:   \(formatted(imagesPerSecond, "%.1f")) images/s")
                print("arena:        \(bytes(session.memoryPlan.arenaBytes))" + (session.imageLanes > 0 ? " (\(session.imageLanes) image lanes)" : ""))
                print("peak RSS:     \(bytes(peak))")
                if profile {
                    print("per operator (mean ms per run):")
                    for (name, entry) in profileTotals.sorted(by: { $0.value.milliseconds > $1.value.milliseconds }) {
                        print("  \(name + String(repeating: " ", count: max(0, 20 - name.count))) \(formatted(entry.milliseconds, "%8.2f")) ms  (\(entry.steps) steps)")
                    }
                    print("slowest steps (mean ms per run; step number in execution order):")
                    for (index, step) in slowest {
                        print("  \(formatted(step.milliseconds, "%8.2f")) ms\(gflopsText(step))  #\(index)  \(step.node) (\(step.opType))")
                    }
                    if !convolutions.isEmpty {
                        let overall = StepCost.gigaflops(macs: convolutionMACs, milliseconds: convolutionMs)
                        print("convolutions (mean ms per run, GFLOP/s = 2 x MACs / mean time; \(convolutions.count) steps, "
                              + "\(formatted(convolutionMs, "%.2f")) ms, \(formatted(overall, "%.1f")) GFLOP/s together):")
                        for (index, step) in convolutions {
                            print("  \(formatted(step.milliseconds, "%8.2f")) ms\(gflopsText(step))  #\(index)  \(step.node)")
                        }
                    }
                }
            }
        }
    }
}

func rounded(_ value: Double) -> Double { (value * 1000).rounded() / 1000 }

func percentile(_ sorted: [Double], _ fraction: Double) -> Double {
    guard !sorted.isEmpty else { return 0 }
    let position = fraction * Double(sorted.count - 1)
    let lower = Int(position)
    let upper = min(lower + 1, sorted.count - 1)
    return sorted[lower] + (sorted[upper] - sorted[lower]) * (position - Double(lower))
}

/// The process's peak resident set size (VmHWM), in bytes.
func peakResidentBytes() -> Int {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
    for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
        let digits = line.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
        return digits * 1024
    }
    return 0
}

/// A seeded generator so benchmark inputs are the same every run.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}

/// Fills an input buffer with uniform [0, 1) floats (or small integers for integer inputs).
func fillRandom(_ buffer: UnsafeMutableRawBufferPointer, type: DataType, using random: inout SeededGenerator) {
    switch type {
    case .float:
        let floats = buffer.bindMemory(to: Float.self)
        for index in floats.indices { floats[index] = Float.random(in: 0..<1, using: &random) }
    case .int64:
        let values = buffer.bindMemory(to: Int64.self)
        for index in values.indices { values[index] = Int64.random(in: 0..<10, using: &random) }
    default:
        for index in buffer.indices { buffer[index] = UInt8.random(in: 0..<2, using: &random) }
    }
}
