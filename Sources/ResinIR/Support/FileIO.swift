#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A file-system failure, naming the path and the system's reason.
public struct FileError: Error, Equatable, CustomStringConvertible {
    public var path: String
    public var reason: String
    public init(path: String, reason: String) {
        self.path = path
        self.reason = reason
    }
    public var description: String { "\(path): \(reason)" }

    static func system(_ path: String, _ action: String) -> FileError {
        FileError(path: path, reason: "\(action): \(String(cString: strerror(errno)))")
    }
}

/// Opens a regular file for reading and returns its descriptor, which the caller closes, and its size.
/// Anything else (a FIFO, a device such as /dev/zero, a socket, a folder) is refused before a byte is read.
func openRegularFile(atPath path: String) throws -> (descriptor: Int32, size: Int) {
    // Non-blocking: opening a FIFO for reading would otherwise wait for a writer forever. Reads of a regular
    // file never block, so the flag changes nothing for the files accepted.
    let descriptor = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
    guard descriptor >= 0 else { throw FileError.system(path, "cannot open") }
    var status = stat()
    guard fstat(descriptor, &status) == 0 else {
        let error = FileError.system(path, "cannot stat")
        close(descriptor)
        throw error
    }
    guard (status.st_mode & S_IFMT) == S_IFREG else {
        close(descriptor)
        let kind = switch status.st_mode & S_IFMT {
        case S_IFIFO: "a FIFO"
        case S_IFCHR: "a character device"
        case S_IFBLK: "a block device"
        case S_IFDIR: "a folder"
        case S_IFSOCK: "a socket"
        default: "not a regular file"
        }
        throw FileError(path: path, reason: kind == "not a regular file" ? "is not a regular file" : "is \(kind), not a regular file")
    }
    return (descriptor, Int(status.st_size))
}

/// Reads a whole regular file.
public func readFile(atPath path: String) throws -> [UInt8] {
    let (descriptor, size) = try openRegularFile(atPath: path)
    defer { close(descriptor) }
    var failure: FileError?
    // Uninitialised capacity: zero-filling a 100 MB buffer first would cost as much as reading it.
    let bytes = [UInt8](unsafeUninitializedCapacity: size) { buffer, initialized in
        var done = 0
        while done < size {
            let count = read(descriptor, buffer.baseAddress! + done, size - done)
            if count < 0 {
                if errno == EINTR { continue }
                failure = FileError.system(path, "cannot read")
                break
            }
            if count == 0 { break }
            done += count
        }
        initialized = done
    }
    if let failure { throw failure }
    return bytes
}

/// Reads `length` bytes at `offset` of a file, checking that they exist.
public func readFile(atPath path: String, offset: Int, length: Int) throws -> [UInt8] {
    let (descriptor, size) = try openRegularFile(atPath: path)
    defer { close(descriptor) }
    guard offset >= 0, length >= 0, offset <= size, length <= size - offset else {
        throw FileError(path: path, reason: "has \(size) bytes, but \(length) bytes at offset \(offset) were asked for")
    }
    var bytes = [UInt8](repeating: 0, count: length)
    var done = 0
    try bytes.withUnsafeMutableBytes { (buffer: UnsafeMutableRawBufferPointer) throws in
        while done < length {
            let count = pread(descriptor, buffer.baseAddress! + done, length - done, off_t(offset + done))
            if count < 0 {
                if errno == EINTR { continue }
                throw FileError.system(path, "cannot read")
            }
            if count == 0 { throw FileError(path: path, reason: "ended early at byte \(offset + done)") }
            done += count
        }
    }
    return bytes
}

/// Writes a file atomically: the bytes go to a temporary file in the same folder, which is flushed and
/// then renamed over `path`. On any failure the temporary file is removed and `path` is untouched.
public func writeFileAtomically(
    atPath path: String, _ write: (_ append: (UnsafeRawBufferPointer) throws(FileError) -> Void) throws -> Void
) throws {
    let slash = path.lastIndex(of: "/")
    let folder = slash.map { String(path[..<$0]) } ?? "."
    let base = slash.map { String(path[path.index(after: $0)...]) } ?? path
    let pattern = "\(folder.isEmpty ? "/" : folder)/.\(base).resin-tmp-XXXXXX"
    var template = Array(pattern.utf8CString)
    let descriptor = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
    guard descriptor >= 0 else { throw FileError.system(path, "cannot create a temporary file beside it") }
    let temporary = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
    var finished = false
    defer {
        if !finished { unlink(temporary) }
    }
    do {
        defer { if !finished { close(descriptor) } }
        try write { (bytes: UnsafeRawBufferPointer) throws(FileError) in
            var done = 0
            while done < bytes.count {
                let count = Glibc.write(descriptor, bytes.baseAddress! + done, bytes.count - done)
                if count < 0 {
                    if errno == EINTR { continue }
                    throw FileError.system(path, "cannot write")
                }
                done += count
            }
        }
        // Keep the permissions a new file would get from the umask rather than mkstemp's 0600.
        let mask = umask(0)
        umask(mask)
        fchmod(descriptor, 0o666 & ~mask)
        guard fsync(descriptor) == 0 else { throw FileError.system(path, "cannot flush") }
        finished = true
        close(descriptor)
    }
    guard rename(temporary, path) == 0 else {
        let error = FileError.system(path, "cannot replace")
        unlink(temporary)
        throw error
    }
}

/// The canonical absolute path of an existing file, with symbolic links resolved.
public func canonicalPath(_ path: String) -> String? {
    guard let resolved = realpath(path, nil) else { return nil }
    defer { free(resolved) }
    return String(cString: resolved)
}
