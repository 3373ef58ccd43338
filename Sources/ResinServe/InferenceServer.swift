import HTTPTypes
import Hummingbird
import Logging
import NIOCore

/// Where and how the server listens, and the limits it keeps.
public struct ServerConfiguration: Sendable {
    /// The address to bind (the default keeps the server to this machine).
    public var host: String
    /// The TCP port; 0 lets the system choose one, reported to `onListening`.
    public var port: Int
    /// The largest request body read, in bytes; a longer one is answered 413 without being buffered.
    public var maxRequestBytes: Int
    /// Seconds a connection may send nothing (a stalled body included) before it is closed.
    public var idleTimeoutSeconds: Double

    /// A configuration; the defaults are those of `resin serve`.
    public init(host: String = "127.0.0.1", port: Int = 8000, maxRequestBytes: Int = 16 << 20, idleTimeoutSeconds: Double = 30) {
        self.host = host
        self.port = port
        self.maxRequestBytes = maxRequestBytes
        self.idleTimeoutSeconds = idleTimeoutSeconds
    }
}

/// The Open Inference Protocol (KServe v2 REST) over HTTP/1.1, served by Hummingbird.
public struct InferenceServer: Sendable {
    /// The answers, independent of HTTP.
    public let service: InferenceService
    /// Address and limits.
    public let configuration: ServerConfiguration

    /// A server for `service`.
    public init(service: InferenceService, configuration: ServerConfiguration) {
        self.service = service
        self.configuration = configuration
    }

    /// Serves until SIGTERM or SIGINT, then stops accepting connections, lets the requests in flight finish, and
    /// returns. `onListening` receives the port once the socket is bound.
    public func run(onListening: @escaping @Sendable (Int) -> Void) async throws {
        var logger = Logger(label: "resin.serve")
        // Errors reach clients as JSON; the log keeps to what an operator must see.
        logger.logLevel = .warning
        let idleTimeout = TimeAmount.milliseconds(Int64(configuration.idleTimeoutSeconds * 1000))
        let port = configuration.port
        let application = Application(
            router: makeRouter(),
            server: .http1(configuration: .init(idleTimeout: idleTimeout)),
            configuration: .init(address: .hostname(configuration.host, port: port), serverName: "resin"),
            onServerRunning: { channel in onListening(channel.localAddress?.port ?? port) },
            logger: logger)
        try await application.runService(gracefulShutdownSignals: [.sigterm, .sigint])
    }

    /// The protocol's routes, with and without `/versions/{version}`.
    func makeRouter() -> Router<BasicRequestContext> {
        let router = Router()
        router.add(middleware: JSONErrorMiddleware())
        let service = self.service
        let limit = configuration.maxRequestBytes
        router.get("/v2/health/live") { _, _ in service.live().httpResponse }
        router.get("/v2/health/ready") { _, _ in service.ready().httpResponse }
        router.get("/v2") { _, _ in service.serverMetadata().httpResponse }
        router.get("/metrics") { _, _ in service.metricsText().httpResponse }
        for prefix in ["/v2/models/{name}", "/v2/models/{name}/versions/{version}"] {
            router.get(RouterPath(prefix)) { _, context in
                service.modelMetadata(name: try context.parameters.require("name"), version: context.parameters.get("version")).httpResponse
            }
            router.get(RouterPath(prefix + "/ready")) { _, context in
                service.modelReady(name: try context.parameters.require("name"), version: context.parameters.get("version")).httpResponse
            }
            router.post(RouterPath(prefix + "/infer")) { request, context in
                await service.infer(
                    name: try context.parameters.require("name"), version: context.parameters.get("version"),
                    headerLength: request.headers[.inferenceHeaderContentLength]
                ) {
                    do {
                        // Reads at most `limit` bytes: a longer body fails here, before it is all in memory.
                        return try await request.body.collect(upTo: limit)
                    } catch is NIOTooManyBytesError {
                        throw ServeError(status: 413, "the request body is over this server's limit of \(limit) bytes (--max-request-bytes)")
                    }
                }.httpResponse
            }
        }
        return router
    }
}

extension HTTPField.Name {
    /// The binary tensor data extension's header: the length of the JSON that starts the body.
    static let inferenceHeaderContentLength = HTTPField.Name("Inference-Header-Content-Length")!
}

extension ServeResponse {
    /// The Hummingbird response.
    var httpResponse: Response {
        var headers: HTTPFields = [.contentType: contentType]
        if let jsonLength { headers[.inferenceHeaderContentLength] = String(jsonLength) }
        return Response(status: .init(code: status), headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}

/// Gives the router's own refusals (no such path, wrong method) the protocol's JSON error body.
struct JSONErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as any HTTPResponseError {
            let message = error.status == .notFound
                ? "no such endpoint: \(request.method) \(request.uri.path)"
                : "\(request.method) \(request.uri.path): \(error.status)"
            return ServeResponse.error(ServeError(status: error.status.code, message)).httpResponse
        }
    }
}
