public import Hummingbird

/// The Open Inference Protocol's answers for a set of models, apart from HTTP plumbing, so that every answer
/// can be tested without a socket.
public struct InferenceService: Sendable {
    /// The only model version served: a model file is one version.
    public static let modelVersion = "1"

    /// The models by name.
    let models: [String: any ServableModel]
    /// Model names in the order given.
    let modelNames: [String]
    /// Request counters for `/metrics`.
    public let metrics: ServerMetrics
    /// The server's name and version, for `GET /v2`.
    let serverName: String
    let serverVersion: String

    /// A service for `models`, whose names must be distinct (the caller checks, naming the files).
    public init(models: [any ServableModel], serverName: String = "resin", serverVersion: String) {
        precondition(Set(models.map(\.name)).count == models.count, "model names must be distinct")
        self.models = Dictionary(uniqueKeysWithValues: models.map { ($0.name, $0) })
        modelNames = models.map(\.name)
        metrics = ServerMetrics(models: modelNames)
        self.serverName = serverName
        self.serverVersion = serverVersion
    }

    /// `GET /v2/health/live`: the process answers.
    public func live() -> ServeResponse { .json("{\"live\":true}") }

    /// `GET /v2/health/ready`: every model was loaded before the server started listening.
    public func ready() -> ServeResponse { .json("{\"ready\":true}") }

    /// `GET /v2`: the server's name, version and protocol extensions.
    public func serverMetadata() -> ServeResponse {
        .json("{\"name\":\(quoted(serverName)),\"version\":\(quoted(serverVersion)),\"extensions\":[\"binary_tensor_data\"]}")
    }

    /// `GET /v2/models/{name}[/versions/{version}]`.
    public func modelMetadata(name: String, version: String?) -> ServeResponse {
        do {
            let model = try self.model(named: name, version: version)
            return .json(ProtocolJSON.modelMetadata(model, version: Self.modelVersion))
        } catch {
            return .error(error)
        }
    }

    /// `GET /v2/models/{name}[/versions/{version}]/ready`.
    public func modelReady(name: String, version: String?) -> ServeResponse {
        do {
            let model = try self.model(named: name, version: version)
            return .json("{\"name\":\(quoted(model.name)),\"ready\":true}")
        } catch {
            return .error(error)
        }
    }

    /// `GET /metrics`.
    public func metricsText() -> ServeResponse {
        ServeResponse(status: 200, body: Array(metrics.exposition().utf8), jsonLength: nil,
                      contentType: "text/plain; version=0.0.4; charset=utf-8")
    }

    /// `POST /v2/models/{name}[/versions/{version}]/infer`. The body is read only once the model is known;
    /// `readBody` throws a `ServeError` (413) past the server's limit. `headerLength` is the
    /// `Inference-Header-Content-Length` header.
    public func infer(
        name: String, version: String?, headerLength: String?, readBody: () async throws -> ByteBuffer
    ) async -> ServeResponse {
        let model: any ServableModel
        do {
            model = try self.model(named: name, version: version)
        } catch {
            return .error(error)
        }
        let start = ContinuousClock.now
        metrics.requestStarted(model: model.name)
        let response = await answer(model, headerLength: headerLength, readBody: readBody)
        let elapsed = (ContinuousClock.now - start).components
        metrics.requestFinished(model: model.name, status: response.status,
                                seconds: Double(elapsed.seconds) + Double(elapsed.attoseconds) * 1e-18)
        return response
    }

    private func answer(_ model: any ServableModel, headerLength: String?, readBody: () async throws -> ByteBuffer) async -> ServeResponse {
        do {
            let body: ByteBuffer
            do {
                body = try await readBody()
            } catch let error as ServeError {
                throw error
            } catch {
                throw ServeError.badRequest("the request body could not be read: \(error)")
            }
            let request = try body.withUnsafeReadableBytes { bytes throws(ServeError) in
                try InferenceRequest.parse(body: bytes, headerLength: headerLength, for: model)
            }
            let results = try await run(model, request.inputs)
            var outputs: [(InferenceRequest.RequestedOutput, ServedTensor)] = []
            for requested in request.outputs {
                guard let tensor = results[requested.name] else {
                    throw ServeError(status: 500, "model '\(model.name)' did not produce output '\(requested.name)'")
                }
                outputs.append((requested, tensor))
            }
            return ProtocolJSON.inferenceResponse(model: model.name, version: Self.modelVersion, id: request.id, outputs: outputs)
        } catch let error as ServeError {
            return .error(error)
        } catch {
            return .error(ServeError(status: 500, "model '\(model.name)': \(error)"))
        }
    }

    /// Runs the model, counting the run in flight and sorting its errors into the client's and the server's.
    private func run(_ model: any ServableModel, _ inputs: [String: ServedTensor]) async throws -> [String: ServedTensor] {
        metrics.runsInFlight(model: model.name, delta: 1)
        defer { metrics.runsInFlight(model: model.name, delta: -1) }
        do {
            return try await model.infer(inputs)
        } catch let error as InferenceError {
            switch error {
            case .badInput(let message): throw ServeError.badRequest("model '\(model.name)': \(message)")
            case .failed(let message): throw ServeError(status: 500, "model '\(model.name)' failed: \(message)")
            }
        }
    }

    /// The model called `name`, in `version` when one is given; 404 otherwise.
    private func model(named name: String, version: String?) throws(ServeError) -> any ServableModel {
        guard let model = models[name] else {
            throw ServeError(status: 404, "unknown model '\(name)'; this server has \(list(modelNames))")
        }
        if let version, version != Self.modelVersion {
            throw ServeError(status: 404, "model '\(name)' has no version '\(version)'; it has version '\(Self.modelVersion)'")
        }
        return model
    }
}
