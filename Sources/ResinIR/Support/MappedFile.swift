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
        TruncatedMappingReport.register(bytes, path: path)
    }

    /// Drops this process's pages of the whole pages inside `range` (bytes already decoded elsewhere): the
    /// mapping stays valid and reads fault them in again from the page cache.
    public func releasePages(_ range: Range<Int>) {
        guard let base = bytes.baseAddress, range.lowerBound >= 0, range.upperBound <= bytes.count else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let first = (range.lowerBound + page - 1) / page * page
        let end = range.upperBound / page * page
        guard end > first else { return }
        madvise(UnsafeMutableRawPointer(mutating: base + first), end - first, MADV_DONTNEED)
    }

    deinit {
        TruncatedMappingReport.unregister(bytes)
        if let base = bytes.baseAddress { munmap(UnsafeMutableRawPointer(mutating: base), bytes.count) }
    }
}
