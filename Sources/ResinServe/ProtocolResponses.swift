/// An HTTP answer before it meets the server library: status, body, and the binary extension's header.
public struct ServeResponse: Sendable, Equatable {
    /// The HTTP status code.
    public var status: Int
    /// The body: JSON, or JSON followed by binary tensor data.
    public var body: [UInt8]
    /// The length of the body's JSON part when binary tensor data follows it (`Inference-Header-Content-Length`).
    public var jsonLength: Int?
    /// The body's media type.
    public var contentType: String

    /// A JSON answer.
    static func json(_ text: String, status: Int = 200) -> ServeResponse {
        ServeResponse(status: status, body: Array(text.utf8), jsonLength: nil, contentType: "application/json")
    }

    /// The answer to a refused request: `{"error": "..."}`.
    static func error(_ error: ServeError) -> ServeResponse {
        json("{\"error\":\(quoted(error.message))}", status: error.status)
    }
}

/// The protocol's JSON documents, written by hand: they are small, and tensor data needs control over how
/// numbers are spelled.
enum ProtocolJSON {
    /// `GET /v2/models/{name}`: name, versions, platform, inputs and outputs.
    static func modelMetadata(_ model: any ServableModel, version: String) -> String {
        func tensors(_ infos: [ServedTensorInfo]) -> String {
            "[" + infos.map { "{\"name\":\(quoted($0.name)),\"datatype\":\"\($0.datatype.rawValue)\",\"shape\":\(describe($0.shape))}" }
                .joined(separator: ",") + "]"
        }
        return "{\"name\":\(quoted(model.name)),\"versions\":[\(quoted(version))],\"platform\":\(quoted(model.platform)),"
            + "\"inputs\":\(tensors(model.inputs)),\"outputs\":\(tensors(model.outputs))}"
    }

    /// The answer to an inference: JSON with each output's name, datatype and shape, and either its `data` or,
    /// for an output asked for in binary, `binary_data_size`, its bytes following the JSON in output order.
    static func inferenceResponse(
        model: String, version: String, id: String?, outputs: [(InferenceRequest.RequestedOutput, ServedTensor)]
    ) -> ServeResponse {
        var text = "{\"model_name\":\(quoted(model)),\"model_version\":\(quoted(version)),"
        if let id { text += "\"id\":\(quoted(id)),"}
        text += "\"outputs\":["
        var binaryBytes = 0
        for (index, (requested, tensor)) in outputs.enumerated() {
            if index > 0 { text += "," }
            text += "{\"name\":\(quoted(requested.name)),\"datatype\":\"\(tensor.datatype.rawValue)\",\"shape\":\(describe(tensor.shape)),"
            if requested.binary {
                text += "\"parameters\":{\"binary_data_size\":\(tensor.bytes.count)}}"
                binaryBytes += tensor.bytes.count
            } else {
                text += "\"data\":"
                TensorData.appendJSON(of: tensor, to: &text)
                text += "}"
            }
        }
        text += "]}"
        guard binaryBytes > 0 || outputs.contains(where: \.0.binary) else { return .json(text) }
        var body = Array(text.utf8)
        let jsonLength = body.count
        body.reserveCapacity(jsonLength + binaryBytes)
        for (requested, tensor) in outputs where requested.binary { body.append(contentsOf: tensor.bytes) }
        return ServeResponse(status: 200, body: body, jsonLength: jsonLength, contentType: "application/octet-stream")
    }
}

/// A JSON string literal for `text`.
func quoted(_ text: String) -> String {
    var result = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": result += "\\\""
        case "\\": result += "\\\\"
        case "\n": result += "\\n"
        case "\r": result += "\\r"
        case "\t": result += "\\t"
        case _ where scalar.value < 0x20:
            let hex = String(scalar.value, radix: 16)
            result += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
        default: result.unicodeScalars.append(scalar)
        }
    }
    return result + "\""
}
