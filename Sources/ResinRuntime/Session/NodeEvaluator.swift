import ResinIR

/// Evaluates single nodes on known inputs with the kernels a session runs, so that constant folding (the
/// optimizer's, and the compiler's at session creation) computes exactly what running the node would.
public enum NodeEvaluator {
    /// Evaluates `node` on constant `inputs` (one per entry of `node.inputs`; nil where the name is empty)
    /// and returns one tensor per non-empty output name, named after it.
    ///
    /// Throws when an output's type or shape does not follow from the inputs, when an input's bytes do not
    /// cover its shape, and whatever making or running the node's step throws (unsupported types,
    /// attributes, kernel failures).
    public static func evaluate(_ node: Node, inputs: [Tensor?], opset: Int) throws -> [Tensor] {
        if case .unsupported(let op) = node.op {
            throw RuntimeError.unsupportedOperators([.init(opType: op.opType, domain: op.domain, nodes: [node.displayName])])
        }
        let facts: [ValueFacts]
        do {
            facts = try node.op.inferOutputs(InferenceInputs(inputs.map { $0.map(ValueFacts.init(constant:)) }), outputCount: node.outputs.count)
        } catch {
            throw GraphError.shapeMismatch(node: node.displayName, opType: node.opType, reason: error.reason)
        }
        var outputs: [(name: String, shape: ValueShape)] = []
        for (slot, name) in node.outputs.enumerated() where !name.isEmpty {
            guard slot < facts.count, let shape = facts[slot].dimensions?.fixedShape, let dataType = facts[slot].dataType else {
                throw RuntimeError.unresolvedShape(value: name, node: node.displayName, opType: node.opType)
            }
            outputs.append((name, ValueShape(dataType: dataType, shape: shape)))
        }
        var bound: [BoundValue?] = []
        for (slot, tensor) in inputs.enumerated() {
            guard let tensor else { bound.append(nil); continue }
            let needed = tensor.dataType.byteCount(elements: tensor.elementCount)
            guard let needed, tensor.storage.byteCount >= needed else {
                throw RuntimeError.inputMismatch(
                    name: slot < node.inputs.count ? node.inputs[slot] : tensor.name ?? "#\(slot)",
                    expected: needed.map { "\($0) bytes of \(tensor.dataType) \(describe(tensor.shape))" } ?? "a numeric tensor",
                    found: "\(tensor.storage.byteCount) bytes")
            }
            bound.append(BoundValue(pointer: address(of: tensor.storage), dataType: tensor.dataType, shape: tensor.shape, isConstant: true))
        }
        let storages = try run(node, inputs: bound, outputs: outputs.map(\.shape), opset: opset)
        return zip(outputs, storages).map { output, storage in
            Tensor(name: output.name, dataType: output.shape.dataType, shape: output.shape.shape, storage: storage)
        }
    }

    /// The one evaluation path: checks what only known inputs can show (an inference-mode Dropout),
    /// allocates the outputs and a workspace, builds the node's step on the serial pool and runs it once.
    ///
    /// Inputs that are not constant may point anywhere: only an operator that reads no data from them (Shape)
    /// may be given one.
    static func run(_ node: Node, inputs: [BoundValue?], outputs: [ValueShape], opset: Int) throws -> [TensorStorage] {
        if case .dropout = node.op { try checkInferenceDropout(node: node, inputs: inputs) }
        var storages: [TensorStorage] = []
        for (slot, output) in outputs.enumerated() {
            guard let byteCount = output.dataType.byteCount(elements: output.elementCount) else {
                throw RuntimeError.unsupportedType(node: node.displayName, opType: node.opType, dataType: output.dataType)
            }
            // An inference-mode Dropout's mask is all true; every other output starts zeroed.
            var fill: UInt8 = 0
            if case .dropout = node.op, slot == 1 { fill = 1 }
            storages.append(TensorStorage(byteCount: byteCount) { $0.initializeMemory(as: UInt8.self, repeating: fill) })
        }
        let boundOutputs = zip(outputs, storages).map { output, storage in
            BoundValue(pointer: address(of: storage), dataType: output.dataType, shape: output.shape)
        }
        let workspaceSize = try StepFactory.workspaceBytes(node: node, inputs: inputs.map { $0.map(Self.shapeOnly) }, outputs: outputs)
        let workspace = UnsafeMutableRawPointer.allocate(byteCount: max(workspaceSize, 1), alignment: 64)
        defer { workspace.deallocate() }
        let step = try StepFactory.make(node: node, inputs: inputs, outputs: boundOutputs, workspace: workspaceSize > 0 ? workspace : nil,
                                        opset: opset, pool: .serial)
        try step.run(node: node)
        return storages
    }

    /// Dropout runs as the identity, which is right only in inference mode or with a zero ratio.
    static func checkInferenceDropout(node: Node, inputs: [BoundValue?]) throws {
        guard inputs.count > 2, let mode = inputs[2] else { return }
        guard mode.isConstant else {
            throw RuntimeError.nonConstantInput(node: node.displayName, opType: node.opType, input: node.inputs[2], role: "training_mode")
        }
        guard mode.elementCount > 0, mode.pointer.load(as: UInt8.self) != 0 else { return }
        var ratio: Float = 0.5
        if let ratioValue = inputs[1] {
            guard ratioValue.isConstant, ratioValue.dataType.byteCount(elements: ratioValue.elementCount) ?? 0 >= 4 else {
                throw RuntimeError.nonConstantInput(node: node.displayName, opType: node.opType, input: node.inputs[1], role: "ratio")
            }
            ratio = ratioValue.dataType == .double ? Float(ratioValue.pointer.loadUnaligned(as: Double.self))
                : ratioValue.pointer.loadUnaligned(as: Float.self)
        }
        if ratio != 0 {
            throw RuntimeError.unsupportedAttribute(
                node: node.displayName, opType: node.opType,
                reason: "training mode with ratio \(ratio) drops random elements; Resin runs inference only")
        }
    }

    static func shapeOnly(_ value: BoundValue) -> ValueShape {
        ValueShape(dataType: value.dataType, shape: value.shape)
    }

    /// The address of a storage's bytes (storage is immutable; kernels only write outputs and workspaces).
    static func address(of storage: TensorStorage) -> UnsafeMutableRawPointer {
        UnsafeMutableRawPointer(mutating: storage.bytes.baseAddress ?? TensorStorage.empty.bytes.baseAddress!)
    }
}
