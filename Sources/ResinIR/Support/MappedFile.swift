#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A whole file mapped read-only into memory.
///
/// Mapping with the pages populated up front costs a few milliseconds for 100 MB where reading the same
/// bytes into fresh memory costs tens (every new page faults and is zeroed before the copy).
public final class MappedFile: @unchecked Sendable {
    /// The file's bytes; empty for an empty file.
    public let bytes: UnsafeRawBufferPointer
    public let path: String

    /// `populate` maps every page up front (right for a file read once from start to end, like an ONNX
    /// model being decoded); without it pages are mapped as they are first touched (right for a native
    /// file whose weights are read in place by the first inference).
    public init(path: String, populate: Bool = true) throws {
        self.path = path
        let (descriptor, size) = try openRegularFile(atPath: path)
        defer { close(descriptor) }
        guard size > 0 else {
            bytes = UnsafeRawBufferPointer(start: nil, count: 0)
            return
        }
        let address = mmap(nil, size, PROT_READ, MAP_PRIVATE | (populate ? MAP_POPULATE : 0), descriptor, 0)
        guard let address, address != MAP_FAILED else { throw FileError.system(path, "cannot map") }
        bytes = UnsafeRawBufferPointer(start: address, count: size)
    }

    deinit {
        if let base = bytes.baseAddress { munmap(UnsafeMutableRawPointer(mutating: base), bytes.count) }
    }
}
