import Foundation

/// What a run of the `resin` executable did.
public struct CommandResult: Sendable {
    public var status: Int32
    /// Whether the process ended by a signal (a crash or trap) rather than exiting.
    public var crashed: Bool
    public var standardOutput: String
    public var standardError: String
    public var timedOut: Bool
}

/// Runs the built `resin` with arguments, with a time limit so a hang fails the test instead of stalling it.
/// `environment` adds to (or replaces in) this process's environment.
public func runResin(_ arguments: [String], timeout: TimeInterval = 60, environment: [String: String] = [:]) throws -> CommandResult {
    try runProgram(TestPaths.executable, arguments, timeout: timeout, environment: environment)
}

/// Runs a program with arguments, with a time limit; `environment` adds to (or replaces in) this process's.
public func runProgram(
    _ executable: String, _ arguments: [String], timeout: TimeInterval = 60, environment: [String: String] = [:]
) throws -> CommandResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    if !environment.isEmpty { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
    let output = Pipe()
    let error = Pipe()
    process.standardOutput = output
    process.standardError = error
    try process.run()
    // Drain both pipes while the process runs so a chatty child cannot block on a full pipe.
    let outputData = LockedData()
    let errorData = LockedData()
    let group = DispatchGroup()
    for (pipe, sink) in [(output, outputData), (error, errorData)] {
        group.enter()
        DispatchQueue.global().async {
            sink.set(pipe.fileHandleForReading.readDataToEndOfFile())
            group.leave()
        }
    }
    let deadline = Date().addingTimeInterval(timeout)
    var timedOut = false
    while process.isRunning {
        if Date() > deadline {
            timedOut = true
            process.terminate()
            break
        }
        usleep(10_000)
    }
    process.waitUntilExit()
    group.wait()
    return CommandResult(
        status: process.terminationStatus,
        crashed: process.terminationReason == .uncaughtSignal,
        standardOutput: String(decoding: outputData.get(), as: UTF8.self),
        standardError: String(decoding: errorData.get(), as: UTF8.self),
        timedOut: timedOut)
}

private final class LockedData: @unchecked Sendable {
    private let lock = NSLock()
    private var data = Data()
    func set(_ value: Data) { lock.lock(); data = value; lock.unlock() }
    func get() -> Data { lock.lock(); defer { lock.unlock() }; return data }
}
