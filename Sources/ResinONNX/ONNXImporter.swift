import CONNXProto
import CProtobufC
import ResinIR

/// Reads ONNX files into Resin's IR through protobuf-c.
///
/// Decoding is protobuf-c's; everything after it is checked here: tensor sizes against their types and
/// dimensions, external data paths against the model's folder, attribute types against the operator,
/// and the graph's structure (every name produced once, no cycles).
public enum ONNXImporter {
    /// Imports the model at `path`; external data is resolved relative to its folder.
    public static func importModel(atPath path: String) throws(ImportError) -> Model {
        let file: MappedFile
        do {
            file = try MappedFile(path: path)
        } catch {
            throw ImportError(file: path, problem: .unreadable(error as? FileError ?? FileError(path: path, reason: "\(error)")))
        }
        let folder = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "."
        // The mapping must outlive the decode: tensors are copied out of it only during unpack.
        return try withExtendedLifetime(file) { () throws(ImportError) -> Model in
            try importModel(bytes: file.bytes, file: path, folder: folder.isEmpty ? "/" : folder)
        }
    }

    /// Imports a model from its encoded bytes; `file` names it in messages and `folder` anchors external data.
    /// Provides the bytes of an externally stored tensor from something other than a file beside the
    /// model (the native format's blobs): given the tensor's name, its `external_data` entries and the byte
    /// count its type and dims need.
    public typealias ExternalResolver = (_ tensor: String, _ entries: [StringPair], _ byteCount: Int) throws -> TensorStorage

    public static func importModel(
        bytes: UnsafeRawBufferPointer, file: String, folder: String?, resolveExternal: ExternalResolver? = nil
    ) throws(ImportError) -> Model {
        func fail(_ problem: ImportError.Problem) -> ImportError { ImportError(file: file, problem: problem) }
        if let problem = WireScanner.diagnose(bytes) { throw fail(.notProtobuf(detail: problem)) }
        let arena = DecodeArena(expectedBytes: bytes.count)
        var allocator = arena.allocator
        // The arena owns every decoded block, so the message is never freed piecemeal.
        guard let proto = onnx__model_proto__unpack(&allocator, bytes.count, bytes.baseAddress?.assumingMemoryBound(to: UInt8.self)) else {
            if arena.exhausted { throw fail(.notProtobuf(detail: "out of memory while decoding")) }
            throw fail(.notProtobuf(detail: "protobuf decoding failed (a field has the wrong wire type or a malformed value)"))
        }
        do {
            var converter = ProtoConverter(file: file, folder: folder, arena: arena)
            converter.resolveExternal = resolveExternal
            return try converter.model(proto.pointee)
        } catch let error as ImportError.Problem {
            throw fail(error)
        } catch let error as GraphError {
            throw fail(.graph(error))
        } catch {
            throw fail(.graph(.invalidModel(reason: "\(error)")))
        }
    }
}

/// Conversion of decoded protobuf-c structs into IR values.
struct ProtoConverter {
    let file: String
    let folder: String?
    /// The memory the message was decoded into; tensors borrow their bytes from it.
    let arena: DecodeArena
    /// Operator set versions by domain ("" for the default domain).
    var opsets: [String: Int] = [:]
    /// Where external tensors come from when not from files beside the model.
    var resolveExternal: ONNXImporter.ExternalResolver?

    init(file: String, folder: String?, arena: DecodeArena) {
        self.file = file
        self.folder = folder
        self.arena = arena
    }

    mutating func model(_ proto: Onnx__ModelProto) throws -> Model {
        guard proto.has_ir_version != 0 else {
            throw GraphError.invalidModel(reason: "the model has no ir_version")
        }
        guard let graphProto = proto.graph else {
            throw GraphError.invalidModel(reason: "the model has no graph (ModelProto.graph is missing)")
        }
        let imports = buffer(proto.opset_import, proto.n_opset_import).map { entry in
            OpsetImport(domain: string(entry!.pointee.domain),
                        version: entry!.pointee.has_version != 0 ? entry!.pointee.version : nil)
        }
        for entry in imports {
            let domain = (entry.domain ?? "") == "ai.onnx" ? "" : (entry.domain ?? "")
            opsets[domain] = Int(clamping: entry.version ?? 1)
        }
        if opsets[""] == nil {
            if proto.ir_version < 3, imports.isEmpty {
                opsets[""] = 1  // IR versions 1 and 2 predate opset_import and mean opset 1.
            } else {
                throw GraphError.invalidModel(
                    reason: "the model imports no version of the default ONNX operator set (opset_import has no entry for domain '')")
            }
        }
        // The file's node order is kept for export; execution order comes from topologicalOrder().
        let graph = try self.graph(graphProto.pointee)
        try graph.verify()
        return Model(
            irVersion: proto.has_ir_version != 0 ? proto.ir_version : nil,
            opsetImports: imports,
            producerName: string(proto.producer_name),
            producerVersion: string(proto.producer_version),
            domain: string(proto.domain),
            modelVersion: proto.has_model_version != 0 ? proto.model_version : nil,
            docString: string(proto.doc_string),
            graph: graph,
            metadata: pairs(proto.metadata_props, proto.n_metadata_props),
            functions: buffer(proto.functions, proto.n_functions).map { packed($0!) { onnx__function_proto__get_packed_size($0) } pack: { onnx__function_proto__pack($0, $1) } },
            trainingInfo: buffer(proto.training_info, proto.n_training_info).map { packed($0!) { onnx__training_info_proto__get_packed_size($0) } pack: { onnx__training_info_proto__pack($0, $1) } },
            configuration: buffer(proto.configuration, proto.n_configuration).map { packed($0!) { onnx__device_configuration_proto__get_packed_size($0) } pack: { onnx__device_configuration_proto__pack($0, $1) } })
    }

    func graph(_ proto: Onnx__GraphProto) throws -> Graph {
        var graph = Graph(name: string(proto.name), docString: string(proto.doc_string))
        graph.initializers = try buffer(proto.initializer, proto.n_initializer).map { try tensor($0!) }
        graph.sparseInitializers = try buffer(proto.sparse_initializer, proto.n_sparse_initializer).map {
            try sparseTensor($0!.pointee)
        }
        graph.inputs = try buffer(proto.input, proto.n_input).map { try valueInfo($0!.pointee) }
        graph.outputs = try buffer(proto.output, proto.n_output).map { try valueInfo($0!.pointee) }
        graph.valueInfo = try buffer(proto.value_info, proto.n_value_info).map { try valueInfo($0!.pointee) }
        graph.quantizationAnnotations = buffer(proto.quantization_annotation, proto.n_quantization_annotation).map {
            TensorAnnotation(tensorName: string($0!.pointee.tensor_name),
                             entries: pairs($0!.pointee.quant_parameter_tensor_names, $0!.pointee.n_quant_parameter_tensor_names))
        }
        graph.metadata = pairs(proto.metadata_props, proto.n_metadata_props)
        graph.nodes = try buffer(proto.node, proto.n_node).map { try node($0!.pointee) }
        return graph
    }

    func node(_ proto: Onnx__NodeProto) throws -> Node {
        let opType = string(proto.op_type) ?? ""
        let name = string(proto.name)
        let outputs = buffer(proto.output, proto.n_output).map { string($0) ?? "" }
        let display = (name?.isEmpty ?? true) ? (outputs.first.map { "<output \($0)>" } ?? "<unnamed \(opType)>") : name!
        guard !opType.isEmpty else {
            throw GraphError.invalidModel(reason: "node '\(display)' has no op_type")
        }
        let attributes: [Attribute]
        do {
            attributes = try buffer(proto.attribute, proto.n_attribute).map { try attribute($0!.pointee) }
        } catch let problem as AttributeProblem {
            throw problem.at(node: display, opType: opType)
        }
        let domain = string(proto.domain)
        let key = (domain ?? "") == "ai.onnx" ? "" : (domain ?? "")
        let op: Operator
        if let version = opsets[key] {
            do {
                op = try Operator(opType: opType, domain: key, attributes: attributes, opset: version)
            } catch {
                throw error.at(node: display, opType: opType)
            }
        } else {
            op = .unsupported(UnsupportedOperator(opType: opType, domain: key))
        }
        var node = Node(
            name: name, opType: opType, domain: domain,
            inputs: buffer(proto.input, proto.n_input).map { string($0) ?? "" },
            outputs: outputs, attributes: attributes, op: op, docString: string(proto.doc_string),
            overload: string(proto.overload), metadata: pairs(proto.metadata_props, proto.n_metadata_props))
        node.deviceConfigurations = buffer(proto.device_configurations, proto.n_device_configurations).map {
            packed($0!) { onnx__node_device_configuration_proto__get_packed_size($0) } pack: { onnx__node_device_configuration_proto__pack($0, $1) }
        }
        return node
    }

    func attribute(_ proto: Onnx__AttributeProto) throws -> Attribute {
        let name = string(proto.name) ?? ""
        let declared: UInt32? = proto.has_type != 0 ? proto.type.rawValue : nil
        // Files from IR version 1 may leave `type` out; then the one field that is set says it.
        let type = declared ?? inferredType(proto)
        // A declared type whose field is empty while another field holds the value is a mislabelled attribute.
        if let declared, declared != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__UNDEFINED.rawValue,
           case let found = inferredType(proto), found != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__UNDEFINED.rawValue,
           found != declared, !holdsValue(proto, of: declared) {
            throw AttributeProblem.wrongType(
                attribute: name, expected: "a value of its declared type \(typeName(declared))", found: "a \(typeName(found)) value")
        }
        let value: AttributeValue
        switch type {
        case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT.rawValue: value = .float(proto.f)
        case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT.rawValue: value = .int(proto.i)
        case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING.rawValue: value = .string(bytes(proto.s))
        case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR.rawValue:
            guard let t = proto.t else { throw missingAttributeValue(name, "TENSOR") }
            value = .tensor(try tensor(t))
        case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH.rawValue:
            guard let g = proto.g else { throw missingAttributeValue(name, "GRAPH") }
            value = .graph(try graph(g.pointee))
        case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__SPARSE_TENSOR.rawValue:
            guard let s = proto.sparse_tensor else { throw missingAttributeValue(name, "SPARSE_TENSOR") }
            value = .sparseTensor(try sparseTensor(s.pointee))
        case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TYPE_PROTO.rawValue:
            guard let tp = proto.tp else { throw missingAttributeValue(name, "TYPE_PROTO") }
            value = .type(try typeDescription(tp.pointee))
        case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS.rawValue: value = .floats(Array(buffer(proto.floats, proto.n_floats)))
        case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS.rawValue: value = .ints(Array(buffer(proto.ints, proto.n_ints)))
        case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRINGS.rawValue:
            value = .strings(buffer(proto.strings, proto.n_strings).map(bytes))
        case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSORS.rawValue:
            value = .tensors(try buffer(proto.tensors, proto.n_tensors).map { try tensor($0!) })
        case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPHS.rawValue:
            value = .graphs(try buffer(proto.graphs, proto.n_graphs).map { try graph($0!.pointee) })
        case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__SPARSE_TENSORS.rawValue:
            value = .sparseTensors(try buffer(proto.sparse_tensors, proto.n_sparse_tensors).map { try sparseTensor($0!.pointee) })
        case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TYPE_PROTOS.rawValue:
            value = .types(try buffer(proto.type_protos, proto.n_type_protos).map { try typeDescription($0!.pointee) })
        case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__UNDEFINED.rawValue: value = .undefined
        default:
            throw AttributeProblem.invalid(attribute: name, reason: "has the unknown type \(type)")
        }
        return Attribute(name: name, value: value, docString: string(proto.doc_string),
                         referenceName: string(proto.ref_attr_name))
    }

    private func missingAttributeValue(_ name: String, _ type: String) -> AttributeProblem {
        .invalid(attribute: name, reason: "is declared \(type) but holds no value")
    }

    /// Whether the field that a type uses is set.
    private func holdsValue(_ proto: Onnx__AttributeProto, of type: UInt32) -> Bool {
        switch type {
        case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT.rawValue: proto.has_f != 0
        case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT.rawValue: proto.has_i != 0
        case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING.rawValue: proto.has_s != 0
        case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR.rawValue: proto.t != nil
        case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH.rawValue: proto.g != nil
        case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__SPARSE_TENSOR.rawValue: proto.sparse_tensor != nil
        case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TYPE_PROTO.rawValue: proto.tp != nil
        case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS.rawValue: proto.n_floats > 0
        case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS.rawValue: proto.n_ints > 0
        case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRINGS.rawValue: proto.n_strings > 0
        case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSORS.rawValue: proto.n_tensors > 0
        case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPHS.rawValue: proto.n_graphs > 0
        case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__SPARSE_TENSORS.rawValue: proto.n_sparse_tensors > 0
        case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TYPE_PROTOS.rawValue: proto.n_type_protos > 0
        default: false
        }
    }

    /// The ONNX name of an attribute type number.
    private func typeName(_ type: UInt32) -> String {
        let names = ["UNDEFINED", "FLOAT", "INT", "STRING", "TENSOR", "GRAPH", "FLOATS", "INTS", "STRINGS",
                     "TENSORS", "GRAPHS", "SPARSE_TENSOR", "SPARSE_TENSORS", "TYPE_PROTO", "TYPE_PROTOS"]
        return Int(type) < names.count ? names[Int(type)] : "type \(type)"
    }

    private func inferredType(_ proto: Onnx__AttributeProto) -> UInt32 {
        if proto.has_f != 0 { return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT.rawValue }
        if proto.has_i != 0 { return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT.rawValue }
        if proto.has_s != 0 { return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING.rawValue }
        if proto.t != nil { return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR.rawValue }
        if proto.g != nil { return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH.rawValue }
        if proto.n_floats > 0 { return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS.rawValue }
        if proto.n_ints > 0 { return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS.rawValue }
        if proto.n_strings > 0 { return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRINGS.rawValue }
        if proto.n_tensors > 0 { return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSORS.rawValue }
        if proto.n_graphs > 0 { return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPHS.rawValue }
        if proto.sparse_tensor != nil { return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__SPARSE_TENSOR.rawValue }
        if proto.tp != nil { return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TYPE_PROTO.rawValue }
        if proto.n_sparse_tensors > 0 { return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__SPARSE_TENSORS.rawValue }
        if proto.n_type_protos > 0 { return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TYPE_PROTOS.rawValue }
        return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__UNDEFINED.rawValue
    }
}

// MARK: - Reading protobuf-c values

/// A C array as a buffer; an absent array is empty.
func buffer<Element>(_ base: UnsafeMutablePointer<Element>?, _ count: Int) -> UnsafeBufferPointer<Element> {
    guard let base, count > 0 else { return UnsafeBufferPointer(start: nil, count: 0) }
    return UnsafeBufferPointer(start: base, count: count)
}

/// A C string; NULL means the field is absent.
func string(_ pointer: UnsafeMutablePointer<CChar>?) -> String? {
    guard let pointer else { return nil }
    return String(validatingCString: pointer) ?? String(decoding: UnsafeRawBufferPointer(start: pointer, count: strlen(pointer)), as: UTF8.self)
}

/// The bytes of a protobuf `bytes` field.
func bytes(_ data: ProtobufCBinaryData) -> [UInt8] {
    guard let base = data.data, data.len > 0 else { return [] }
    return Array(UnsafeBufferPointer(start: base, count: data.len))
}

/// String pairs (`StringStringEntryProto`).
func pairs(_ base: UnsafeMutablePointer<UnsafeMutablePointer<Onnx__StringStringEntryProto>?>?, _ count: Int) -> [StringPair] {
    buffer(base, count).map { StringPair(key: string($0!.pointee.key) ?? "", value: string($0!.pointee.value) ?? "") }
}

/// A message re-encoded to bytes, for messages Resin keeps without interpreting.
func packed<Message>(
    _ message: UnsafeMutablePointer<Message>, size: (UnsafeMutablePointer<Message>) -> Int,
    pack: (UnsafeMutablePointer<Message>, UnsafeMutablePointer<UInt8>) -> Int
) -> [UInt8] {
    var result = [UInt8](repeating: 0, count: size(message))
    result.withUnsafeMutableBufferPointer { if let base = $0.baseAddress { _ = pack(message, base) } }
    return result
}

#if canImport(Glibc)
import Glibc
#endif
