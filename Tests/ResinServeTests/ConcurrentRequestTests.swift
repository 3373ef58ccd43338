import Testing
@testable import ResinServe

/// Many requests at once through one service: each answer is its own request's, and the counters add up.
@Suite struct ConcurrentRequestTests {
    /// 8 tasks x 100 requests with distinct inputs, JSON and binary alternating: every answer carries the
    /// request's id and 2x and -x of its own input, computed here independently of the model.
    @Test func everyAnswerIsItsOwnRequests() async throws {
        let service = InferenceService(models: [DoublingModel()], serverVersion: "test")
        let wrong = await withTaskGroup(of: Int.self) { group in
            for task in 0..<8 {
                group.addTask {
                    var wrong = 0
                    for round in 0..<100 {
                        let input: [Float] = [Float(task), Float(round), Float(task * 1000 + round) / 8]
                        let id = "\(task)-\(round)"
                        let response: ServeResponse
                        if round.isMultiple(of: 2) {
                            response = await infer(service, model: "double", json: """
                                {"id": "\(id)", "inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 3], "parameters": {"binary_data_size": 12}}],
                                 "parameters": {"binary_data_output": true}}
                                """, binary: bytes(input))
                            let expected = bytes(input.map { $0 * 2 } + input.map { -$0 })
                            let tail = Array(response.body[(response.jsonLength ?? 0)...])
                            if response.status != 200 || tail != expected { wrong += 1 }
                        } else {
                            let data = input.map { "\($0)" }.joined(separator: ",")
                            response = await infer(service, model: "double", json: """
                                {"id": "\(id)", "inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 3], "data": [\(data)]}], "outputs": [{"name": "y"}]}
                                """)
                            guard case .array(let outputs)? = try? jsonPart(response)["outputs"], case .numbers(let y)? = outputs.first?["data"],
                                  y.map({ Float($0) }) == input.map({ $0 * 2 }) else {
                                wrong += 1
                                continue
                            }
                        }
                        if (try? jsonPart(response)["id"]) != .string(id) { wrong += 1 }
                    }
                    return wrong
                }
            }
            return await group.reduce(0, +)
        }
        #expect(wrong == 0)
        let text = String(decoding: service.metricsText().body, as: UTF8.self)
        #expect(text.contains(#"resin_inference_requests_total{model="double"} 800"#), "\(text)")
        #expect(text.contains(#"resin_inference_duration_seconds_count{model="double"} 800"#), "\(text)")
        #expect(text.contains(#"resin_inference_runs_in_flight{model="double"} 0"#), "\(text)")
    }
}
