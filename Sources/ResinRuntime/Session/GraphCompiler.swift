import ResinIR

/// A value while a graph is compiled: its type and shape, and where its bytes live.
struct CompiledValue {
    enum Location {
        /// Known when the session is made: an initializer or a folded node output.
        case constant(TensorStorage)
        /// A block of the arena, by index into the compiler's blocks.
        case block(Int)
    }

    var dataType: DataType
    var shape: [Int]
    var location: Location

    var elementCount: Int { shape.reduce(1, *) }
    var byteCount: Int { dataType.byteCount(elements: elementCount) ?? 0 }
    var isConstant: Bool {
        if case .constant = location { return true }
        return false
    }
}

/// A value bound to memory: what a step is built from.
public struct BoundValue {
    public var pointer: UnsafeMutableRawPointer
    public var dataType: DataType
    public var shape: [Int]
    /// Whether the bytes are known when the session is made (an initializer or a folded value).
    public var isConstant: Bool = false

    public var elementCount: Int { shape.reduce(1, *) }
    public var floats: UnsafeMutablePointer<Float> { pointer.assumingMemoryBound(to: Float.self) }
}

/// A graph turned into steps over one planned arena.
///
/// Compiling binds the inputs' symbolic dimensions, infers every shape, evaluates every node whose
/// inputs are known (initializers, shape arithmetic, ConstantOfShape) once with the same kernels
/// (`NodeEvaluator`), makes reshapes and identities aliases of their input, and gives every other node a
/// step. The arena holds the graph inputs, every intermediate tensor and every kernel workspace, placed by
/// the memory planner; graph outputs stay live to the end.
///
/// A FusedConv whose residual dies at it accumulates into the residual's block instead of taking a new one
/// (Docs/DESIGN.md: about a tenth off ResNet-50's plan): see `inPlaceBlock`.
struct GraphCompiler {
    struct PendingStep {
        var node: Node
        var inputs: [CompiledValue?]
        var outputs: [CompiledValue]
        var workspaceBlock: Int?
    }

    var graph: Graph
    let opset: Int
    var values: [String: CompiledValue] = [:]
    var blocks: [PlannedBlock] = []
    var pending: [PendingStep] = []
    var inputNames: [String] = []
    /// The values held by each block (a tensor and its views); empty for workspaces.
    var blockValues: [[String]] = []
    /// Each value's last consuming node, as a position in the execution order.
    var lastConsumer: [String: Int] = [:]
    /// Values that must survive the run or were written by the caller: graph outputs and inputs.
    var pinnedValues: Set<String> = []
    /// Outputs of FusedConv nodes that run in place, in their residual's block.
    var inPlaceOutputs: [String] = []
    /// Whether a FusedConv may take its dying residual's block (off only to measure what it saves).
    var accumulatesInPlace = true
    /// The session's threads: a step's workspace may depend on them (`StepFactory.workspaceBytes`).
    private(set) var threads = 1
    /// Bytes of the values folded while compiling (allocated now, kept by the session), and the most they
    /// may reach: folding checks each output's size against it before evaluating the node.
    var foldedBytes = 0
    var memoryLimit = Int.max

    init(model: Model) {
        graph = model.graph
        opset = model.defaultOpsetVersion ?? 1
    }

    /// The bindings of symbolic input dimensions: the batch for leading dimensions, and whatever the
    /// given input shapes fill.
    func bindings(options: SessionOptions) throws -> [String: Int] {
        var bindings: [String: Int] = [:]
        // Dimensions from outside the file obey the bound the importers apply to a file's own, so that shape
        // arithmetic on them cannot overflow.
        if let batch = options.batch, batch > Dimension.maximum || batch < 0 {
            throw RuntimeError.dimensionTooLarge(input: graph.runtimeInputs.first?.name ?? "batch", dimension: batch)
        }
        for (name, shape) in options.inputShapes.sorted(by: { $0.key < $1.key }) {
            if let huge = shape.first(where: { $0 > Dimension.maximum || $0 < 0 }) {
                throw RuntimeError.dimensionTooLarge(input: name, dimension: huge)
            }
        }
        for input in graph.runtimeInputs {
            guard let dimensions = input.type?.dimensions else { continue }
            if let given = options.inputShapes[input.name], given.count == dimensions.count {
                for (dimension, value) in zip(dimensions, given) {
                    if case .symbolic(let name) = dimension, bindings[name] == nil { bindings[name] = value }
                }
            }
        }
        for input in graph.runtimeInputs {
            guard let dimensions = input.type?.dimensions else { continue }
            for (axis, dimension) in dimensions.enumerated() {
                guard case .symbolic(let name) = dimension, bindings[name] == nil else { continue }
                if axis == 0 {
                    bindings[name] = options.batch ?? 1
                } else {
                    throw RuntimeError.unboundDimension(input: input.name, dimension: name, shape: describe(dimensions))
                }
            }
        }
        return bindings
    }

    mutating func compile(options: SessionOptions) throws {
        memoryLimit = options.effectiveMemoryLimit
        threads = options.threads
        // Fixed inputs become initializers; listed among the inputs as IR version 3 files do, they are
        // constants that no caller feeds.
        for (name, tensor) in options.fixedInputs.sorted(by: { $0.key < $1.key }) {
            guard let input = graph.runtimeInputs.first(where: { $0.name == name }) else {
                throw RuntimeError.unknownInput(name: name, inputs: graph.runtimeInputs.map(\.name))
            }
            if let type = input.type?.elementType, type != tensor.dataType {
                throw RuntimeError.inputMismatch(name: name, expected: "type \(type)", found: "type \(tensor.dataType)")
            }
            var constant = tensor
            constant.name = name
            graph.initializers.append(constant)
        }
        let unsupported = graph.unsupportedOperators
        guard unsupported.isEmpty else { throw RuntimeError.unsupportedOperators(unsupported) }
        let facts = try graph.inferFacts(bindings: try bindings(options: options))

        for tensor in graph.initializers {
            guard let name = tensor.name else { continue }
            values[name] = CompiledValue(dataType: tensor.dataType, shape: tensor.shape, location: .constant(tensor.storage))
        }
        for input in graph.runtimeInputs {
            let fact = facts[input.name]
            guard let shape = fact?.dimensions?.fixedShape, let dataType = fact?.dataType else {
                throw RuntimeError.unboundDimension(
                    input: input.name, dimension: "?", shape: input.type?.dimensions.map(describe) ?? "[unknown]")
            }
            let value = try newBlockValue(name: input.name, node: nil, dataType: dataType, shape: shape, firstStep: 0)
            values[input.name] = value
            blockValues[blockValues.count - 1].append(input.name)
            inputNames.append(input.name)
        }

        let order = try graph.topologicalOrder()
        for (position, index) in order.enumerated() {
            for name in graph.nodes[index].inputs where !name.isEmpty { lastConsumer[name] = position }
        }
        pinnedValues = Set(graph.outputs.map(\.name) + graph.inputs.map(\.name))
        for (position, index) in order.enumerated() {
            try compile(node: graph.nodes[index], position: position, facts: facts)
        }
        // Graph outputs stay live to the end of the run.
        let end = max(pending.count - 1, 0)
        for output in graph.outputs {
            if case .block(let block)? = values[output.name]?.location { blocks[block].lastStep = end }
        }
    }

    /// "tensor 'x' [1, 64, 56, 56] float32 of 802816 bytes", or a kernel workspace's owner, for messages.
    func describeBlock(_ index: Int) -> String {
        let bytes = blocks[index].size
        if let name = blockValues[index].first, let value = values[name] {
            return "tensor '\(name)' \(describe(value.shape)) \(value.dataType) of \(bytes) bytes"
        }
        let owner = pending.first { $0.workspaceBlock == index }?.node
        return "workspace of node '\(owner?.displayName ?? "?")' (\(owner?.opType ?? "?")) of \(bytes) bytes"
    }

    /// The bytes of a value a file's shapes make, checked: a dimension of 2^40 times a few more does not fit
    /// in 64 bits, and nothing may be sized, let alone allocated, from a wrapped count.
    static func checkedByteCount(name: String, node: Node?, dataType: DataType, shape: [Int]) throws -> Int {
        guard let count = elementCount(of: shape), let bytes = dataType.byteCount(elements: count) else {
            throw RuntimeError.sizeOverflow(value: name, node: node?.displayName ?? "", opType: node?.opType ?? "",
                                            dataType: dataType, shape: shape)
        }
        return bytes
    }

    /// Counts `bytes` more of folded constants, refusing before they are allocated when the total passes the limit.
    private mutating func reserveFolded(_ bytes: Int, name: String, node: Node, shape: [Int]) throws {
        let (total, overflow) = foldedBytes.addingReportingOverflow(bytes)
        guard !overflow, total <= memoryLimit else {
            throw RuntimeError.memoryLimitExceeded(
                bytes: overflow ? Int.max : total, limit: memoryLimit,
                what: "constants folded at compile time, up to output '\(name)' \(describe(shape)) of node '\(node.displayName)' (\(node.opType)): \(bytes) bytes")
        }
        foldedBytes = total
    }

    private mutating func newBlockValue(name: String, node: Node?, dataType: DataType, shape: [Int], firstStep: Int) throws -> CompiledValue {
        let bytes = try Self.checkedByteCount(name: name, node: node, dataType: dataType, shape: shape)
        blocks.append(PlannedBlock(size: bytes, firstStep: firstStep, lastStep: firstStep))
        blockValues.append([])
        return CompiledValue(dataType: dataType, shape: shape, location: .block(blocks.count - 1))
    }

    private mutating func compile(node: Node, position: Int, facts: [String: ValueFacts]) throws {
        let inputs = node.inputs.map { $0.isEmpty ? nil : values[$0] }
        var outputs: [(name: String, dataType: DataType, shape: [Int])] = []
        for name in node.outputs where !name.isEmpty {
            guard let fact = facts[name], let shape = fact.dimensions?.fixedShape, let dataType = fact.dataType else {
                throw RuntimeError.unresolvedShape(value: name, node: node.displayName, opType: node.opType)
            }
            outputs.append((name, dataType, shape))
        }

        if case .dropout = node.op { try NodeEvaluator.checkInferenceDropout(node: node, inputs: inputs.map { $0.map(Self.evaluationBinding) }) }
        // Shape only needs its input's dimensions, which are known here; Constant needs nothing.
        let foldable: Bool
        switch node.op {
        case .shape, .constant: foldable = true
        default: foldable = inputs.allSatisfy { $0?.isConstant ?? true }
        }
        if foldable {
            try fold(node: node, inputs: inputs, outputs: outputs)
            return
        }
        if let source = aliasSource(of: node), let input = inputs[source], case .block(let block) = input.location,
           let output = outputs.first, output.dataType == input.dataType {
            // A view: the output shares its input's block; the block lives as long as either is used.
            values[output.name] = CompiledValue(dataType: output.dataType, shape: output.shape, location: .block(block))
            blockValues[block].append(output.name)
            try foldDropoutMask(node: node, outputs: outputs)
            return
        }

        let step = pending.count
        for case let value? in inputs {
            if case .block(let block) = value.location { blocks[block].lastStep = max(blocks[block].lastStep, step) }
        }
        var compiledOutputs: [CompiledValue] = []
        if let block = inPlaceBlock(node: node, position: position, inputs: inputs, outputs: outputs) {
            // The residual dies here: the convolution accumulates into its bytes, which then hold the output.
            let output = outputs[0]
            let value = CompiledValue(dataType: output.dataType, shape: output.shape, location: .block(block))
            values[output.name] = value
            blockValues[block].append(output.name)
            inPlaceOutputs.append(output.name)
            compiledOutputs.append(value)
        } else {
            for output in outputs {
                let value = try newBlockValue(name: output.name, node: node, dataType: output.dataType, shape: output.shape, firstStep: step)
                values[output.name] = value
                blockValues[blockValues.count - 1].append(output.name)
                compiledOutputs.append(value)
            }
        }
        let workspace = try StepFactory.workspaceBytes(node: node, inputs: inputs.map { $0.map(Self.shapeOnly) },
                                                       outputs: compiledOutputs.map(Self.shapeOnly), threads: threads)
        var workspaceBlock: Int?
        if workspace > 0 {
            blocks.append(PlannedBlock(size: workspace, firstStep: step, lastStep: step))
            blockValues.append([])
            workspaceBlock = blocks.count - 1
        }
        pending.append(PendingStep(node: node, inputs: inputs, outputs: compiledOutputs, workspaceBlock: workspaceBlock))
    }

    /// The block a FusedConv's output can share with its residual, if the residual dies at this node.
    ///
    /// The residual (input 3) must sit in an arena block, with the output's type and shape, and every value
    /// in that block (the residual and its views) must be read by no node after this one and be neither a
    /// graph output (which must survive the run) nor a graph input (which the caller writes once and may run
    /// again). No other input of the node may live in the block: the convolution reads X while it writes.
    private func inPlaceBlock(
        node: Node, position: Int, inputs: [CompiledValue?], outputs: [(name: String, dataType: DataType, shape: [Int])]
    ) -> Int? {
        guard accumulatesInPlace, case .fusedConv = node.op, inputs.count > 3, let skip = inputs[3],
              case .block(let block) = skip.location, outputs.count == 1,
              outputs[0].dataType == skip.dataType, outputs[0].shape == skip.shape else { return nil }
        for (slot, input) in inputs.enumerated() where slot != 3 {
            if case .block(let other)? = input?.location, other == block { return nil }
        }
        for name in blockValues[block] {
            if pinnedValues.contains(name) || (lastConsumer[name] ?? -1) > position { return nil }
        }
        return block
    }

    static func shapeOnly(_ value: CompiledValue) -> ValueShape {
        ValueShape(dataType: value.dataType, shape: value.shape)
    }

    /// The input a view operator's output aliases, if the node is one.
    private func aliasSource(of node: Node) -> Int? {
        switch node.op {
        case .identity, .reshape, .flatten, .squeeze, .unsqueeze: return 0
        case .dropout(let attributes):
            _ = attributes
            return 0
        default: return nil
        }
    }

    /// An inference-mode Dropout's optional mask output is all true.
    private mutating func foldDropoutMask(node: Node, outputs: [(name: String, dataType: DataType, shape: [Int])]) throws {
        guard case .dropout = node.op, outputs.count > 1 else { return }
        let mask = outputs[1]
        let count = try Self.checkedByteCount(name: mask.name, node: node, dataType: .bool, shape: mask.shape)
        try reserveFolded(count, name: mask.name, node: node, shape: mask.shape)
        let storage = TensorStorage(byteCount: count) { $0.initializeMemory(as: UInt8.self, repeating: 1) }
        values[mask.name] = CompiledValue(dataType: mask.dataType, shape: mask.shape, location: .constant(storage))
    }

    /// Evaluates a node whose inputs are all known (or, for Shape, whose input's shape is), with the
    /// kernels the session runs.
    private mutating func fold(node: Node, inputs: [CompiledValue?], outputs: [(name: String, dataType: DataType, shape: [Int])]) throws {
        for output in outputs {
            let bytes = try Self.checkedByteCount(name: output.name, node: node, dataType: output.dataType, shape: output.shape)
            try reserveFolded(bytes, name: output.name, node: node, shape: output.shape)
        }
        let storages = try NodeEvaluator.run(
            node, inputs: inputs.map { $0.map(Self.evaluationBinding) },
            outputs: outputs.map { ValueShape(dataType: $0.dataType, shape: $0.shape) }, opset: opset)
        for (output, storage) in zip(outputs, storages) {
            values[output.name] = CompiledValue(dataType: output.dataType, shape: output.shape, location: .constant(storage))
        }
    }

    /// A value bound for evaluation at compile time: constants at their bytes; a value of the arena, which
    /// has no memory yet, at no bytes at all (Shape reads only its dimensions).
    static func evaluationBinding(_ value: CompiledValue) -> BoundValue {
        let pointer: UnsafeMutableRawPointer
        switch value.location {
        case .constant(let storage): pointer = NodeEvaluator.address(of: storage)
        case .block: pointer = NodeEvaluator.address(of: .empty)
        }
        return BoundValue(pointer: pointer, dataType: value.dataType, shape: value.shape, isConstant: value.isConstant)
    }
}

/// A value's type and shape, for sizing workspaces before memory exists.
public struct ValueShape: Equatable, Sendable {
    public var dataType: DataType
    public var shape: [Int]
    public var elementCount: Int { shape.reduce(1, *) }
}
