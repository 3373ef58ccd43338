import ResinIR

/// Who produces and who consumes each value of a graph: what rules look up to match patterns.
///
/// Built once per pass and kept current as the pass rewrites (`remove`, `add`, `addInitializer`), so a
/// rule costs time in proportion to the nodes it visits and rewrites, never a rescan of the graph per
/// match. Rewrites leave removed nodes in place, marked in `removed`, and `compact` drops them once at the
/// end: positions stay stable during a sweep and nothing shifts the array per removal.
struct GraphIndex {
    var producer: [String: Int] = [:]
    var consumers: [String: [Int]] = [:]
    var initializers: [String: Tensor] = [:]
    var graphOutputs: Set<String> = []
    var graphInputs: Set<String> = []
    /// Values that subgraphs (If and Loop bodies) read from the enclosing graph: their names must not
    /// change, since rewrites only edit the top level.
    var subgraphReads: Set<String> = []
    /// Every name the graph uses, so that fresh names cost a lookup rather than a scan of the graph.
    var names: Set<String> = []
    /// Nodes a rewrite removed; `compact` drops them.
    var removed: [Bool] = []
    /// Nodes the rules examined: the work counter the scaling tests read.
    var visits = 0

    init(_ graph: Graph) {
        removed = Array(repeating: false, count: graph.nodes.count)
        for (index, node) in graph.nodes.enumerated() { add(node, at: index) }
        initializers = graph.initializersByName
        graphOutputs = Set(graph.outputs.map(\.name))
        graphInputs = Set(graph.runtimeInputs.map(\.name))
        names.formUnion(initializers.keys)
        names.formUnion(graph.inputs.map(\.name))
        names.formUnion(graph.outputs.map(\.name))
    }

    /// Records a node's reads and writes at `position`.
    mutating func add(_ node: Node, at position: Int) {
        for output in node.outputs where !output.isEmpty {
            producer[output] = position
            names.insert(output)
        }
        for input in node.inputs where !input.isEmpty {
            consumers[input, default: []].append(position)
            names.insert(input)
        }
        // A node whose subgraphs read outer values consumes them, as far as rewrites are concerned.
        for name in Self.outerReads(of: node) {
            subgraphReads.insert(name)
            consumers[name, default: []].append(position)
        }
    }

    /// Forgets a node's reads and writes at `position` (before it is replaced or removed). Names stay
    /// taken: a fresh name never reuses one the pass has seen.
    mutating func remove(_ node: Node, at position: Int) {
        for output in node.outputs where !output.isEmpty && producer[output] == position {
            producer[output] = nil
        }
        for input in node.inputs + Array(Self.outerReads(of: node)) where !input.isEmpty {
            guard var readers = consumers[input], let slot = readers.firstIndex(of: position) else { continue }
            readers.remove(at: slot)
            consumers[input] = readers.isEmpty ? nil : readers
        }
    }

    /// Replaces the node at `position`, keeping the index current.
    mutating func replace(_ position: Int, with node: Node, in graph: inout Graph) {
        remove(graph.nodes[position], at: position)
        graph.nodes[position] = node
        add(node, at: position)
    }

    /// Removes the node at `position`; `compact` drops it from the array.
    mutating func delete(_ position: Int, in graph: inout Graph) {
        remove(graph.nodes[position], at: position)
        removed[position] = true
    }

    /// Drops the nodes marked removed, in one pass over the array.
    func compact(_ graph: inout Graph) {
        guard removed.contains(true) else { return }
        graph.nodes = graph.nodes.indices.filter { !removed[$0] }.map { graph.nodes[$0] }
    }

    /// Names the node's subgraph attributes read without producing them.
    static func outerReads(of node: Node) -> Set<String> {
        var reads: Set<String> = []
        // An explicit stack, not recursion: nesting depth comes from the file.
        var pending: [(graph: Graph, enclosing: Set<String>)] = []
        func push(_ node: Node, produced: Set<String>) {
            for attribute in node.attributes {
                switch attribute.value {
                case .graph(let graph): pending.append((graph, produced))
                case .graphs(let graphs): for graph in graphs { pending.append((graph, produced)) }
                default: continue
                }
            }
        }
        push(node, produced: [])
        while let (graph, enclosing) = pending.popLast() {
            // Names the enclosing subgraphs produce before this node are not outer reads of the top node.
            var produced = enclosing.union(graph.inputs.map(\.name)).union(graph.initializers.compactMap(\.name))
            for node in graph.nodes {
                for input in node.inputs where !input.isEmpty && !produced.contains(input) { reads.insert(input) }
                push(node, produced: produced)
                produced.formUnion(node.outputs)
            }
            for output in graph.outputs where !produced.contains(output.name) { reads.insert(output.name) }
        }
        return reads
    }

    /// The one node that reads `value`, when exactly one does and the value is not a graph output.
    func soleConsumer(of value: String) -> Int? {
        guard !graphOutputs.contains(value), let readers = consumers[value], let first = readers.first,
              readers.allSatisfy({ $0 == first }) else { return nil }
        return first
    }

    /// The constant behind a value, if an initializer provides it.
    func constant(_ value: String) -> Tensor? {
        value.isEmpty ? nil : initializers[value]
    }

    /// Whether a value is a constant (an empty name, an omitted optional input, counts as constant).
    func isConstant(_ value: String) -> Bool {
        value.isEmpty || initializers[value] != nil
    }

    /// A name not used anywhere in the graph, built from `base`, and now taken.
    mutating func freshName(_ base: String) -> String {
        var name = base
        var counter = 0
        while names.contains(name) {
            counter += 1
            name = "\(base)_\(counter)"
        }
        names.insert(name)
        return name
    }

    /// Makes every reader of `old` read `new` instead, touching only those readers.
    mutating func replaceReads(of old: String, with new: String, in graph: inout Graph) {
        for reader in Set(consumers[old] ?? []) {
            var node = graph.nodes[reader]
            node.inputs = node.inputs.map { $0 == old ? new : $0 }
            replace(reader, with: node, in: &graph)
        }
    }

    /// Adds an initializer under a fresh name derived from `base` and returns the name.
    mutating func addInitializer(_ tensor: Tensor, base: String, to graph: inout Graph) -> String {
        let name = freshName(base)
        var named = tensor
        named.name = name
        named.encoding = .raw
        named.docString = nil
        named.metadata = []
        named.segment = nil
        graph.initializers.append(named)
        initializers[name] = named
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

extension Node {
    /// Sets the attribute export writes for a value a rule changed: replaces the one of that name, or adds it.
    mutating func setAttribute(_ attribute: Attribute) {
        if let slot = attributes.firstIndex(where: { $0.name == attribute.name }) {
            attributes[slot] = attribute
        } else {
            attributes.append(attribute)
        }
    }
}

/// A ReduceMean's axes: the attribute before opset 18, the constant second input from 18 on; nil when absent or
/// not constant.
func reduceAxes(_ node: Node, _ attributes: ReduceAttributes, index: GraphIndex) -> [Int]? {
    attributes.axes ?? (node.inputs.count > 1 ? index.constant(node.inputs[1])?.integerValues : nil)
}

/// Float32 values of a constant, widened to Double for folding arithmetic.
func doubles(_ tensor: Tensor) -> [Double]? {
    tensor.floatValues.map { $0.map(Double.init) }
}
