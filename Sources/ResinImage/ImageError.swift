/// Why an image, a preprocessing recipe or a labels file could not be used: not an image, truncated,
/// corrupt, too large, or a malformed value. `description` names the file when it is known.
package struct ImageError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The file at fault, if the bytes came from one.
    package var file: String?
    /// What is wrong, as one sentence fragment ("truncated PNG image (...)").
    package var message: String

    /// An error about `file` (nil when the bytes did not come from a file).
    package init(file: String?, message: String) {
        self.file = file
        self.message = message
    }

    /// "FILE: message", or just the message when no file is known.
    package var description: String {
        if let file { return "\(file): \(message)" }
        return message
    }
}
