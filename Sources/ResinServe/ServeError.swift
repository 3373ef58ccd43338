/// A request the server refuses: the HTTP status and a message naming what is wrong, sent as
/// `{"error": "..."}`.
public struct ServeError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The HTTP status code (4xx for the client's mistakes, 500 for the server's).
    public var status: Int
    /// What is wrong, naming the model, tensor, datatype or shape involved.
    public var message: String

    /// An error with a status and a message.
    public init(status: Int, _ message: String) {
        self.status = status
        self.message = message
    }

    /// A 400: the request is malformed or does not fit the model.
    static func badRequest(_ message: String) -> ServeError { ServeError(status: 400, message) }

    /// The message.
    public var description: String { message }
}
