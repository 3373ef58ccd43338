import CONNXProto
import CProtobufC
import ResinIR

extension ProtoBuilder {
    func tensor(_ tensor: Tensor) -> UnsafeMutablePointer<Onnx__TensorProto>? {
        let proto: UnsafeMutablePointer<Onnx__TensorProto> = arena.message(onnx__tensor_proto__init)
        proto.pointee.name = arena.string(tensor.name)
        proto.pointee.doc_string = arena.string(tensor.docString)
        proto.pointee.has_data_type = 1
        proto.pointee.data_type = tensor.dataType.rawValue
        proto.pointee.n_dims = tensor.shape.count
        proto.pointee.dims = arena.array(tensor.shape.map { Int64($0) })
        if let segment = tensor.segment {
            let entry: UnsafeMutablePointer<Onnx__TensorProto__Segment> = arena.message(onnx__tensor_proto__segment__init)
            if let begin = segment.begin { entry.pointee.has_begin = 1; entry.pointee.begin = begin }
            if let end = segment.end { entry.pointee.has_end = 1; entry.pointee.end = end }
            proto.pointee.segment = entry
        }
        (proto.pointee.n_metadata_props, proto.pointee.metadata_props) = pairs(tensor.metadata)
        if tensor.statesDefaultLocation {
            proto.pointee.has_data_location = 1
            proto.pointee.data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__DEFAULT
        }

        if tensor.dataType == .string {
            proto.pointee.n_string_data = tensor.strings.count
            proto.pointee.string_data = arena.array(tensor.strings.map(arena.binary))
            return proto
        }
        let bytes = tensor.storage.bytes
        switch tensor.encoding {
        case .external(let entries) where keepsExternalReferences:
            proto.pointee.has_data_location = 1
            proto.pointee.data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL
            (proto.pointee.n_external_data, proto.pointee.external_data) = pairs(entries)
        case .raw, .external:
            // The bytes are referenced, not copied: the model outlives the encode.
            proto.pointee.has_raw_data = 1
            proto.pointee.raw_data = ProtobufCBinaryData(
                len: bytes.count, data: UnsafeMutablePointer(mutating: bytes.baseAddress?.assumingMemoryBound(to: UInt8.self)))
        case .typed:
            writeTyped(tensor, into: proto)
        }
        return proto
    }

    /// Fills the typed repeated field that fits the tensor's type, inverting the importer's conversion.
    private func writeTyped(_ tensor: Tensor, into proto: UnsafeMutablePointer<Onnx__TensorProto>) {
        let bytes = tensor.storage.bytes
        func load<T>(_ type: T.Type) -> [T] {
            (0..<(bytes.count / MemoryLayout<T>.size)).map {
                bytes.loadUnaligned(fromByteOffset: $0 * MemoryLayout<T>.size, as: T.self)
            }
        }
        switch tensor.dataType {
        case .float, .complex64:
            let values = load(Float.self)
            proto.pointee.n_float_data = values.count
            proto.pointee.float_data = arena.array(values)
        case .double, .complex128:
            let values = load(Double.self)
            proto.pointee.n_double_data = values.count
            proto.pointee.double_data = arena.array(values)
        case .int64:
            let values = load(Int64.self)
            proto.pointee.n_int64_data = values.count
            proto.pointee.int64_data = arena.array(values)
        case .uint64:
            let values = load(UInt64.self)
            proto.pointee.n_uint64_data = values.count
            proto.pointee.uint64_data = arena.array(values)
        case .uint32:
            let values = load(UInt32.self).map { UInt64($0) }
            proto.pointee.n_uint64_data = values.count
            proto.pointee.uint64_data = arena.array(values)
        case .int32:
            setInt32(load(Int32.self), proto)
        case .int16:
            setInt32(load(Int16.self).map { Int32($0) }, proto)
        case .uint16, .float16, .bfloat16:
            setInt32(load(UInt16.self).map { Int32($0) }, proto)
        case .int8:
            setInt32(load(Int8.self).map { Int32($0) }, proto)
        case .uint8, .bool, .float8e4m3fn, .float8e4m3fnuz, .float8e5m2, .float8e5m2fnuz, .float8e8m0,
            .int4, .uint4, .float4e2m1, .int2, .uint2:
            setInt32(load(UInt8.self).map { Int32($0) }, proto)
        case .string, .undefined:
            break
        }
    }

    private func setInt32(_ values: [Int32], _ proto: UnsafeMutablePointer<Onnx__TensorProto>) {
        proto.pointee.n_int32_data = values.count
        proto.pointee.int32_data = arena.array(values)
    }

    func sparseTensor(_ sparse: SparseTensor) -> UnsafeMutablePointer<Onnx__SparseTensorProto>? {
        let proto: UnsafeMutablePointer<Onnx__SparseTensorProto> = arena.message(onnx__sparse_tensor_proto__init)
        proto.pointee.values = tensor(sparse.values)
        proto.pointee.indices = tensor(sparse.indices)
        proto.pointee.n_dims = sparse.shape.count
        proto.pointee.dims = arena.array(sparse.shape)
        return proto
    }

    func valueInfo(_ info: ValueInfo) -> UnsafeMutablePointer<Onnx__ValueInfoProto>? {
        let proto: UnsafeMutablePointer<Onnx__ValueInfoProto> = arena.message(onnx__value_info_proto__init)
        proto.pointee.name = arena.string(info.name)
        proto.pointee.doc_string = arena.string(info.docString)
        proto.pointee.type = info.type.map(typeProto) ?? nil
        (proto.pointee.n_metadata_props, proto.pointee.metadata_props) = pairs(info.metadata)
        return proto
    }

    func typeProto(_ type: TypeDescription) -> UnsafeMutablePointer<Onnx__TypeProto>? {
        let proto: UnsafeMutablePointer<Onnx__TypeProto> = arena.message(onnx__type_proto__init)
        proto.pointee.denotation = arena.string(type.denotation)
        switch type.value {
        case .tensor(let elementType, let shape)?:
            let tensor: UnsafeMutablePointer<Onnx__TypeProto__Tensor> = arena.message(onnx__type_proto__tensor__init)
            if let elementType { tensor.pointee.has_elem_type = 1; tensor.pointee.elem_type = elementType.rawValue }
            tensor.pointee.shape = shape.map(self.shape) ?? nil
            proto.pointee.value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE
            proto.pointee.tensor_type = tensor
        case .sparseTensor(let elementType, let shape)?:
            let tensor: UnsafeMutablePointer<Onnx__TypeProto__SparseTensor> = arena.message(onnx__type_proto__sparse_tensor__init)
            if let elementType { tensor.pointee.has_elem_type = 1; tensor.pointee.elem_type = elementType.rawValue }
            tensor.pointee.shape = shape.map(self.shape) ?? nil
            proto.pointee.value_case = ONNX__TYPE_PROTO__VALUE_SPARSE_TENSOR_TYPE
            proto.pointee.sparse_tensor_type = tensor
        case .sequence(let element)?:
            let sequence: UnsafeMutablePointer<Onnx__TypeProto__Sequence> = arena.message(onnx__type_proto__sequence__init)
            sequence.pointee.elem_type = element.map(typeProto) ?? nil
            proto.pointee.value_case = ONNX__TYPE_PROTO__VALUE_SEQUENCE_TYPE
            proto.pointee.sequence_type = sequence
        case .map(let keyType, let valueType)?:
            let map: UnsafeMutablePointer<Onnx__TypeProto__Map> = arena.message(onnx__type_proto__map__init)
            if let keyType { map.pointee.has_key_type = 1; map.pointee.key_type = keyType.rawValue }
            map.pointee.value_type = valueType.map(typeProto) ?? nil
            proto.pointee.value_case = ONNX__TYPE_PROTO__VALUE_MAP_TYPE
            proto.pointee.map_type = map
        case .optional(let element)?:
            let optional: UnsafeMutablePointer<Onnx__TypeProto__Optional> = arena.message(onnx__type_proto__optional__init)
            optional.pointee.elem_type = element.map(typeProto) ?? nil
            proto.pointee.value_case = ONNX__TYPE_PROTO__VALUE_OPTIONAL_TYPE
            proto.pointee.optional_type = optional
        case .opaque(let domain, let name)?:
            let opaque: UnsafeMutablePointer<Onnx__TypeProto__Opaque> = arena.message(onnx__type_proto__opaque__init)
            opaque.pointee.domain = arena.string(domain)
            opaque.pointee.name = arena.string(name)
            proto.pointee.value_case = ONNX__TYPE_PROTO__VALUE_OPAQUE_TYPE
            proto.pointee.opaque_type = opaque
        case nil:
            break
        }
        return proto
    }

    private func shape(_ dimensions: [ShapeDimension]) -> UnsafeMutablePointer<Onnx__TensorShapeProto>? {
        let proto: UnsafeMutablePointer<Onnx__TensorShapeProto> = arena.message(onnx__tensor_shape_proto__init)
        proto.pointee.n_dim = dimensions.count
        proto.pointee.dim = arena.array(dimensions.map { entry in
            let dim: UnsafeMutablePointer<Onnx__TensorShapeProto__Dimension> = arena.message(onnx__tensor_shape_proto__dimension__init)
            dim.pointee.denotation = arena.string(entry.denotation)
            switch entry.dimension {
            case .fixed(let value):
                dim.pointee.value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE
                dim.pointee.dim_value = Int64(value)
            case .symbolic(let name):
                dim.pointee.value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM
                dim.pointee.dim_param = arena.string(name)
            case .unknown:
                dim.pointee.value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE__NOT_SET
            }
            return Optional(dim)
        })
        return proto
    }
}
