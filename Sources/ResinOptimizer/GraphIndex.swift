import ResinIR

/// Who produces and who consumes each value of a graph: what rules look up to match patterns.
struct GraphIndex {
    var producer: [String: Int] = [:]
    var consumers: [String: [Int]] = [:]
    var initializers: [String: Tensor] = [:]
    var graphOutputs: Set<String> = []
    var graphInputs: Set<String> = []
    /// Values that subgraphs (If and Loop bodies) read from the enclosing graph: their names must not
    /// change, since rewrites only edit the top level.
    var subgraphReads: Set<String> = []

    init(_ graph: Graph) {
        for (index, node) in graph.nodes.enumerated() {
            for output in node.outputs where !output.isEmpty { producer[output] = index }
            for input in node.inputs where !input.isEmpty { consumers[input, default: []].append(index) }
            // A node whose subgraphs read outer values consumes them, as far as rewrites are concerned.
            for name in Self.outerReads(of: node) {
                subgraphReads.insert(name)
                consumers[name, default: []].append(index)
            }
        }
        initializers = graph.initializersByName
        graphOutputs = Set(graph.outputs.map(\.name))
        graphInputs = Set(graph.runtimeInputs.map(\.name))
    }

    /// Names the node's subgraph attributes read without producing them.
    static func outerReads(of node: Node) -> Set<String> {
        var reads: Set<String> = []
        for attribute in node.attributes {
            switch attribute.value {
            case .graph(let graph): reads.formUnion(outerReads(of: graph))
            case .graphs(let graphs): for graph in graphs { reads.formUnion(outerReads(of: graph)) }
            default: continue
            }
        }
        return reads
    }

    static func outerReads(of graph: Graph) -> Set<String> {
        var produced = Set(graph.inputs.map(\.name)).union(graph.initializers.compactMap(\.name))
        var reads: Set<String> = []
        for node in graph.nodes {
            for input in node.inputs where !input.isEmpty && !produced.contains(input) { reads.insert(input) }
            reads.formUnion(outerReads(of: node).subtracting(produced))
            produced.formUnion(node.outputs)
        }
        for output in graph.outputs where !produced.contains(output.name) { reads.insert(output.name) }
        return reads
    }

    /// The one node that reads `value`, when exactly one does and the value is not a graph output.
    func soleConsumer(of value: String) -> Int? {
        guard !graphOutputs.contains(value), let readers = consumers[value], Set(readers).count == 1 else { return nil }
        return readers[0]
    }

    /// The constant behind a value, if an initializer provides it.
    func constant(_ value: String) -> Tensor? {
        value.isEmpty ? nil : initializers[value]
    }

    /// Whether a value is a constant (an empty name, an omitted optional input, counts as constant).
    func isConstant(_ value: String) -> Bool {
        value.isEmpty || initializers[value] != nil
    }
}

extension Graph {
    /// Replaces every read of `old` with `new`.
    mutating func replaceUses(of old: String, with new: String) {
        for index in nodes.indices {
            for slot in nodes[index].inputs.indices where nodes[index].inputs[slot] == old {
                nodes[index].inputs[slot] = new
            }
        }
    }

    /// A value name not used anywhere in the graph, built from `base`.
    func freshName(_ base: String) -> String {
        var used = Set(initializers.compactMap(\.name))
        for node in nodes { used.formUnion(node.outputs); used.formUnion(node.inputs) }
        used.formUnion(inputs.map(\.name))
        if !used.contains(base) { return base }
        var counter = 1
        while used.contains("\(base)_\(counter)") { counter += 1 }
        return "\(base)_\(counter)"
    }

    /// Adds an initializer under a fresh name derived from `base` and returns the name.
    mutating func addInitializer(_ tensor: Tensor, base: String) -> String {
        let name = freshName(base)
        var named = tensor
        named.name = name
        named.encoding = .raw
        named.docString = nil
        named.metadata = []
        named.segment = nil
        initializers.append(named)
        return name
    }
}

/// A node made by a rule: its operator typed, its attributes rendered for export.
func makeNode(
    name: String?, opType: String, domain: String? = nil, inputs: [String], outputs: [String],
    attributes: [Attribute] = [], op: Operator
) -> Node {
    Node(name: name, opType: opType, domain: domain, inputs: inputs, outputs: outputs, attributes: attributes, op: op)
}

/// Float32 values of a constant, widened to Double for folding arithmetic.
func doubles(_ tensor: Tensor) -> [Double]? {
    tensor.floatValues.map { $0.map(Double.init) }
}
