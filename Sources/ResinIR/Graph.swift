/// An annotation of a tensor with key/value pairs (`TensorAnnotation`), kept for round trips.
public struct TensorAnnotation: Equatable, Sendable {
    public var tensorName: String?
    public var entries: [StringPair]
    public init(tensorName: String?, entries: [StringPair]) {
        self.tensorName = tensorName
        self.entries = entries
    }
}

/// A computation graph: nodes in the file's order, its inputs, outputs and constant initializers.
public struct Graph: Equatable, Sendable {
    public var name: String?
    public var nodes: [Node]
    /// The graph inputs; in IR version 3 files these also list the initializers.
    public var inputs: [ValueInfo]
    public var outputs: [ValueInfo]
    /// Type annotations of intermediate values.
    public var valueInfo: [ValueInfo]
    public var initializers: [Tensor]
    public var sparseInitializers: [SparseTensor]
    public var docString: String?
    public var quantizationAnnotations: [TensorAnnotation]
    public var metadata: [StringPair]

    public init(
        name: String? = nil, nodes: [Node] = [], inputs: [ValueInfo] = [], outputs: [ValueInfo] = [],
        valueInfo: [ValueInfo] = [], initializers: [Tensor] = [], sparseInitializers: [SparseTensor] = [],
        docString: String? = nil, quantizationAnnotations: [TensorAnnotation] = [], metadata: [StringPair] = []
    ) {
        self.name = name
        self.nodes = nodes
        self.inputs = inputs
        self.outputs = outputs
        self.valueInfo = valueInfo
        self.initializers = initializers
        self.sparseInitializers = sparseInitializers
        self.docString = docString
        self.quantizationAnnotations = quantizationAnnotations
        self.metadata = metadata
    }

    /// Initializers by name.
    public var initializersByName: [String: Tensor] {
        var table: [String: Tensor] = [:]
        for tensor in initializers { if let name = tensor.name { table[name] = tensor } }
        return table
    }

    /// The graph inputs a caller must feed: those that no initializer provides.
    public var runtimeInputs: [ValueInfo] {
        let constant = Set(initializers.compactMap(\.name))
        return inputs.filter { !constant.contains($0.name) }
    }
}

/// An operator set a model imports: a domain and its version.
public struct OpsetImport: Equatable, Sendable {
    /// The domain; empty (or nil) is the default ONNX domain.
    public var domain: String?
    public var version: Int64?
    public init(domain: String?, version: Int64?) {
        self.domain = domain
        self.version = version
    }
}

/// A whole model: the graph and what the file says about it.
public struct Model: Equatable, Sendable {
    public var irVersion: Int64?
    public var opsetImports: [OpsetImport]
    public var producerName: String?
    public var producerVersion: String?
    public var domain: String?
    public var modelVersion: Int64?
    public var docString: String?
    public var graph: Graph
    public var metadata: [StringPair]
    /// `FunctionProto` messages as their encoded bytes: Resin does not interpret them but keeps them.
    public var functions: [[UInt8]]
    /// `TrainingInfoProto` messages as their encoded bytes, kept for round trips.
    public var trainingInfo: [[UInt8]]
    /// `DeviceConfigurationProto` messages as their encoded bytes, kept for round trips.
    public var configuration: [[UInt8]]

    public init(
        irVersion: Int64? = nil, opsetImports: [OpsetImport] = [], producerName: String? = nil,
        producerVersion: String? = nil, domain: String? = nil, modelVersion: Int64? = nil,
        docString: String? = nil, graph: Graph, metadata: [StringPair] = [], functions: [[UInt8]] = [],
        trainingInfo: [[UInt8]] = [], configuration: [[UInt8]] = []
    ) {
        self.irVersion = irVersion
        self.opsetImports = opsetImports
        self.producerName = producerName
        self.producerVersion = producerVersion
        self.domain = domain
        self.modelVersion = modelVersion
        self.docString = docString
        self.graph = graph
        self.metadata = metadata
        self.functions = functions
        self.trainingInfo = trainingInfo
        self.configuration = configuration
    }

    /// The version of the default ONNX operator set the model imports.
    public var defaultOpsetVersion: Int? {
        opsetImports.first { ($0.domain ?? "").isEmpty || $0.domain == "ai.onnx" }?.version.map { Int($0) }
    }

    /// The version imported for a domain.
    public func opsetVersion(domain: String?) -> Int? {
        let wanted = (domain ?? "") == "ai.onnx" ? "" : (domain ?? "")
        return opsetImports.first {
            let have = ($0.domain ?? "") == "ai.onnx" ? "" : ($0.domain ?? "")
            return have == wanted
        }?.version.map { Int($0) }
    }
}
