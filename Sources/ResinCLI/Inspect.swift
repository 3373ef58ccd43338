import ArgumentParser
import Resin
import ResinIR

/// `resin inspect <model>`: what the model holds and what it costs.
struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a model's inputs, outputs, operators, parameters and MACs.")

    @Argument(help: "The model (.onnx or .resin).")
    var model: String

    @Flag(help: "Show the graph as optimized.")
    var optimize = false

    @Option(help: "The batch size for the memory plan.")
    var batch = 1

    @Flag(help: "Print one JSON object.")
    var json = false

    @Option(help: "Write the graph in Graphviz DOT to this file.")
    var dot: String?

    @Flag(help: "Print each optimizer pass and its rewrites.")
    var verbose = false

    @Flag(help: "Check every weight blob's CRC-32 of a .resin file.")
    var verifyWeights = false

    @Option(name: .customLong("max-memory"), help: ArgumentHelp(
        "Report whether the memory plan fits in this many bytes (default: physical memory).", valueName: "BYTES"))
    var maxMemory: Int?

    func validate() throws {
        guard batch >= 1 else { throw ValidationError("--batch must be at least 1") }
        if let maxMemory, maxMemory < 1 { throw ValidationError("--max-memory must be at least 1 byte") }
    }

    func run() throws {
        try reportingErrors(about: model) {
            let loaded = try ModelLoader.load(path: model, optimize: optimize, verifyWeights: verifyWeights, log: verboseLog(verbose))
            var summary = try ModelSummary(loaded)
            summary.planMemory(loaded.model, batch: batch, memoryLimit: maxMemory)
            if let dot {
                let graph = loaded.model.graph
                let facts = (try? graph.inferFacts()) ?? [:]
                let text = graph.dot(facts: facts)
                try reportingErrors(about: dot) {
                    try writeFileAtomically(atPath: dot) { append in
                        try Array(text.utf8).withUnsafeBytes { try append($0) }
                    }
                }
            }
            print(json ? summary.json.rendered() : summary.text)
            // The report shows the plan either way; a model no session could be made for under the limit
            // is still refused, as run, verify and bench refuse it.
            if let memory = summary.memory, !memory.fits { throw memory.limitError }
        }
    }
}
