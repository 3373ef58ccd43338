import ResinIR

#if canImport(Glibc)
import Glibc
#endif

/// Where `resin run --image` writes its records: standard output, or a file that appears only when complete.
///
/// A file's records stream to a hidden temporary file beside it (`.NAME.partial`), which is flushed to disk
/// and renamed over NAME at the end, so a reader never sees a partial NAME and a shard killed half way
/// leaves no NAME at all. The temporary name is fixed per output rather than random, so that a rerun after
/// `kill -9` truncates and reuses the stale file instead of leaving one behind per attempt.
final class ResultFile {
    /// The path records end up at; nil for standard output.
    let path: String?
    private let temporary: String?
    private let descriptor: Int32
    private var buffer: [UInt8] = []
    private var finished = false

    /// Standard output.
    init() {
        path = nil
        temporary = nil
        descriptor = STDOUT_FILENO
    }

    /// A file at `path`, written through its temporary file.
    init(path: String) throws(FileError) {
        self.path = path
        let temporary = Self.temporaryPath(for: path)
        self.temporary = temporary
        descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o666)
        guard descriptor >= 0 else {
            throw FileError(path: path, reason: "cannot create \(temporary): \(String(cString: strerror(errno)))")
        }
    }

    deinit {
        // Anything not finished is abandoned: a failed run leaves neither NAME nor its temporary file.
        if let temporary, !finished {
            close(descriptor)
            unlink(temporary)
        }
    }

    /// The hidden file beside `path` that collects its records.
    static func temporaryPath(for path: String) -> String {
        let slash = path.lastIndex(of: "/")
        let folder = slash.map { String(path[...$0]) } ?? ""
        let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
        return folder + "." + name + ".partial"
    }

    /// `path` with `{shard}` replaced by the shard's zero-padded index.
    static func expand(_ path: String, shard: Shard) -> String {
        path.replacing("{shard}", with: shard.paddedIndex)
    }

    /// Adds text; it reaches the file or standard output in blocks (`flush()` forces it out).
    func write(_ text: String) throws(FileError) {
        buffer.append(contentsOf: text.utf8)
        if buffer.count >= 1 << 16 { try flush() }
    }

    /// Writes out what `write` buffered. Standard output is flushed after every batch, so that a pipe reader
    /// sees records as they are scored.
    func flush() throws(FileError) {
        var done = 0
        while done < buffer.count {
            let count = buffer.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress! + done, $0.count - done) }
            if count < 0 {
                if errno == EINTR { continue }
                throw FileError(path: path ?? "standard output", reason: "cannot write: \(String(cString: strerror(errno)))")
            }
            done += count
        }
        buffer.removeAll(keepingCapacity: true)
    }

    /// Flushes the records to disk and renames the temporary file to `path`, then flushes the folder so
    /// that the rename itself survives a power cut.
    func commit() throws(FileError) {
        try flush()
        guard let path, let temporary else { return }
        guard fsync(descriptor) == 0 else {
            throw FileError(path: path, reason: "cannot flush \(temporary): \(String(cString: strerror(errno)))")
        }
        close(descriptor)
        finished = true
        guard rename(temporary, path) == 0 else {
            let error = FileError(path: path, reason: "cannot rename \(temporary) to it: \(String(cString: strerror(errno)))")
            unlink(temporary)
            throw error
        }
        let slash = path.lastIndex(of: "/")
        let folder = slash.map { $0 == path.startIndex ? "/" : String(path[..<$0]) } ?? "."
        let folderDescriptor = open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if folderDescriptor >= 0 {
            // Some file systems refuse fsync on a folder; the file's own data is safe either way.
            _ = fsync(folderDescriptor)
            close(folderDescriptor)
        }
    }
}
