#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import ResinIR
import ResinRuntime
import ResinOptimizer
import ResinFormat

/// One graph input or output as `inspect` reports it.
package struct ValueSummary: Sendable {
    package var name: String
    package var dataType: DataType?
    /// The declared dimensions; nil when the file gives no shape.
    package var dimensions: [Dimension]?
}

/// What `resin inspect` reports about a model.
package struct ModelSummary: Sendable {
    package var format: ModelFormat
    package var irVersion: Int64?
    package var opsetVersion: Int?
    package var producer: String?
    package var inputs: [ValueSummary]
    package var outputs: [ValueSummary]
    package var nodeCount: Int
    /// Operator histogram, most frequent first.
    package var operators: [(name: String, count: Int)]
    package var unsupported: [GraphError.UnsupportedUse]
    package var parameters: Int
    package var parameterBytes: Int
    /// Multiply-accumulates of convolutions and matrix products for one image; nil when shapes are unknown.
    package var macsPerImage: Int?
    package var importMilliseconds: Double
    /// The static memory plan for `memoryPlanBatch`, when the model can run.
    package var memoryPlan: MemoryPlan?
    package var memoryPlanBatch = 1
    package var workspaceBytes = 0
    /// The session's whole budget (arena, folded constants, the limit), when a plan was made.
    package var memory: SessionMemory?
    /// Why no memory plan could be made, when none could.
    package var memoryPlanProblem: String?
    /// What the optimizer did, when the graph shown is optimized.
    package var optimization: OptimizationReport?
    /// The sections of a native file.
    package var nativeLayout: NativeFileLayout?

    /// Adds the memory plan of a session for `batch`, planned without allocating its arena, and whether it
    /// fits in `memoryLimit` (default: physical memory).
    package mutating func planMemory(_ model: ResinIR.Model, batch: Int, memoryLimit: Int? = nil) {
        memoryPlanBatch = batch
        do {
            let memory = try Session.planMemory(model: model, options: SessionOptions(batch: batch, threads: 1, memoryLimit: memoryLimit))
            memoryPlan = memory.memoryPlan
            workspaceBytes = memory.workspaceBytes
            self.memory = memory
        } catch {
            memoryPlanProblem = "\(error)"
        }
    }

    /// Summarises a loaded model; shapes are inferred with symbolic batch dimensions bound to 1.
    package init(_ loaded: LoadedModel) throws {
        let model = loaded.model
        let graph = model.graph
        format = loaded.format
        irVersion = model.irVersion
        opsetVersion = model.defaultOpsetVersion
        let producerParts = [model.producerName, model.producerVersion].compactMap { $0 }.filter { !$0.isEmpty }
        producer = producerParts.isEmpty ? nil : producerParts.joined(separator: " ")
        func summary(_ info: ValueInfo) -> ValueSummary {
            ValueSummary(name: info.name, dataType: info.type?.elementType, dimensions: info.type?.dimensions)
        }
        inputs = graph.runtimeInputs.map(summary)
        outputs = graph.outputs.map(summary)
        nodeCount = graph.nodes.count
        var counts: [String: Int] = [:]
        var order: [String] = []
        for node in graph.nodes {
            // Resin's own fused operators count under their plain names (FusedConv), as Docs/CLI.md shows.
            let domain = node.domain ?? ""
            let name = domain.isEmpty || domain == "ai.onnx" || domain == resinDomain ? node.opType : "\(domain).\(node.opType)"
            if counts[name] == nil { order.append(name) }
            counts[name, default: 0] += 1
        }
        operators = order.map { ($0, counts[$0]!) }.sorted { $0.count > $1.count || ($0.count == $1.count && $0.name < $1.name) }
        unsupported = graph.unsupportedOperators

        // One image: bind every symbolic leading (batch) dimension of the inputs to 1.
        var bindings: [String: Int] = [:]
        for input in inputs {
            if case .symbolic(let name)? = input.dimensions?.first { bindings[name] = 1 }
        }
        let facts = try graph.inferFacts(bindings: bindings)
        let cost = graph.cost(facts: facts)
        parameters = cost.parameters
        parameterBytes = cost.parameterBytes
        var batch = 1
        if let first = inputs.first?.dimensions?.first, case .fixed(let value) = first, value > 1 { batch = value }
        macsPerImage = cost.multiplyAccumulates.map { $0 / batch }
        importMilliseconds = loaded.loadMilliseconds
        optimization = loaded.optimization
        nativeLayout = loaded.nativeLayout
    }

    /// The `--json` object of Docs/CLI.md.
    package var json: JSONValue {
        func shape(_ dimensions: [Dimension]?) -> JSONValue {
            guard let dimensions else { return .null }
            return .array(dimensions.map { dimension in
                switch dimension {
                case .fixed(let value): .int(value)
                case .symbolic(let name): .string(name)
                case .unknown: .null
                }
            })
        }
        func values(_ list: [ValueSummary]) -> JSONValue {
            .array(list.map { value in
                .object([
                    ("name", .string(value.name)), ("shape", shape(value.dimensions)),
                    ("dataType", value.dataType.map { .string($0.description) } ?? .null),
                ])
            })
        }
        var entries: [(String, JSONValue)] = [
            ("format", .string(format.rawValue)),
            ("irVersion", irVersion.map { .int(Int($0)) } ?? .null),
            ("opsetVersion", opsetVersion.map { .int($0) } ?? .null),
            ("producer", producer.map { .string($0) } ?? .null),
            ("inputs", values(inputs)),
            ("outputs", values(outputs)),
            ("nodeCount", .int(nodeCount)),
            ("operators", .object(operators.map { ($0.name, .int($0.count)) })),
            ("unsupportedOperators", .array(unsupported.map { use -> JSONValue in
                let name: String = use.domain.isEmpty ? use.opType : use.domain + "." + use.opType
                return .string(name)
            })),
            ("parameters", .int(parameters)),
            ("parameterBytes", .int(parameterBytes)),
            ("macsPerImage", macsPerImage.map { .int($0) } ?? .null),
            ("memoryPlan", memoryPlan.map { plan in
                .object([
                    ("batch", .int(memoryPlanBatch)), ("arenaBytes", .int(plan.arenaBytes)),
                    ("lowerBoundBytes", .int(plan.lowerBoundBytes)), ("noReuseBytes", .int(plan.noReuseBytes)),
                    ("workspaceBytes", .int(workspaceBytes)),
                    ("foldedConstantBytes", memory.map { .int($0.foldedConstantBytes) } ?? .null),
                    ("preparedWeightBytes", memory.map { .int($0.preparedWeightBytes) } ?? .null),
                    ("requiredBytes", memory.map { .int($0.requiredBytes) } ?? .null),
                    ("memoryLimitBytes", memory.map { .int($0.limit) } ?? .null),
                    ("fitsMemoryLimit", memory.map { .bool($0.fits) } ?? .null),
                ])
            } ?? .null),
            ("importMs", .double((importMilliseconds * 1000).rounded() / 1000)),
        ]
        if let layout = nativeLayout {
            entries.append(("native", JSONValue.object([
                ("version", .string("\(layout.majorVersion).\(layout.minorVersion)")), ("headerBytes", .int(layout.headerBytes)),
                ("sectionTable", .object([("offset", .int(layout.tableOffset)), ("length", .int(layout.tableBytes))])),
                ("graph", .object([("offset", .int(layout.graph.offset)), ("length", .int(layout.graph.storedBytes))])),
                ("blobs", .array(layout.blobs.map { blob in
                    .object([("offset", .int(blob.offset)), ("length", .int(blob.storedBytes)), ("encoding", .int(Int(blob.encoding.rawValue)))])
                })),
            ])))
        }
        if let report = optimization {
            entries.append(("fusions", JSONValue.object([
                ("batchNormFolded", .int(report.batchNormFolded)), ("residualAddFused", .int(report.residualAddFused)),
                ("activationFused", .int(report.activationFused)), ("constantsFolded", .int(report.constantsFolded)),
                ("nodesRemoved", .int(report.nodesRemoved)), ("nodeCountBefore", .int(report.nodeCountBefore)),
                ("nodeCountAfter", .int(report.nodeCountAfter)),
                ("passes", .object(report.rewrites.map { ($0.pass, JSONValue.int($0.count)) })),
            ])))
        }
        return .object(entries)
    }

    /// "4,089,184,256 (4.1 G)".
    static func describeMACs(_ macs: Int) -> String {
        let scaled = macs >= 1_000_000_000 ? String(format1: Double(macs) / 1e9) + " G" : String(format1: Double(macs) / 1e6) + " M"
        return "\(grouped(macs)) (\(scaled))"
    }

    /// The human-readable report.
    package var text: String {
        var lines: [String] = []
        lines.append("format:      \(format.rawValue)" + (irVersion.map { ", IR version \($0)" } ?? ""))
        lines.append("opset:       \(opsetVersion.map(String.init) ?? "none")")
        lines.append("producer:    \(producer ?? "unknown")")
        func describe(_ value: ValueSummary) -> String {
            let type = value.dataType?.description ?? "?"
            let dims = value.dimensions.map(ResinIR.describe) ?? "[unknown shape]"
            return "  \(value.name)  \(type) \(dims)"
        }
        lines.append("inputs:")
        lines += inputs.map(describe)
        lines.append("outputs:")
        lines += outputs.map(describe)
        lines.append("nodes:       \(nodeCount)" + (optimization.map { " (\($0.nodeCountBefore) before optimization)" } ?? ""))
        if let optimization {
            lines.append("optimizer:   " + optimization.rewrites.map { "\($0.pass) \($0.count)" }.joined(separator: ", "))
        }
        lines.append("operators:   " + operators.map { "\($0.name) \($0.count)" }.joined(separator: ", "))
        if !unsupported.isEmpty {
            lines.append("unsupported: " + GraphError.unsupportedOperators(unsupported).description)
        }
        lines.append("parameters:  \(grouped(parameters)) (\(bytes(parameterBytes)))")
        lines.append("MACs/image:  " + (macsPerImage.map(Self.describeMACs) ?? "unknown"))
        if let plan = memoryPlan {
            let ratio = plan.lowerBoundBytes > 0 ? Double(plan.arenaBytes) / Double(plan.lowerBoundBytes) : 1
            lines.append("memory plan: batch \(memoryPlanBatch): arena \(bytes(plan.arenaBytes)) (\(String(format1: ratio * 100))% of the lower bound \(bytes(plan.lowerBoundBytes))), no reuse \(bytes(plan.noReuseBytes)), workspace \(bytes(workspaceBytes))")
        } else if let memoryPlanProblem {
            lines.append("memory plan: none (\(memoryPlanProblem))")
        }
        if let memory {
            let verdict = memory.fits ? "fits in" : "does NOT fit in"
            lines.append("memory:      a session needs \(grouped(memory.requiredBytes)) bytes (arena, \(bytes(memory.foldedConstantBytes)) of folded constants, at most \(bytes(memory.preparedWeightBytes)) of prepared filters): \(verdict) the limit of \(grouped(memory.limit)) bytes")
        }
        lines.append("import:      \(String(format1: importMilliseconds)) ms")
        return lines.joined(separator: "\n")
    }
}

/// 25557032 as "25,557,032".
func grouped(_ value: Int) -> String {
    let digits = String(value.magnitude)
    var result = ""
    for (index, character) in digits.enumerated() {
        if index > 0, (digits.count - index) % 3 == 0 { result += "," }
        result.append(character)
    }
    return (value < 0 ? "-" : "") + result
}

/// A byte count in the largest fitting binary unit: "97.5 MiB".
package func bytes(_ count: Int) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"]
    var value = Double(count)
    var unit = 0
    while value >= 1024, unit < units.count - 1 {
        value /= 1024
        unit += 1
    }
    return unit == 0 ? "\(count) B" : "\(String(format1: value)) \(units[unit])"
}

extension String {
    /// A number with one decimal.
    init(format1 value: Double) {
        self = formatted(value, "%.1f")
    }
}

/// One number through a C `printf` conversion ("%.2f", "%8.2f", "%.3g"), without Foundation's formatter
/// (the command line does not link Foundation, which would add 7 MiB to every process's resident memory).
package func formatted(_ value: Double, _ conversion: String) -> String {
    var buffer = [CChar](repeating: 0, count: 64)
    _ = withVaList([value]) { arguments in vsnprintf(&buffer, buffer.count, conversion, arguments) }
    return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
