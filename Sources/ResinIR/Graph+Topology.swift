extension Graph {
    /// What produces a value: a graph input, an initializer, or output `slot` of node `node`.
    public enum Producer: Equatable, Sendable {
        case graphInput
        case initializer
        case node(index: Int, slot: Int)
    }

    /// Every value's producer; throws on a value produced twice.
    public func producers() throws(GraphError) -> [String: Producer] {
        var table: [String: Producer] = [:]
        func describe(_ producer: Producer) -> String {
            switch producer {
            case .graphInput: "graph input"
            case .initializer: "initializer"
            case .node(let index, _): "node '\(nodes[index].displayName)' (\(nodes[index].opType))"
            }
        }
        for tensor in initializers {
            guard let name = tensor.name, !name.isEmpty else {
                throw .invalidModel(reason: "an initializer has no name")
            }
            if let existing = table[name] {
                throw .duplicateProducer(name: name, first: describe(existing), second: "initializer")
            }
            table[name] = .initializer
        }
        for sparse in sparseInitializers {
            if let name = sparse.values.name, !name.isEmpty { table[name] = table[name] ?? .initializer }
        }
        var seenInputs: Set<String> = []
        for input in inputs {
            guard seenInputs.insert(input.name).inserted else {
                throw .duplicateProducer(name: input.name, first: "graph input", second: "graph input")
            }
            // An IR version 3 file lists initializers among the inputs too; the initializer provides the value.
            if table[input.name] == nil { table[input.name] = .graphInput }
        }
        for (index, node) in nodes.enumerated() {
            for (slot, output) in node.outputs.enumerated() where !output.isEmpty {
                let producer = Producer.node(index: index, slot: slot)
                if let existing = table[output] {
                    throw .duplicateProducer(name: output, first: describe(existing), second: describe(producer))
                }
                table[output] = producer
            }
        }
        return table
    }

    /// Node indices in an order where every node follows the producers of its inputs: the file's order
    /// when it is already topological (ONNX requires that), otherwise a stable topological sort.
    public func topologicalOrder() throws(GraphError) -> [Int] {
        let producers = try producers()
        var pending = Array(repeating: 0, count: nodes.count)
        var consumers = Array(repeating: [Int](), count: nodes.count)
        for (index, node) in nodes.enumerated() {
            // Each distinct input once: a node reading a value twice waits for its producer once.
            var seen: Set<String> = []
            for input in node.inputs where !input.isEmpty && seen.insert(input).inserted {
                guard let producer = producers[input] else {
                    throw .undefinedInput(node: node.displayName, opType: node.opType, input: input)
                }
                if case .node(let source, _) = producer {
                    pending[index] += 1
                    consumers[source].append(index)
                }
            }
        }
        var order: [Int] = []
        order.reserveCapacity(nodes.count)
        // The smallest ready index first: a graph already in topological order keeps the file's order, and
        // a heap keeps each step logarithmic however many nodes are ready at once.
        var ready = IndexHeap()
        for index in nodes.indices where pending[index] == 0 { ready.insert(index) }
        while let next = ready.popMinimum() {
            order.append(next)
            for consumer in consumers[next] {
                pending[consumer] -= 1
                if pending[consumer] == 0 { ready.insert(consumer) }
            }
        }
        guard order.count == nodes.count else {
            throw .cycle(nodes: cycle(among: Set((0..<nodes.count).filter { pending[$0] > 0 }), producers: producers))
        }
        return order
    }

    /// The nodes of one cycle among nodes that never became ready: walking from any of them to a stuck
    /// producer of its inputs must come back to a node already seen.
    private func cycle(among stuck: Set<Int>, producers: [String: Producer]) -> [String] {
        guard var current = stuck.min() else { return [] }
        var path: [Int] = []
        var seen: [Int: Int] = [:]
        while seen[current] == nil {
            seen[current] = path.count
            path.append(current)
            let next = nodes[current].inputs.lazy.compactMap { input -> Int? in
                if case .node(let index, _)? = producers[input], stuck.contains(index) { return index }
                return nil
            }.first
            guard let next else { break }
            current = next
        }
        let loop = seen[current].map { Array(path[$0...]) } ?? path
        return loop.reversed().map { nodes[$0].displayName }
    }

    /// Checks that the graph is well formed: every name resolves exactly once, no cycles, every output
    /// is produced and every node has as many inputs and outputs as its operator takes.
    public func verify() throws(GraphError) {
        let producers = try producers()
        for node in nodes {
            let (fewest, most) = node.op.inputArity
            if node.inputs.count < fewest || node.inputs.count > most {
                let expected = fewest == most ? "\(fewest)" : most == Int.max ? "at least \(fewest)" : "\(fewest) to \(most)"
                throw .arity(node: node.displayName, opType: node.opType,
                             reason: "takes \(expected) inputs, found \(node.inputs.count)")
            }
            let (fewestOut, mostOut) = node.op.outputArity
            if node.outputs.count < fewestOut || node.outputs.count > mostOut {
                let expected = fewestOut == mostOut ? "\(fewestOut)" : "\(fewestOut) to \(mostOut)"
                throw .arity(node: node.displayName, opType: node.opType,
                             reason: "makes \(expected) outputs, found \(node.outputs.count)")
            }
            if node.op.isSupported, fewest > 0, node.inputs.first?.isEmpty ?? true {
                throw .arity(node: node.displayName, opType: node.opType, reason: "its first input is missing")
            }
        }
        _ = try topologicalOrder()
        for output in outputs where producers[output.name] == nil {
            throw .undefinedOutput(name: output.name)
        }
    }

    /// The operators Resin cannot run, grouped by type with the nodes that use them.
    public var unsupportedOperators: [GraphError.UnsupportedUse] {
        var uses: [GraphError.UnsupportedUse] = []
        for node in nodes {
            guard case .unsupported(let op) = node.op else { continue }
            if let index = uses.firstIndex(where: { $0.opType == op.opType && $0.domain == op.domain }) {
                uses[index].nodes.append(node.displayName)
            } else {
                uses.append(.init(opType: op.opType, domain: op.domain, nodes: [node.displayName]))
            }
        }
        return uses
    }
}

/// A binary min-heap of node indices, for the topological sort's ready set.
struct IndexHeap {
    private var items: [Int] = []

    mutating func insert(_ value: Int) {
        items.append(value)
        var child = items.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard items[child] < items[parent] else { break }
            items.swapAt(child, parent)
            child = parent
        }
    }

    mutating func popMinimum() -> Int? {
        guard let last = items.popLast() else { return nil }
        guard !items.isEmpty else { return last }
        let minimum = items[0]
        items[0] = last
        var parent = 0
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var smallest = parent
            if left < items.count, items[left] < items[smallest] { smallest = left }
            if right < items.count, items[right] < items[smallest] { smallest = right }
            guard smallest != parent else { return minimum }
            items.swapAt(parent, smallest)
            parent = smallest
        }
    }
}
