import ArgumentParser
import Resin
import ResinIR
import ResinONNX
import ResinFormat
import ResinRuntime

#if canImport(Glibc)
import Glibc
#endif

/// The `resin` command line of Docs/CLI.md.
@main
struct ResinCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resin",
        abstract: "Convert, inspect and run ResNet-family ONNX models on the CPU.",
        subcommands: [Convert.self, Run.self, Preprocess.self, Verify.self, Inspect.self, Bench.self, BenchKernels.self, Serve.self, MergeResults.self])

    /// The kernel table read RESIN_ISA once; a value it could not honour stops every command before it runs.
    static func main() {
        if let error = InstructionSet.requestError {
            printError(error.description)
            Self.exit(withError: Exit.badInput)
        }
        main(nil)
    }
}

/// Exit codes of Docs/CLI.md beyond ArgumentParser's own (64 for usage errors).
enum Exit {
    /// Bad input: unreadable, malformed or unsupported model, shape mismatch, I/O failure.
    static let badInput = ExitCode(2)
}

/// Runs a command body, turning any failure into one message on stderr and exit code 2.
func reportingErrors<Result>(about path: String, _ body: () throws -> Result) throws -> Result {
    // A model file truncated while mapped then ends with one error line and exit 2 rather than SIGBUS.
    TruncatedMappingReport.install()
    do {
        return try body()
    } catch let exit as ExitCode {
        throw exit
    } catch {
        printError(message(for: error, path: path))
        throw Exit.badInput
    }
}

/// The one-line message for an error, always naming the file.
func message(for error: Error, path: String) -> String {
    switch error {
    case let error as ResinError: return error.description
    case let error as ImportError: return error.description
    case let error as FileError: return error.description
    case let error as LoadError: return error.description
    case let error as BindingError: return error.description
    case let error as NativeFormatError: return error.description
    default:
        let text = String(describing: error)
        return text.hasPrefix(path) ? text : "\(path): \(text)"
    }
}

/// Writes "error: ..." to standard error.
func printError(_ text: String) {
    let line = Array("error: \(text)\n".utf8)
    line.withUnsafeBytes { _ = write(STDERR_FILENO, $0.baseAddress, $0.count) }
}

/// Writes "warning: ..." to standard error, keeping standard output for results such as `--json`.
func printWarning(_ text: String) {
    let line = Array("warning: \(text)\n".utf8)
    line.withUnsafeBytes { _ = write(STDERR_FILENO, $0.baseAddress, $0.count) }
}

/// Writes one `--verbose` line (an optimizer pass and its rewrites) to standard error, keeping standard
/// output for results such as `--json`.
func printVerbose(_ text: String) {
    let line = Array("optimizer: \(text)\n".utf8)
    line.withUnsafeBytes { _ = write(STDERR_FILENO, $0.baseAddress, $0.count) }
}

/// The optimizer's log when `--verbose` is given.
func verboseLog(_ verbose: Bool) -> ((String) -> Void)? {
    guard verbose else { return nil }
    return { printVerbose($0) }
}
