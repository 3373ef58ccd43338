#if canImport(Glibc)
import Glibc
#endif

/// Whole-file reads for images and labels, with errors that name the file.
enum FileBytes {
    /// The bytes of `file`; files over `limit` bytes are refused before they are read.
    static func read(file: String, limit: Int) throws(ImageError) -> [UInt8] {
        let descriptor = open(file, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw ImageError(file: file, message: "cannot open (\(reason(errno)))") }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { throw ImageError(file: file, message: "cannot read (\(reason(errno)))") }
        guard status.st_mode & S_IFMT == S_IFREG else { throw ImageError(file: file, message: "not a regular file") }
        let size = Int(status.st_size)
        guard size <= limit else {
            throw ImageError(file: file, message: "the file is too large (\(size) bytes, at most \(limit))")
        }
        var failure: Int32 = 0
        let bytes = [UInt8](unsafeUninitializedCapacity: size) { buffer, count in
            while count < size {
                let done = Glibc.read(descriptor, buffer.baseAddress! + count, size - count)
                if done < 0 && errno == EINTR { continue }
                if done <= 0 { failure = done < 0 ? errno : 0; break }
                count += done
            }
        }
        // A file that shrank while being read is taken as it ended; a failed read is an error.
        guard failure == 0 else { throw ImageError(file: file, message: "cannot read (\(reason(failure)))") }
        return bytes
    }

    private static func reason(_ code: Int32) -> String {
        String(cString: strerror(code))
    }
}
