import CONNXProto
import CProtobufC
import ResinIR

#if canImport(Glibc)
import Glibc
#endif

extension ProtoConverter {
    /// Converts a decoded tensor. `raw_data` is not copied: the storage borrows it from the decode arena.
    func tensor(_ message: UnsafeMutablePointer<Onnx__TensorProto>) throws -> Tensor {
        let proto = message.pointee
        let name = string(proto.name)
        let label = name ?? "<unnamed>"
        func invalid(_ reason: String) -> GraphError { .invalidTensor(name: label, reason: reason) }

        guard proto.has_data_type != 0 || proto.data_type != 0 else { throw invalid("has no data type (UNDEFINED)") }
        guard let dataType = DataType(rawValue: proto.data_type) else {
            throw invalid("has the unknown data type \(proto.data_type)")
        }
        guard dataType != .undefined else { throw invalid("has no data type (UNDEFINED)") }
        let dims = Array(buffer(proto.dims, proto.n_dims))
        if let negative = dims.first(where: { $0 < 0 }) {
            throw invalid("has the negative dimension \(negative) in dims \(dims)")
        }
        if let huge = dims.first(where: { $0 > Int64(Dimension.maximum) }) {
            throw invalid("has the dimension \(huge) in dims \(dims), above the supported maximum \(Dimension.maximum)")
        }
        let shape = dims.map { Int($0) }
        guard let count = elementCount(of: shape), let byteCount = dataType.byteCount(elements: count) else {
            throw invalid("has dims \(dims) whose element count overflows")
        }
        let isExternal = proto.has_data_location != 0 && proto.data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL
        let typedCount = proto.n_float_data + proto.n_int32_data + proto.n_string_data + proto.n_int64_data
            + proto.n_double_data + proto.n_uint64_data
        let hasRaw = proto.has_raw_data != 0
        if [isExternal, hasRaw, typedCount > 0].filter({ $0 }).count > 1 {
            throw invalid("stores its data in more than one place (external, raw_data, typed fields)")
        }

        var storage = TensorStorage.empty
        var strings: [[UInt8]] = []
        var encoding = TensorEncoding.raw
        let segment = proto.segment.map {
            TensorSegment(begin: $0.pointee.has_begin != 0 ? $0.pointee.begin : nil,
                          end: $0.pointee.has_end != 0 ? $0.pointee.end : nil)
        }
        if dataType == .string {
            guard !isExternal, !hasRaw else { throw invalid("is a string tensor, which must use string_data") }
            strings = buffer(proto.string_data, proto.n_string_data).map(bytes)
            guard strings.count == count || segment != nil else {
                throw invalid("has dims \(dims) (\(count) elements) but \(strings.count) strings")
            }
            encoding = .typed
        } else if isExternal {
            let entries = pairs(proto.external_data, proto.n_external_data)
            if let resolveExternal {
                storage = try resolveExternal(label, entries, byteCount)
            } else {
                storage = try externalData(tensor: label, entries: entries, byteCount: byteCount)
            }
            encoding = .external(entries)
        } else if hasRaw {
            guard proto.raw_data.len == byteCount else {
                throw invalid("raw_data has \(proto.raw_data.len) bytes, but dims \(dims) of \(dataType) need \(byteCount)")
            }
            if let data = proto.raw_data.data, byteCount > 0 {
                storage = TensorStorage(borrowing: UnsafeRawBufferPointer(start: data, count: byteCount), owner: arena)
            }
        } else {
            // No raw_data: the typed field carries the elements (and for an empty tensor, nothing does).
            if typedCount > 0 || count > 0 {
                storage = try typedData(proto, dataType: dataType, count: count, byteCount: byteCount, invalid: invalid)
            }
            encoding = .typed
        }
        var tensor = Tensor(
            name: name, dataType: dataType, shape: shape, storage: storage, strings: strings, encoding: encoding,
            docString: string(proto.doc_string), segment: segment,
            metadata: pairs(proto.metadata_props, proto.n_metadata_props))
        tensor.statesDefaultLocation = proto.has_data_location != 0 && !isExternal
        return tensor
    }

    /// Converts the typed repeated field that fits `dataType` to little-endian element bytes.
    private func typedData(
        _ proto: Onnx__TensorProto, dataType: DataType, count: Int, byteCount: Int,
        invalid: (String) -> GraphError
    ) throws -> TensorStorage {
        func require(_ field: String, _ found: Int, _ expected: Int) throws {
            guard found == expected else {
                throw invalid("\(field) has \(found) values, but dims \(describe(dimsOf(proto))) of \(dataType) need \(expected)")
            }
        }
        switch dataType {
        case .float, .complex64:
            let values = buffer(proto.float_data, proto.n_float_data)
            try require("float_data", values.count, dataType == .float ? count : 2 * count)
            return TensorStorage(copying: UnsafeRawBufferPointer(values))
        case .double, .complex128:
            let values = buffer(proto.double_data, proto.n_double_data)
            try require("double_data", values.count, dataType == .double ? count : 2 * count)
            return TensorStorage(copying: UnsafeRawBufferPointer(values))
        case .int64:
            let values = buffer(proto.int64_data, proto.n_int64_data)
            try require("int64_data", values.count, count)
            return TensorStorage(copying: UnsafeRawBufferPointer(values))
        case .uint64:
            let values = buffer(proto.uint64_data, proto.n_uint64_data)
            try require("uint64_data", values.count, count)
            return TensorStorage(copying: UnsafeRawBufferPointer(values))
        case .uint32:
            let values = buffer(proto.uint64_data, proto.n_uint64_data)
            try require("uint64_data", values.count, count)
            return TensorStorage(byteCount: byteCount) { out in
                for (index, value) in values.enumerated() {
                    out.storeBytes(of: UInt32(truncatingIfNeeded: value), toByteOffset: index * 4, as: UInt32.self)
                }
            }
        case .int32:
            let values = buffer(proto.int32_data, proto.n_int32_data)
            try require("int32_data", values.count, count)
            return TensorStorage(copying: UnsafeRawBufferPointer(values))
        case .int16, .uint16, .float16, .bfloat16:
            let values = buffer(proto.int32_data, proto.n_int32_data)
            try require("int32_data", values.count, count)
            return TensorStorage(byteCount: byteCount) { out in
                for (index, value) in values.enumerated() {
                    out.storeBytes(of: UInt16(truncatingIfNeeded: value), toByteOffset: index * 2, as: UInt16.self)
                }
            }
        case .int8, .uint8, .bool, .float8e4m3fn, .float8e4m3fnuz, .float8e5m2, .float8e5m2fnuz, .float8e8m0:
            let values = buffer(proto.int32_data, proto.n_int32_data)
            try require("int32_data", values.count, count)
            return TensorStorage(byteCount: byteCount) { out in
                for (index, value) in values.enumerated() { out[index] = UInt8(truncatingIfNeeded: value) }
            }
        case .int4, .uint4, .float4e2m1, .int2, .uint2:
            // Sub-byte types hold one packed byte per int32 value.
            let values = buffer(proto.int32_data, proto.n_int32_data)
            try require("int32_data", values.count, byteCount)
            return TensorStorage(byteCount: byteCount) { out in
                for (index, value) in values.enumerated() { out[index] = UInt8(truncatingIfNeeded: value) }
            }
        case .string, .undefined:
            throw invalid("cannot hold typed data of type \(dataType)")
        }
    }

    private func dimsOf(_ proto: Onnx__TensorProto) -> [Int] {
        buffer(proto.dims, proto.n_dims).map { Int($0) }
    }

    /// Reads a tensor's bytes from an external data file, refusing paths that leave the model's folder.
    private func externalData(tensor: String, entries: [StringPair], byteCount: Int) throws -> TensorStorage {
        var location: String?
        var offset = 0
        var length: Int?
        for entry in entries {
            switch entry.key {
            case "location": location = entry.value
            case "offset":
                guard let value = Int(entry.value), value >= 0 else {
                    throw ImportError.Problem.externalData(tensor: tensor, location: location ?? "?", reason: "has the invalid offset '\(entry.value)'")
                }
                offset = value
            case "length":
                guard let value = Int(entry.value), value >= 0 else {
                    throw ImportError.Problem.externalData(tensor: tensor, location: location ?? "?", reason: "has the invalid length '\(entry.value)'")
                }
                length = value
            default: continue
            }
        }
        guard let location, !location.isEmpty else {
            throw ImportError.Problem.externalData(tensor: tensor, location: "", reason: "has no location")
        }
        func refuse(_ reason: String) -> ImportError.Problem {
            .externalData(tensor: tensor, location: location, reason: reason)
        }
        guard let folder else { throw refuse("cannot be resolved: the model was not read from a file") }
        guard !location.hasPrefix("/") else { throw refuse("is an absolute path; it must be relative to the model's folder") }
        guard !location.split(separator: "/").contains("..") else {
            throw refuse("leaves the model's folder")
        }
        let path = folder + "/" + location
        guard let resolvedFolder = canonicalPath(folder) else { throw refuse("cannot be resolved: the model's folder is unreadable") }
        guard let resolved = canonicalPath(path) else { throw refuse("does not exist (looked for \(path))") }
        guard resolved.hasPrefix(resolvedFolder.hasSuffix("/") ? resolvedFolder : resolvedFolder + "/") else {
            throw refuse("leaves the model's folder (it resolves to \(resolved))")
        }
        if let length, length != byteCount {
            throw refuse("has length \(length), but the tensor's dims and type need \(byteCount) bytes")
        }
        let bytes: [UInt8]
        do {
            bytes = try readFile(atPath: resolved, offset: offset, length: byteCount)
        } catch let error as FileError {
            throw refuse("cannot be read: \(error.reason)")
        }
        return bytes.withUnsafeBytes { TensorStorage(copying: $0) }
    }

    func sparseTensor(_ proto: Onnx__SparseTensorProto) throws -> SparseTensor {
        guard let values = proto.values, let indices = proto.indices else {
            throw GraphError.invalidModel(reason: "a sparse tensor lacks its values or indices")
        }
        return SparseTensor(values: try tensor(values), indices: try tensor(indices),
                            shape: Array(buffer(proto.dims, proto.n_dims)))
    }

    func valueInfo(_ proto: Onnx__ValueInfoProto) throws -> ValueInfo {
        let name = string(proto.name) ?? ""
        do {
            return ValueInfo(
                name: name, type: try proto.type.map { try typeDescription($0.pointee) },
                docString: string(proto.doc_string), metadata: pairs(proto.metadata_props, proto.n_metadata_props))
        } catch let error as ShapeProblem {
            throw GraphError.invalidModel(reason: "value '\(name)': \(error.reason)")
        }
    }

    func typeDescription(_ proto: Onnx__TypeProto) throws -> TypeDescription {
        func elementType(_ has: protobuf_c_boolean, _ raw: Int32) throws -> DataType? {
            guard has != 0 else { return nil }
            guard let type = DataType(rawValue: raw) else { throw ShapeProblem("has the unknown element type \(raw)") }
            return type
        }
        let value: ValueType?
        switch proto.value_case {
        case ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE:
            let tensor = proto.tensor_type.pointee
            value = .tensor(elementType: try elementType(tensor.has_elem_type, tensor.elem_type),
                            shape: try tensor.shape.map { try shape($0.pointee) })
        case ONNX__TYPE_PROTO__VALUE_SPARSE_TENSOR_TYPE:
            let tensor = proto.sparse_tensor_type.pointee
            value = .sparseTensor(elementType: try elementType(tensor.has_elem_type, tensor.elem_type),
                                  shape: try tensor.shape.map { try shape($0.pointee) })
        case ONNX__TYPE_PROTO__VALUE_SEQUENCE_TYPE:
            value = .sequence(try proto.sequence_type.pointee.elem_type.map { try typeDescription($0.pointee) })
        case ONNX__TYPE_PROTO__VALUE_MAP_TYPE:
            let map = proto.map_type.pointee
            value = .map(keyType: try elementType(map.has_key_type, map.key_type),
                         valueType: try map.value_type.map { try typeDescription($0.pointee) })
        case ONNX__TYPE_PROTO__VALUE_OPTIONAL_TYPE:
            value = .optional(try proto.optional_type.pointee.elem_type.map { try typeDescription($0.pointee) })
        case ONNX__TYPE_PROTO__VALUE_OPAQUE_TYPE:
            value = .opaque(domain: string(proto.opaque_type.pointee.domain), name: string(proto.opaque_type.pointee.name))
        default:
            value = nil
        }
        return TypeDescription(value, denotation: string(proto.denotation))
    }

    private func shape(_ proto: Onnx__TensorShapeProto) throws -> [ShapeDimension] {
        try buffer(proto.dim, proto.n_dim).map { entry in
            let dim = entry!.pointee
            let dimension: Dimension
            switch dim.value_case {
            case ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE:
                guard dim.dim_value >= 0, let value = Int(exactly: dim.dim_value) else {
                    throw ShapeProblem("has the negative dimension \(dim.dim_value)")
                }
                guard value <= Dimension.maximum else {
                    throw ShapeProblem("has the dimension \(value), above the supported maximum \(Dimension.maximum)")
                }
                dimension = .fixed(value)
            case ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM:
                dimension = string(dim.dim_param).map { .symbolic($0) } ?? .unknown
            default:
                dimension = .unknown
            }
            return ShapeDimension(dimension, denotation: string(dim.denotation))
        }
    }
}
