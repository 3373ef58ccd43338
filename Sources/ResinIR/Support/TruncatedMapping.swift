#if canImport(Glibc)
import Glibc

/// Turns the SIGBUS that Linux raises when a mapped file shrinks under the process (another program
/// truncated or rewrote it in place) into one error line naming the file and exit code 2, as every other
/// bad input ends.
///
/// Only a process that asks for it gets the handler (the command-line tool does; a library embedding
/// Resin keeps its own signal handling). Every `MappedFile` registers its range while the handler is
/// installed; a fault outside all of them goes to the handler that was there before.
public enum TruncatedMappingReport {
    /// One mapped range and the line to print when a fault lands in it. The handler reads these without
    /// locking: a slot is filled before its start is published and its start cleared before it is freed.
    struct Slot {
        var start: UInt = 0
        var end: UInt = 0
        var message: UnsafeMutablePointer<UInt8>?
        var length = 0
    }

    /// Ranges beyond this many at once (models open at the same time) are simply not reported.
    static let capacity = 64
    nonisolated(unsafe) static var slots: UnsafeMutablePointer<Slot>?
    nonisolated(unsafe) static var previous = sigaction()
    /// Guards the table against concurrent registration (the handler itself never locks).
    nonisolated(unsafe) static let mutex: UnsafeMutablePointer<pthread_mutex_t> = {
        let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
        return mutex
    }()

    static func withLock(_ body: () -> Void) {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        body()
    }

    /// The exit code of a process whose mapped file was truncated.
    public static let exitCode: Int32 = 2

    /// Installs the SIGBUS handler once; later calls do nothing.
    public static func install() {
        withLock {
            guard slots == nil else { return }
            let table = UnsafeMutablePointer<Slot>.allocate(capacity: capacity)
            table.initialize(repeating: Slot(), count: capacity)
            slots = table
            var action = sigaction()
            action.__sigaction_handler.sa_sigaction = { _, info, _ in
                let address = UInt(bitPattern: info?.pointee._sifields._sigfault.si_addr)
                if let table = TruncatedMappingReport.slots {
                    for index in 0..<TruncatedMappingReport.capacity {
                        let slot = table[index]
                        if slot.start != 0, address >= slot.start, address < slot.end, let message = slot.message {
                            _ = write(STDERR_FILENO, message, slot.length)
                            _exit(TruncatedMappingReport.exitCode)
                        }
                    }
                }
                // Not a model's mapping: the previous handler (or the default action) takes the repeated fault.
                sigaction(SIGBUS, &TruncatedMappingReport.previous, nil)
            }
            action.sa_flags = SA_SIGINFO
            sigemptyset(&action.sa_mask)
            sigaction(SIGBUS, &action, &previous)
        }
    }

    /// Records a mapping of `path` (nothing happens unless `install` was called).
    static func register(_ bytes: UnsafeRawBufferPointer, path: String) {
        guard let base = bytes.baseAddress else { return }
        withLock {
            guard let table = slots, let index = (0..<capacity).first(where: { table[$0].start == 0 }) else { return }
            let line = Array("error: \(path): the file was truncated while mapped\n".utf8)
            let message = UnsafeMutablePointer<UInt8>.allocate(capacity: line.count)
            message.initialize(from: line, count: line.count)
            table[index].message = message
            table[index].length = line.count
            table[index].end = UInt(bitPattern: base) + UInt(bytes.count)
            table[index].start = UInt(bitPattern: base)
        }
    }

    /// Forgets a mapping before it is unmapped.
    static func unregister(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress else { return }
        withLock {
            guard let table = slots else { return }
            for index in 0..<capacity where table[index].start == UInt(bitPattern: base) {
                table[index].start = 0
                table[index].message?.deallocate()
                table[index].message = nil
            }
        }
    }
}
#endif
