import Hummingbird
import Testing
@testable import ResinServe

/// The protocol's answers without a socket: inference with JSON and binary data, and every refusal.
@Suite struct InferenceServiceTests {
    let doubling = DoublingModel()
    var service: InferenceService { InferenceService(models: [doubling, IntegerModel()], serverVersion: "test") }

    /// Nested JSON data reaches the model as the same float32 bytes, and the answer carries 2x and -x, the id,
    /// and every output in the model's order.
    @Test func infersWithNestedJSONData() async throws {
        let response = await infer(service, model: "double", json: """
            {"id": "req-1", "inputs": [{"name": "x", "datatype": "FP32", "shape": [2, 3], "data": [[1, 2.5, -3], [0.1, 1e-3, 4]]}]}
            """)
        try #require(response.status == 200, "\(errorMessage(response))")
        let received = try #require(doubling.received.withLock { $0.last })
        let input: [Float] = [1, 2.5, -3, 0.1, 1e-3, 4]
        #expect(received["x"] == ServedTensor(datatype: .fp32, shape: [2, 3], bytes: bytes(input)))
        let json = try jsonPart(response)
        #expect(json["id"] == .string("req-1"))
        #expect(json["model_name"] == .string("double"))
        guard case .array(let outputs)? = json["outputs"] else { Issue.record("no outputs"); return }
        #expect(outputs.map { $0["name"] } == [.string("y"), .string("z")])
        #expect(outputs[0]["shape"] == .numbers([2, 3]))
        #expect(outputs[0]["datatype"] == .string("FP32"))
        // Each float's shortest text reads back as the same float32.
        guard case .numbers(let doubled)? = outputs[0]["data"] else { Issue.record("no data"); return }
        #expect(doubled.map { Float($0) } == input.map { $0 * 2 })
    }

    /// Binary input data after the JSON header, and outputs asked for in binary come back after the response's
    /// JSON, with `binary_data_size` and the header length set; only the requested output is returned.
    @Test func infersWithBinaryData() async throws {
        let input: [Float] = [1, -2, 3.25]
        let response = await infer(service, model: "double", json: """
            {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 3], "parameters": {"binary_data_size": 12}}],
             "outputs": [{"name": "z", "parameters": {"binary_data": true}}]}
            """, binary: bytes(input))
        try #require(response.status == 200, "\(errorMessage(response))")
        let jsonLength = try #require(response.jsonLength)
        let json = try jsonPart(response)
        guard case .array(let outputs)? = json["outputs"] else { Issue.record("no outputs"); return }
        #expect(outputs.count == 1)
        #expect(outputs[0]["name"] == .string("z"))
        #expect(outputs[0]["parameters"]?["binary_data_size"] == .integer(12))
        #expect(outputs[0]["data"] == nil)
        #expect(floats(Array(response.body[jsonLength...])) == input.map { -$0 })
    }

    /// `binary_data_output` sends every output in binary, in the model's order.
    @Test func binaryDataOutputAppliesToEveryOutput() async throws {
        let response = await infer(service, model: "double", json: """
            {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 3], "data": [1, 2, 3]}], "parameters": {"binary_data_output": true}}
            """)
        try #require(response.status == 200, "\(errorMessage(response))")
        let jsonLength = try #require(response.jsonLength)
        #expect(floats(Array(response.body[jsonLength...])) == [2, 4, 6, -1, -2, -3])
    }

    /// Integer datatypes take whole numbers in range, exactly, beyond 2^53 too.
    @Test func integerDataIsExact() async throws {
        let response = await infer(service, model: "ints", json: """
            {"inputs": [{"name": "ids", "datatype": "INT64", "shape": [2], "data": [9007199254740993, -5]},
                        {"name": "small", "datatype": "INT8", "shape": [1], "data": [-128]}]}
            """)
        try #require(response.status == 200, "\(errorMessage(response))")
        guard case .array(let outputs)? = try jsonPart(response)["outputs"] else { Issue.record("no outputs"); return }
        #expect(outputs[0]["data"] == .array([.integer(9_007_199_254_740_993), .integer(-5)]))
    }

    static let goodInts = #"{"name": "small", "datatype": "INT8", "shape": [1], "data": [1]}"#

    /// Every bad request gets its status and an error naming what is wrong.
    @Test(arguments: [
        ("nope", #"{"inputs": []}"#, 404, "unknown model 'nope'"),
        ("ints", #"{"inputs": [{"name": "ids", "datatype": "INT64", "shape": [2], "data": [1, 2]}]}"#, 400, "needs input 'small'"),
        ("ints", #"{"inputs": [\#(goodInts), {"name": "ids", "datatype": "INT64", "shape": [2], "data": [1, 2]}, {"name": "extra", "datatype": "INT64", "shape": [1], "data": [1]}]}"#, 400, "has no input 'extra'"),
        ("ints", #"{"inputs": [\#(goodInts), \#(goodInts)]}"#, 400, "input 'small' is given twice"),
        ("ints", #"{"inputs": [{"name": "small", "datatype": "FP32", "shape": [1], "data": [1]}]}"#, 400, "input 'small' is FP32, but the model takes INT8"),
        ("ints", #"{"inputs": [{"name": "small", "datatype": "BYTES", "shape": [1], "data": ["a"]}]}"#, 400, "datatype 'BYTES'"),
        ("ints", #"{"inputs": [{"name": "small", "datatype": "INT8", "shape": [1, 1], "data": [1]}]}"#, 400, "has shape [1, 1], but the model takes [1]"),
        ("ints", #"{"inputs": [{"name": "ids", "datatype": "INT64", "shape": [3], "data": [1, 2, 3]}]}"#, 400, "has shape [3], but the model takes [2]"),
        ("ints", #"{"inputs": [\#(goodInts), {"name": "ids", "datatype": "INT64", "shape": [2], "data": [1]}]}"#, 400, "has 1 data elements, its shape holds 2"),
        ("ints", #"{"inputs": [\#(goodInts), {"name": "ids", "datatype": "INT64", "shape": [2], "data": [1, 2.5]}]}"#, 400, "element 1 is 2.5, not INT64"),
        ("ints", #"{"inputs": [{"name": "small", "datatype": "INT8", "shape": [1], "data": [300]}]}"#, 400, "element 0 is 300, out of range"),
        ("ints", #"{"inputs": [{"name": "small", "datatype": "INT8", "shape": [1], "data": ["7"]}]}"#, 400, "element 0 is a string"),
        ("ints", #"{"inputs": [{"name": "small", "datatype": "INT8", "shape": [1]}]}"#, 400, "has no \"data\" and no binary_data_size"),
        ("ints", #"{"inputs": [{"name": "small", "datatype": "INT8", "shape": [-1], "data": [1]}]}"#, 400, "shape dimension -1.0, not a count"),
        ("ints", #"{"inputs": [{"name": "small", "datatype": "INT8", "shape": [1], "data": [1]}"#, 400, "malformed JSON at byte"),
        ("ints", #"[1, 2]"#, 400, "not a JSON object"),
        ("ints", #"{"inputs": 3}"#, 400, "needs \"inputs\""),
        ("ints", #"{"id": 3, "inputs": []}"#, 400, "\"id\" is a number"),
        ("double", #"{"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 3], "data": [1, 2, 3]}], "outputs": [{"name": "w"}]}"#, 400, "has no output 'w'"),
        ("double", #"{"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 3], "data": [1, 2, 3]}], "outputs": [{"name": "y", "parameters": {"classification": 3}}]}"#, 400, "classification"),
        // A shape whose byte count overflows is refused before anything is allocated for it.
        ("double", #"{"inputs": [{"name": "x", "datatype": "FP32", "shape": [1099511627776, 3], "data": [1]}]}"#, 400, "dimension 1099511627776.0, not a count"),
        ("double", #"{"inputs": [{"name": "x", "datatype": "FP32", "shape": [2147483647, 3], "parameters": {"binary_data_size": 12}}]}"#, 400, "takes 25769803764 bytes"),
    ])
    func refusesBadRequests(model: String, json: String, status: Int, message: String) async {
        let response = await infer(service, model: model, json: json)
        #expect(response.status == status, "\(errorMessage(response))")
        #expect(errorMessage(response).contains(message), "\(errorMessage(response))")
    }

    /// Binary data must be exactly what the inputs' sizes add up to, and the header length within the body.
    @Test(arguments: [
        (12, [UInt8](repeating: 0, count: 8), nil as String?, "needs 12 bytes of binary data, only 8"),
        (12, [UInt8](repeating: 0, count: 16), nil, "the body has 16 bytes of binary data, the inputs' binary_data_size add up to 12"),
        (8, [UInt8](repeating: 0, count: 8), nil, "binary_data_size 8, but FP32 [1, 3] takes 12 bytes"),
        (12, [UInt8](repeating: 0, count: 12), "100000", "Inference-Header-Content-Length is '100000'"),
        (12, [UInt8](repeating: 0, count: 12), "x", "Inference-Header-Content-Length is 'x'"),
    ])
    func refusesBadBinaryData(size: Int, binary: [UInt8], headerLength: String?, message: String) async {
        let json = #"{"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 3], "parameters": {"binary_data_size": \#(size)}}]}"#
        let response = await infer(service, model: "double", json: json, binary: binary, headerLength: headerLength)
        #expect(response.status == 400)
        #expect(errorMessage(response).contains(message), "\(errorMessage(response))")
    }

    /// A model's refusal is the client's fault (400); its failure is the server's (500); both name the model.
    @Test func modelErrorsMapToStatus() async {
        let json = #"{"inputs": [\#(Self.goodInts), {"name": "ids", "datatype": "INT64", "shape": [2], "data": [1, 2]}]}"#
        for (behaviour, status, message) in [(IntegerModel.Behaviour.refuse, 400, "ids must be sorted"), (.fail, 500, "the arena is gone")] {
            let service = InferenceService(models: [IntegerModel(behaviour: behaviour)], serverVersion: "test")
            let response = await infer(service, model: "ints", json: json)
            #expect(response.status == status)
            #expect(errorMessage(response).contains("model 'ints'") && errorMessage(response).contains(message), "\(errorMessage(response))")
        }
    }

    /// A body over the limit is the reader's 413, passed on as it is; an unknown model's body is never read.
    @Test func bodyErrorsAndUnknownModels() async {
        let tooLarge = await service.infer(name: "double", version: nil, headerLength: nil) {
            throw ServeError(status: 413, "over the limit")
        }
        #expect(tooLarge.status == 413 && errorMessage(tooLarge) == "over the limit")
        let unknown = await service.infer(name: "nope", version: nil, headerLength: nil) {
            Issue.record("the body of a request for an unknown model was read")
            return ByteBuffer()
        }
        #expect(unknown.status == 404)
    }

    /// Metadata lists the tensors; version 1 is the only one; readiness and health answer 200.
    @Test func metadataAndReadiness() throws {
        let metadata = service.modelMetadata(name: "double", version: nil)
        #expect(metadata.status == 200)
        let json = try jsonPart(metadata)
        #expect(json["name"] == .string("double"))
        #expect(json["versions"] == .array([.string("1")]))
        guard case .array(let inputs)? = json["inputs"] else { Issue.record("no inputs"); return }
        #expect(inputs == [.object(["name": .string("x"), "datatype": .string("FP32"), "shape": .numbers([-1, 3])])])
        #expect(service.modelMetadata(name: "double", version: "1").status == 200)
        #expect(service.modelMetadata(name: "double", version: "2").status == 404)
        #expect(service.modelReady(name: "double", version: nil).status == 200)
        #expect(service.modelReady(name: "nope", version: nil).status == 404)
        #expect(service.live().status == 200 && service.ready().status == 200)
    }

    /// `/metrics` counts requests and failures per model, times every request, and shows no runs left in flight.
    @Test func metricsCountRequestsAndFailures() async throws {
        let service = self.service
        _ = await infer(service, model: "double", json: #"{"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 3], "data": [1, 2, 3]}]}"#)
        _ = await infer(service, model: "double", json: #"{"inputs": []}"#)
        _ = await infer(service, model: "double", json: #"{"inputs": [}"#)
        let text = String(decoding: service.metricsText().body, as: UTF8.self)
        let lines = Set(text.split(separator: "\n").map(String.init))
        #expect(lines.contains(#"resin_inference_requests_total{model="double"} 3"#), "\(text)")
        #expect(lines.contains(#"resin_inference_failures_total{model="double",status="400"} 2"#), "\(text)")
        #expect(lines.contains(#"resin_inference_duration_seconds_count{model="double"} 3"#), "\(text)")
        #expect(lines.contains(#"resin_inference_duration_seconds_bucket{model="double",le="+Inf"} 3"#), "\(text)")
        #expect(lines.contains(#"resin_inference_runs_in_flight{model="double"} 0"#), "\(text)")
        #expect(lines.contains(#"resin_inference_requests_total{model="ints"} 0"#), "\(text)")
    }
}
