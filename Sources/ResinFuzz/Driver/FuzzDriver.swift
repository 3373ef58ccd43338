import ResinFuzzTargets

#if canImport(Glibc)
import Glibc
#endif

/// The target this process fuzzes, named by `RESIN_FUZZ_TARGET` (tools/fuzz sets it).
nonisolated(unsafe) private var selected: FuzzTarget?

/// libFuzzer's entry: one input per call.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    if selected == nil {
        let name = getenv("RESIN_FUZZ_TARGET").map { String(cString: $0) } ?? ""
        guard let target = FuzzTarget(rawValue: name) else {
            complain("RESIN_FUZZ_TARGET must be one of: \(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", "))\n")
            exit(2)
        }
        selected = target
    }
    selected!.run(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}

/// Writes a line to standard error.
private func complain(_ text: String) {
    let bytes = Array(text.utf8)
    bytes.withUnsafeBytes { _ = write(STDERR_FILENO, $0.baseAddress, $0.count) }
}

#if FUZZING
/// libFuzzer's driver, which parses its options and calls `callback` per input (from libclang_rt.fuzzer; the
/// arguments are plain pointers and integers, passed alike by the Swift and C calling conventions).
@_silgen_name("LLVMFuzzerRunDriver")
func runFuzzerDriver(
    _ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32
) -> Int32

/// The program's entry when built by tools/fuzz: SwiftPM links an executable's `main` to this module's entry
/// point, so libFuzzer's own `main` is not used and its driver is started from here.
@main
struct FuzzMain {
    static func main() {
        var argc = CommandLine.argc
        var argv = CommandLine.unsafeArgv
        exit(runFuzzerDriver(&argc, &argv) { data, size in fuzzOneInput(data, size) })
    }
}
#else
/// Without libFuzzer (a plain `swift build`): replays files through a target, `resin-fuzz TARGET FILE...`,
/// printing each file's outcome.
@main
struct FuzzReplay {
    static func main() {
        let arguments = CommandLine.arguments.dropFirst()
        guard let name = arguments.first, let target = FuzzTarget(rawValue: name) else {
            complain("usage: ResinFuzz \(FuzzTarget.allCases.map(\.rawValue).joined(separator: "|")) FILE...\n")
            exit(2)
        }
        for path in arguments.dropFirst() {
            guard let file = fopen(path, "rb") else {
                complain("\(path): cannot open\n")
                exit(2)
            }
            var bytes: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                let count = fread(&buffer, 1, buffer.count, file)
                if count <= 0 { break }
                bytes += buffer[0..<count]
            }
            fclose(file)
            let outcome = bytes.withUnsafeBytes { target.run($0) }
            print("\(path): \(outcome ?? "accepted")")
        }
    }
}
#endif
