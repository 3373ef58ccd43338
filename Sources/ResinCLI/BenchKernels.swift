import ArgumentParser
import Resin
import ResinIR
import ResinRuntime

/// `resin bench-kernels MODEL...` (hidden; run through tools/bench-kernels): every distinct convolution of the
/// models, timed as a session runs it, beside OpenBLAS sgemm on the same product and the processor's
/// measured FMA peak, for the instruction set this process uses (`RESIN_ISA`).
///
/// A subcommand of `resin` rather than a separate executable: it needs the same release build, loader and
/// session as `bench`, and the wrapper runs it once per `RESIN_ISA` value because the kernel table is
/// chosen once per process.
struct BenchKernels: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-kernels",
        abstract: "GFLOP/s of every distinct convolution of the models, one and all threads, against sgemm and the FMA peak.",
        shouldDisplay: false)

    @Argument(help: "ONNX models whose convolutions to measure.")
    var models: [String]

    @Option(help: "Timed runs per convolution and thread count (the median is reported).")
    var iterations = 20

    @Option(help: "Untimed runs before timing.")
    var warmup = 3

    @Option(name: .customLong("threads"), help: ArgumentHelp("The 'all threads' count (default: the cores the process may run on).", valueName: "N"))
    var requestedThreads: Int?

    @Option(help: "Batch of the convolutions' input.")
    var batch = 1

    @Flag(help: "A smoke run: the first three distinct convolutions, two timed runs, a short peak loop.")
    var quick = false

    @Flag(help: "Print one JSON object.")
    var json = false

    func validate() throws {
        guard !models.isEmpty else { throw ValidationError("give at least one model") }
        guard iterations >= 1, warmup >= 0, batch >= 1 else { throw ValidationError("--iterations and --batch must be >= 1, --warmup >= 0") }
        if let requestedThreads, requestedThreads < 1 { throw ValidationError("--threads must be at least 1") }
    }

    func run() throws {
        let threads = requestedThreads ?? SessionOptions.availableCores()
        let iterations = quick ? min(self.iterations, 2) : self.iterations
        let warmup = quick ? min(self.warmup, 1) : self.warmup
        var layers: [DistinctConvolution] = []
        for path in models {
            try reportingErrors(about: path) {
                let loaded = try ModelLoader.load(path: path, optimize: true)
                DistinctConvolution.collect(from: loaded.model, label: modelLabel(path), batch: batch, into: &layers)
            }
        }
        if quick { layers = Array(layers.prefix(3)) }
        let threadCounts = threads > 1 ? [1, threads] : [1]
        let peak = FMAPeak.measure(threadCounts: threadCounts, quick: quick)
        let roundTrip = threads > 1 ? FMAPeak.coreRoundTrip(quick: quick) : nil
        var results: [JSONValue] = []
        var rows: [[String]] = []
        for layer in layers {
            let measured = try layer.measure(threadCounts: threadCounts, warmup: warmup, iterations: iterations)
            let sgemm = layer.measureSGEMM(threadCounts: threadCounts, iterations: iterations)
            func gflops(_ ms: Double) -> Double { StepCost.gigaflops(macs: layer.macs, milliseconds: ms) }
            results.append(.object([
                ("layer", .string(layer.label)), ("models", .array(layer.models.map { .string($0) })),
                ("shape", .string(layer.shapeText)), ("macs", .int(layer.macs)), ("path", .string(measured.path)),
                ("product", .object([("groups", .int(layer.group)), ("m", .int(layer.productM)), ("k", .int(layer.productK)),
                                     ("n", .int(layer.productN))])),
                ("resin", .array(zip(threadCounts, measured.milliseconds).map { count, ms in
                    .object([("threads", .int(count)), ("ms", .double(rounded(ms))), ("gflops", .double(rounded(gflops(ms))))])
                })),
                ("sgemm", .array(zip(threadCounts, sgemm).map { count, ms in
                    .object([("threads", .int(count)), ("ms", .double(rounded(ms))), ("gflops", .double(rounded(gflops(ms))))])
                })),
            ]))
            var row = [layer.label, layer.shapeText, String(layer.macs), measured.path]
            for (index, ms) in measured.milliseconds.enumerated() {
                row.append(formatted(gflops(ms), "%.1f"))
                row.append(formatted(100 * gflops(ms) / peak[index], "%.0f%%"))
            }
            for ms in sgemm { row.append(formatted(gflops(ms), "%.1f")) }
            rows.append(row)
        }
        if json {
            print(JSONValue.object([
                ("isa", .string(InstructionSet.active.description)),
                ("supported", .array(InstructionSet.supported.map { .string($0.description) })),
                ("cpu", .string(InstructionSet.processorName)), ("threads", .array(threadCounts.map { .int($0) })),
                ("batch", .int(batch)), ("iterations", .int(iterations)),
                ("peakGflops", .array(zip(threadCounts, peak).map { .object([("threads", .int($0)), ("gflops", .double(rounded($1)))]) })),
                ("coreRoundTripNs", roundTrip.map { .double(rounded($0)) } ?? .null),
                ("layers", .array(results)),
            ]).rendered())
            return
        }
        print("kernels: \(InstructionSet.active) on \(InstructionSet.processorName); batch \(batch); median of \(iterations) runs")
        print("FMA peak (register-only loop): " + zip(threadCounts, peak).map { "\($0) thread(s) \(formatted($1, "%.1f")) GFLOP/s" }
            .joined(separator: ", "))
        if let roundTrip { print("core round trip (a cache line passed to another thread and back): \(formatted(roundTrip, "%.0f")) ns") }
        var header = ["layer", "shape", "MACs", "path"]
        for count in threadCounts { header += ["GF/s \(count)T", "peak \(count)T"] }
        for count in threadCounts { header.append("sgemm \(count)T") }
        printTable([header] + rows)
    }

    private func modelLabel(_ path: String) -> String {
        let parts = path.split(separator: "/")
        guard let file = parts.last else { return path }
        return parts.count > 1 && file.hasSuffix(".onnx") && file == "model.onnx" ? String(parts[parts.count - 2]) : String(file)
    }
}

/// Prints rows as columns, left-aligned text and right-aligned numbers.
func printTable(_ rows: [[String]]) {
    guard let first = rows.first else { return }
    var widths = Array(repeating: 0, count: first.count)
    for row in rows { for (index, cell) in row.enumerated() where index < widths.count { widths[index] = max(widths[index], cell.count) } }
    for row in rows {
        let cells = row.enumerated().map { index, cell -> String in
            let padding = String(repeating: " ", count: widths[index] - cell.count)
            return index < 2 ? cell + padding : padding + cell
        }
        print(cells.joined(separator: "  "))
    }
}
