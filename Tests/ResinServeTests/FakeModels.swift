import Hummingbird
@testable import ResinServe

/// A model computing y = 2x and z = -x on FP32 inputs of shape [-1, 3], recording what it received.
final class DoublingModel: ServableModel {
    let name = "double"
    let platform = "test"
    let inputs = [ServedTensorInfo(name: "x", datatype: .fp32, shape: [-1, 3])]
    let outputs = [ServedTensorInfo(name: "y", datatype: .fp32, shape: [-1, 3]),
                   ServedTensorInfo(name: "z", datatype: .fp32, shape: [-1, 3])]
    let received = Locked<[[String: ServedTensor]]>([])

    func infer(_ inputs: [String: ServedTensor]) async throws -> [String: ServedTensor] {
        received.withLock { $0.append(inputs) }
        let x = floats(inputs["x"]!.bytes)
        let shape = inputs["x"]!.shape
        return ["y": ServedTensor(datatype: .fp32, shape: shape, bytes: bytes(x.map { $0 * 2 })),
                "z": ServedTensor(datatype: .fp32, shape: shape, bytes: bytes(x.map { -$0 }))]
    }
}

/// A model with one INT64 input [2] and one INT8 input [1], answering with its INT64 input, or failing as told.
struct IntegerModel: ServableModel {
    enum Behaviour: Sendable { case echo, refuse, fail }
    var behaviour: Behaviour = .echo
    let name = "ints"
    let platform = "test"
    let inputs = [ServedTensorInfo(name: "ids", datatype: .int64, shape: [2]),
                  ServedTensorInfo(name: "small", datatype: .int8, shape: [1])]
    let outputs = [ServedTensorInfo(name: "ids_out", datatype: .int64, shape: [2])]

    func infer(_ inputs: [String: ServedTensor]) async throws -> [String: ServedTensor] {
        switch behaviour {
        case .echo: return ["ids_out": inputs["ids"]!]
        case .refuse: throw InferenceError.badInput("ids must be sorted")
        case .fail: throw InferenceError.failed("the arena is gone")
        }
    }
}

/// Little-endian bytes of floats.
func bytes(_ values: [Float]) -> [UInt8] {
    values.flatMap { value in withUnsafeBytes(of: value.bitPattern.littleEndian) { Array($0) } }
}

/// Floats from little-endian bytes.
func floats(_ bytes: [UInt8]) -> [Float] {
    bytes.withUnsafeBytes { raw in
        stride(from: 0, to: raw.count, by: 4).map { offset in
            Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt32.self)))
        }
    }
}

/// Posts `json` (and binary data after it, when given) to `model`'s infer endpoint of `service`.
func infer(_ service: InferenceService, model: String, version: String? = nil, json: String, binary: [UInt8]? = nil,
           headerLength: String? = nil) async -> ServeResponse {
    var body = Array(json.utf8)
    var header = headerLength
    if let binary {
        header = header ?? String(body.count)
        body += binary
    }
    return await service.infer(name: model, version: version, headerLength: header) { ByteBuffer(bytes: body) }
}

/// The JSON part of a response, parsed.
func jsonPart(_ response: ServeResponse) throws -> JSONValue {
    try JSONParser.parse(Array(response.body.prefix(response.jsonLength ?? response.body.count)))
}

/// The `error` message of a refused request.
func errorMessage(_ response: ServeResponse) -> String {
    guard case .string(let message)? = try? jsonPart(response)["error"] else { return "<no error member>" }
    return message
}
