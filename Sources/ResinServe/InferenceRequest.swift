/// An inference request checked against a model: inputs whose names, datatypes, shapes and byte counts fit it,
/// and the outputs to answer with.
///
/// Everything is checked before any tensor is allocated: an input's bytes are made only once its shape is known
/// to fit, and its element count times the datatype's size is known to equal what the request gives.
struct InferenceRequest: Sendable {
    /// The request's `id`, echoed in the response.
    var id: String?
    /// One tensor per model input.
    var inputs: [String: ServedTensor]
    /// The outputs to return, in the order of the response.
    var outputs: [RequestedOutput]

    /// An output the response carries, and whether its data goes in the binary part.
    struct RequestedOutput: Sendable, Equatable {
        var name: String
        var binary: Bool
    }

    /// Parses a body for `model`. `headerLength` is the `Inference-Header-Content-Length` header, when given:
    /// the body's first `headerLength` bytes are JSON and the rest is the inputs' binary data, in input order.
    static func parse(body: UnsafeRawBufferPointer, headerLength: String?, for model: any ServableModel) throws(ServeError) -> InferenceRequest {
        var jsonLength = body.count
        if let headerLength {
            guard let length = Int(headerLength), length >= 0, length <= body.count else {
                throw .badRequest("Inference-Header-Content-Length is '\(headerLength)', not a byte count within the body's \(body.count) bytes")
            }
            jsonLength = length
        }
        let json: JSONValue
        do {
            json = try JSONParser.parse(UnsafeRawBufferPointer(rebasing: body[0..<jsonLength]))
        } catch {
            throw .badRequest("the request body is \(error)")
        }
        guard case .object = json else { throw .badRequest("the request body is \(json.kind), not a JSON object") }
        let binary = UnsafeRawBufferPointer(rebasing: body[jsonLength...])
        var request = InferenceRequest(id: nil, inputs: [:], outputs: [])
        switch json["id"] {
        case nil: break
        case .string(let id): request.id = id
        case let other?: throw .badRequest("\"id\" is \(other.kind), not a string")
        }
        request.inputs = try parseInputs(json["inputs"], binary: binary, for: model)
        request.outputs = try parseOutputs(json, for: model)
        return request
    }

    private static func parseInputs(_ value: JSONValue?, binary: UnsafeRawBufferPointer, for model: any ServableModel) throws(ServeError) -> [String: ServedTensor] {
        guard case .array(let entries)? = value else {
            throw .badRequest("the request needs \"inputs\": an array of objects with name, datatype, shape and data")
        }
        let expected = model.inputs.map(\.name)
        var inputs: [String: ServedTensor] = [:]
        var binaryOffset = 0
        for entry in entries {
            guard case .object = entry, case .string(let name)? = entry["name"] else {
                throw .badRequest("every input needs a \"name\" string")
            }
            guard let info = model.inputs.first(where: { $0.name == name }) else {
                throw .badRequest("model '\(model.name)' has no input '\(name)'; its inputs are \(list(expected))")
            }
            guard inputs[name] == nil else { throw .badRequest("input '\(name)' is given twice") }
            let (datatype, shape) = try checkedTypeAndShape(of: entry, against: info)
            let byteCount = try Self.byteCount(of: shape, datatype, input: name)
            var bytes: [UInt8]
            switch (entry["parameters"]?["binary_data_size"], entry["data"]) {
            case (.integer(let size)?, nil):
                guard size == byteCount else {
                    throw .badRequest("input '\(name)' has binary_data_size \(size), but \(datatype.rawValue) \(describe(shape)) takes \(byteCount) bytes")
                }
                guard binary.count - binaryOffset >= byteCount else {
                    throw .badRequest("input '\(name)' needs \(byteCount) bytes of binary data, only \(binary.count - binaryOffset) are left in the body")
                }
                bytes = Array(UnsafeRawBufferPointer(rebasing: binary[binaryOffset..<(binaryOffset + byteCount)]))
                binaryOffset += byteCount
            case (nil, let data?):
                bytes = try TensorData.bytes(from: data, count: byteCount / datatype.byteWidth, datatype: datatype, input: name)
            case (_?, _?):
                throw .badRequest("input '\(name)' has both \"data\" and binary_data_size")
            case (let size?, nil):
                throw .badRequest("input '\(name)' has binary_data_size \(size.kind), not a byte count")
            case (nil, nil):
                throw .badRequest("input '\(name)' has no \"data\" and no binary_data_size")
            }
            inputs[name] = ServedTensor(datatype: datatype, shape: shape, bytes: bytes)
        }
        let missing = expected.filter { inputs[$0] == nil }
        guard missing.isEmpty else {
            throw .badRequest("model '\(model.name)' needs input \(list(missing)); the request gives \(list(entries.compactMap { if case .string(let name)? = $0["name"] { name } else { nil } }))")
        }
        guard binaryOffset == binary.count else {
            throw .badRequest("the body has \(binary.count) bytes of binary data, the inputs' binary_data_size add up to \(binaryOffset)")
        }
        return inputs
    }

    /// The input's datatype and shape, checked against the model's.
    private static func checkedTypeAndShape(of entry: JSONValue, against info: ServedTensorInfo) throws(ServeError) -> (ServedDataType, [Int]) {
        let name = info.name
        guard case .string(let text)? = entry["datatype"] else {
            throw .badRequest("input '\(name)' needs a \"datatype\" string such as \"\(info.datatype.rawValue)\"")
        }
        guard let datatype = ServedDataType(rawValue: text) else {
            throw .badRequest("input '\(name)' has datatype '\(text)', which this server does not know; the model takes \(info.datatype.rawValue)")
        }
        guard datatype == info.datatype else {
            throw .badRequest("input '\(name)' is \(datatype.rawValue), but the model takes \(info.datatype.rawValue)")
        }
        var shape: [Int] = []
        switch entry["shape"] {
        case .numbers(let dimensions)?:
            for dimension in dimensions {
                guard dimension >= 0, dimension <= Double(Int32.max), dimension == dimension.rounded() else {
                    throw .badRequest("input '\(name)' has shape dimension \(dimension), not a count")
                }
                shape.append(Int(dimension))
            }
        case .array(let dimensions)? where dimensions.isEmpty:
            break
        default:
            throw .badRequest("input '\(name)' needs a \"shape\": an array of dimensions")
        }
        let fits = shape.count == info.shape.count && zip(shape, info.shape).allSatisfy { $1 < 0 || $0 == $1 }
        guard fits else {
            throw .badRequest("input '\(name)' has shape \(describe(shape)), but the model takes \(describe(info.shape)) (-1: any size)")
        }
        return (datatype, shape)
    }

    /// Elements times element size, refusing a product that overflows.
    private static func byteCount(of shape: [Int], _ datatype: ServedDataType, input: String) throws(ServeError) -> Int {
        var count = datatype.byteWidth
        for dimension in shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
            guard !overflow else { throw .badRequest("input '\(input)' has shape \(describe(shape)): too many elements") }
            count = product
        }
        return count
    }

    private static func parseOutputs(_ json: JSONValue, for model: any ServableModel) throws(ServeError) -> [RequestedOutput] {
        var binaryDefault = false
        switch json["parameters"]?["binary_data_output"] {
        case nil: break
        case .bool(let flag)?: binaryDefault = flag
        case let other?: throw .badRequest("binary_data_output is \(other.kind), not a boolean")
        }
        guard let requested = json["outputs"] else {
            return model.outputs.map { RequestedOutput(name: $0.name, binary: binaryDefault) }
        }
        guard case .array(let entries) = requested else { throw .badRequest("\"outputs\" is \(requested.kind), not an array") }
        var outputs: [RequestedOutput] = []
        for entry in entries {
            guard case .object = entry, case .string(let name)? = entry["name"] else {
                throw .badRequest("every requested output needs a \"name\" string")
            }
            guard model.outputs.contains(where: { $0.name == name }) else {
                throw .badRequest("model '\(model.name)' has no output '\(name)'; its outputs are \(list(model.outputs.map(\.name)))")
            }
            guard !outputs.contains(where: { $0.name == name }) else { throw .badRequest("output '\(name)' is requested twice") }
            var binary = binaryDefault
            switch entry["parameters"]?["binary_data"] {
            case nil: break
            case .bool(let flag)?: binary = flag
            case let other?: throw .badRequest("output '\(name)' has binary_data \(other.kind), not a boolean")
            }
            if entry["parameters"]?["classification"] != nil {
                throw .badRequest("output '\(name)' asks for classification, which this server does not do")
            }
            outputs.append(RequestedOutput(name: name, binary: binary))
        }
        return outputs
    }
}

/// Names quoted and joined: `'a', 'b'`.
func list(_ names: [String]) -> String {
    names.isEmpty ? "(none)" : names.map { "'\($0)'" }.joined(separator: ", ")
}

/// A shape as `[1, 3, 224, 224]`.
func describe(_ shape: [Int]) -> String {
    "[" + shape.map(String.init).joined(separator: ", ") + "]"
}
