import ResinIR

extension Graph {
    /// The graph in Graphviz DOT: operators as boxes, graph inputs and outputs as ellipses, edges labelled
    /// with the values' shapes where known. Initializers are left out to keep large models readable.
    package func dot(facts: [String: ValueFacts] = [:]) -> String {
        func quoted(_ text: String) -> String {
            var escaped = "\""
            for character in text {
                if character == "\n" { escaped += "\\n"; continue }
                if character == "\"" || character == "\\" { escaped.append("\\") }
                escaped.append(character)
            }
            return escaped + "\""
        }
        var lines = ["digraph \(quoted(name ?? "graph")) {", "  rankdir=TB;", "  node [fontname=\"Helvetica\", fontsize=10];"]
        var producer: [String: String] = [:]
        for input in runtimeInputs {
            let id = "input:" + input.name
            producer[input.name] = id
            lines.append("  \(quoted(id)) [shape=ellipse, label=\(quoted(input.name))];")
        }
        for (index, node) in nodes.enumerated() {
            let id = "node:\(index)"
            lines.append("  \(quoted(id)) [shape=box, label=\(quoted(node.opType + "\n" + node.displayName))];")
            for output in node.outputs where !output.isEmpty { producer[output] = id }
        }
        for (index, node) in nodes.enumerated() {
            for input in node.inputs where !input.isEmpty {
                guard let source = producer[input] else { continue }
                let label = facts[input]?.dimensions.map(describe) ?? ""
                lines.append("  \(quoted(source)) -> \(quoted("node:\(index)")) [label=\(quoted(label))];")
            }
        }
        for output in outputs {
            let id = "output:" + output.name
            lines.append("  \(quoted(id)) [shape=ellipse, label=\(quoted(output.name))];")
            if let source = producer[output.name] { lines.append("  \(quoted(source)) -> \(quoted(id));") }
        }
        lines.append("}")
        return lines.joined(separator: "\n") + "\n"
    }
}
