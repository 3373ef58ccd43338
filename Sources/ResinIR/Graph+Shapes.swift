extension Graph {
    /// Infers the type and dimensions of every value, binding symbolic dimensions named in `bindings`
    /// (a batch `N` bound to 1, say). Values inference cannot work out fall back to the file's `value_info`.
    public func inferFacts(bindings: [String: Int] = [:]) throws(GraphError) -> [String: ValueFacts] {
        func bind(_ type: TypeDescription?) -> ValueFacts {
            guard let type else { return .unknown }
            let dimensions = type.dimensions?.map { dimension -> Dimension in
                if case .symbolic(let name) = dimension, let value = bindings[name] { return .fixed(value) }
                return dimension
            }
            return ValueFacts(dataType: type.elementType, dimensions: dimensions)
        }
        var facts: [String: ValueFacts] = [:]
        for input in inputs { facts[input.name] = bind(input.type) }
        for tensor in initializers { if let name = tensor.name { facts[name] = ValueFacts(constant: tensor) } }
        var declared: [String: TypeDescription] = [:]
        for info in valueInfo + outputs { if let type = info.type { declared[info.name] = type } }

        for index in try topologicalOrder() {
            let node = nodes[index]
            let inputs = InferenceInputs(node.inputs.map { $0.isEmpty ? nil : (facts[$0] ?? .unknown) })
            var outputs: [ValueFacts]
            do {
                outputs = try node.op.inferOutputs(inputs, outputCount: node.outputs.count)
            } catch {
                throw .shapeMismatch(node: node.displayName, opType: node.opType,
                                     reason: error.reason + describeInputs(node, facts))
            }
            for (slot, name) in node.outputs.enumerated() where !name.isEmpty {
                var inferred = slot < outputs.count ? outputs[slot] : .unknown
                if inferred.dimensions == nil || inferred.dataType == nil, let type = declared[name] {
                    let fallback = bind(type)
                    inferred.dimensions = inferred.dimensions ?? fallback.dimensions
                    inferred.dataType = inferred.dataType ?? fallback.dataType
                }
                facts[name] = inferred
            }
        }
        return facts
    }

    /// " (inputs: X [1, 3, 224, 224], W [64, 3, 7, 7])" for error messages.
    private func describeInputs(_ node: Node, _ facts: [String: ValueFacts]) -> String {
        let parts = node.inputs.filter { !$0.isEmpty }.map { name in
            "'\(name)' " + (facts[name]?.dimensions.map(describe) ?? "[?]")
        }
        return parts.isEmpty ? "" : " (inputs: " + parts.joined(separator: ", ") + ")"
    }
}
