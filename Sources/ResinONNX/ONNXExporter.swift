import CONNXProto
import CProtobufC
import ResinIR

/// Writes Resin's IR back to standard ONNX through protobuf-c.
///
/// A graph imported and exported unchanged keeps its nodes, names, attributes, initializer bytes and
/// encodings, value infos, opset imports and metadata. Externally stored tensors are written inline.
public enum ONNXExporter {
    /// The model encoded as ONNX protobuf bytes. Externally stored tensors are written inline unless
    /// `keepingExternalReferences` is set, when only their references are written (the caller provides the data files).
    public static func encode(_ model: Model, keepingExternalReferences: Bool = false) -> [UInt8] {
        let arena = CArena()
        let builder = ProtoBuilder(arena: arena, keepsExternalReferences: keepingExternalReferences)
        let proto = builder.model(model)
        let size = onnx__model_proto__get_packed_size(proto)
        var bytes = [UInt8](repeating: 0, count: size)
        bytes.withUnsafeMutableBufferPointer { _ = onnx__model_proto__pack(proto, $0.baseAddress!) }
        withExtendedLifetime(model) {}
        return bytes
    }

    /// Writes the model to `path` atomically: on failure nothing is left behind and an existing file stays.
    public static func write(_ model: Model, toPath path: String) throws {
        let bytes = encode(model)
        try writeFileAtomically(atPath: path) { append in
            try bytes.withUnsafeBytes { try append($0) }
        }
    }
}

/// Builds protobuf-c messages from IR values inside one arena.
struct ProtoBuilder {
    let arena: CArena
    /// Write external tensors as references instead of inline bytes.
    var keepsExternalReferences = false

    func model(_ model: Model) -> UnsafeMutablePointer<Onnx__ModelProto> {
        let proto: UnsafeMutablePointer<Onnx__ModelProto> = arena.message(onnx__model_proto__init)
        if let version = model.irVersion {
            proto.pointee.has_ir_version = 1
            proto.pointee.ir_version = version
        }
        proto.pointee.n_opset_import = model.opsetImports.count
        proto.pointee.opset_import = arena.array(model.opsetImports.map { entry in
            let opset: UnsafeMutablePointer<Onnx__OperatorSetIdProto> = arena.message(onnx__operator_set_id_proto__init)
            opset.pointee.domain = arena.string(entry.domain)
            if let version = entry.version {
                opset.pointee.has_version = 1
                opset.pointee.version = version
            }
            return opset
        })
        proto.pointee.producer_name = arena.string(model.producerName)
        proto.pointee.producer_version = arena.string(model.producerVersion)
        proto.pointee.domain = arena.string(model.domain)
        if let version = model.modelVersion {
            proto.pointee.has_model_version = 1
            proto.pointee.model_version = version
        }
        proto.pointee.doc_string = arena.string(model.docString)
        proto.pointee.graph = graph(model.graph)
        (proto.pointee.n_metadata_props, proto.pointee.metadata_props) = pairs(model.metadata)
        proto.pointee.n_functions = model.functions.count
        proto.pointee.functions = arena.array(model.functions.map { unpacked($0, onnx__function_proto__unpack, onnx__function_proto__free_unpacked) })
        proto.pointee.n_training_info = model.trainingInfo.count
        proto.pointee.training_info = arena.array(model.trainingInfo.map { unpacked($0, onnx__training_info_proto__unpack, onnx__training_info_proto__free_unpacked) })
        proto.pointee.n_configuration = model.configuration.count
        proto.pointee.configuration = arena.array(model.configuration.map { unpacked($0, onnx__device_configuration_proto__unpack, onnx__device_configuration_proto__free_unpacked) })
        return proto
    }

    func graph(_ graph: Graph) -> UnsafeMutablePointer<Onnx__GraphProto> {
        let proto: UnsafeMutablePointer<Onnx__GraphProto> = arena.message(onnx__graph_proto__init)
        proto.pointee.name = arena.string(graph.name)
        proto.pointee.doc_string = arena.string(graph.docString)
        proto.pointee.n_node = graph.nodes.count
        proto.pointee.node = arena.array(graph.nodes.map(node))
        proto.pointee.n_initializer = graph.initializers.count
        proto.pointee.initializer = arena.array(graph.initializers.map(tensor))
        proto.pointee.n_sparse_initializer = graph.sparseInitializers.count
        proto.pointee.sparse_initializer = arena.array(graph.sparseInitializers.map(sparseTensor))
        proto.pointee.n_input = graph.inputs.count
        proto.pointee.input = arena.array(graph.inputs.map(valueInfo))
        proto.pointee.n_output = graph.outputs.count
        proto.pointee.output = arena.array(graph.outputs.map(valueInfo))
        proto.pointee.n_value_info = graph.valueInfo.count
        proto.pointee.value_info = arena.array(graph.valueInfo.map(valueInfo))
        proto.pointee.n_quantization_annotation = graph.quantizationAnnotations.count
        proto.pointee.quantization_annotation = arena.array(graph.quantizationAnnotations.map { annotation in
            let entry: UnsafeMutablePointer<Onnx__TensorAnnotation> = arena.message(onnx__tensor_annotation__init)
            entry.pointee.tensor_name = arena.string(annotation.tensorName)
            (entry.pointee.n_quant_parameter_tensor_names, entry.pointee.quant_parameter_tensor_names) = pairs(annotation.entries)
            return entry
        })
        (proto.pointee.n_metadata_props, proto.pointee.metadata_props) = pairs(graph.metadata)
        return proto
    }

    func node(_ node: Node) -> UnsafeMutablePointer<Onnx__NodeProto>? {
        let proto: UnsafeMutablePointer<Onnx__NodeProto> = arena.message(onnx__node_proto__init)
        proto.pointee.name = arena.string(node.name)
        proto.pointee.op_type = arena.string(node.opType)
        proto.pointee.domain = arena.string(node.domain)
        proto.pointee.overload = arena.string(node.overload)
        proto.pointee.doc_string = arena.string(node.docString)
        proto.pointee.n_input = node.inputs.count
        proto.pointee.input = arena.strings(node.inputs)
        proto.pointee.n_output = node.outputs.count
        proto.pointee.output = arena.strings(node.outputs)
        proto.pointee.n_attribute = node.attributes.count
        proto.pointee.attribute = arena.array(node.attributes.map(attribute))
        (proto.pointee.n_metadata_props, proto.pointee.metadata_props) = pairs(node.metadata)
        proto.pointee.n_device_configurations = node.deviceConfigurations.count
        proto.pointee.device_configurations = arena.array(node.deviceConfigurations.map {
            unpacked($0, onnx__node_device_configuration_proto__unpack, onnx__node_device_configuration_proto__free_unpacked)
        })
        return proto
    }

    func attribute(_ attribute: Attribute) -> UnsafeMutablePointer<Onnx__AttributeProto>? {
        let proto: UnsafeMutablePointer<Onnx__AttributeProto> = arena.message(onnx__attribute_proto__init)
        proto.pointee.name = arena.string(attribute.name)
        proto.pointee.doc_string = arena.string(attribute.docString)
        proto.pointee.ref_attr_name = arena.string(attribute.referenceName)
        proto.pointee.has_type = 1
        switch attribute.value {
        case .float(let value):
            proto.pointee.type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT
            proto.pointee.has_f = 1
            proto.pointee.f = value
        case .int(let value):
            proto.pointee.type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT
            proto.pointee.has_i = 1
            proto.pointee.i = value
        case .string(let value):
            proto.pointee.type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING
            proto.pointee.has_s = 1
            proto.pointee.s = arena.binary(value)
        case .tensor(let value):
            proto.pointee.type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR
            proto.pointee.t = tensor(value)
        case .graph(let value):
            proto.pointee.type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH
            proto.pointee.g = graph(value)
        case .sparseTensor(let value):
            proto.pointee.type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__SPARSE_TENSOR
            proto.pointee.sparse_tensor = sparseTensor(value)
        case .type(let value):
            proto.pointee.type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TYPE_PROTO
            proto.pointee.tp = typeProto(value)
        case .floats(let values):
            proto.pointee.type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS
            proto.pointee.n_floats = values.count
            proto.pointee.floats = arena.array(values)
        case .ints(let values):
            proto.pointee.type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS
            proto.pointee.n_ints = values.count
            proto.pointee.ints = arena.array(values)
        case .strings(let values):
            proto.pointee.type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRINGS
            proto.pointee.n_strings = values.count
            proto.pointee.strings = arena.array(values.map(arena.binary))
        case .tensors(let values):
            proto.pointee.type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSORS
            proto.pointee.n_tensors = values.count
            proto.pointee.tensors = arena.array(values.map(tensor))
        case .graphs(let values):
            proto.pointee.type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPHS
            proto.pointee.n_graphs = values.count
            proto.pointee.graphs = arena.array(values.map(graph))
        case .sparseTensors(let values):
            proto.pointee.type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__SPARSE_TENSORS
            proto.pointee.n_sparse_tensors = values.count
            proto.pointee.sparse_tensors = arena.array(values.map(sparseTensor))
        case .types(let values):
            proto.pointee.type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TYPE_PROTOS
            proto.pointee.n_type_protos = values.count
            proto.pointee.type_protos = arena.array(values.map(typeProto))
        case .undefined:
            proto.pointee.type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__UNDEFINED
        }
        return proto
    }

    func pairs(_ entries: [StringPair]) -> (Int, UnsafeMutablePointer<UnsafeMutablePointer<Onnx__StringStringEntryProto>?>?) {
        (entries.count, arena.array(entries.map { entry in
            let proto: UnsafeMutablePointer<Onnx__StringStringEntryProto> = arena.message(onnx__string_string_entry_proto__init)
            proto.pointee.key = arena.string(entry.key)
            proto.pointee.value = arena.string(entry.value)
            return proto
        }))
    }

    /// A message decoded from kept bytes; the arena frees it with protobuf-c's own free.
    func unpacked<Message>(
        _ bytes: [UInt8],
        _ unpack: (UnsafeMutablePointer<ProtobufCAllocator>?, Int, UnsafePointer<UInt8>?) -> UnsafeMutablePointer<Message>?,
        _ free: @escaping (UnsafeMutablePointer<Message>?, UnsafeMutablePointer<ProtobufCAllocator>?) -> Void
    ) -> UnsafeMutablePointer<Message>? {
        let message = bytes.withUnsafeBufferPointer { unpack(nil, $0.count, $0.baseAddress) }
        if let message { arena.onDeinit { free(message, nil) } }
        return message
    }
}
