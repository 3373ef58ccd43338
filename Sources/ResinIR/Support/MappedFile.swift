#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// A whole file mapped read-only into memory.
///
/// Mapping with the pages populated up front costs a few milliseconds for 100 MB where reading the same
/// bytes into fresh memory costs tens (every new page faults and is zeroed before the copy).
public final class MappedFile: @unchecked Sendable {
    /// The file's bytes; empty for an empty file.
    public let bytes: UnsafeRawBufferPointer
    public let path: String
    private let populated: Bool
    private let hugePageMoveClaimed = Atomic<Bool>(false)

    /// `populate` maps every page up front (right for a file read once from start to end, like an ONNX
    /// model being decoded); without it pages are mapped as they are first touched (right for a native
    /// file whose weights are read in place by the first inference; such a mapping starts on a 2 MiB boundary,
    /// so that its pieces can later move onto huge pages in place: `claimHugePageMove`).
    public init(path: String, populate: Bool = true) throws {
        self.path = path
        populated = populate
        let (descriptor, size) = try openRegularFile(atPath: path)
        defer { close(descriptor) }
        guard size > 0 else {
            bytes = UnsafeRawBufferPointer(start: nil, count: 0)
            return
        }
        let address = populate ? mmap(nil, size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, descriptor, 0)
            : Self.mapOnHugePageBoundary(descriptor, size: size)
        guard let address, address != MAP_FAILED else { throw FileError.system(path, "cannot map") }
        bytes = UnsafeRawBufferPointer(start: address, count: size)
        TruncatedMappingReport.register(bytes, path: path)
    }

    /// Bytes of a transparent huge page on x86-64 and arm64 with 4 KiB pages.
    public static let hugePageBytes = 2 << 20

    /// Maps `size` bytes at an address that is a multiple of `hugePageBytes`: the file `descriptor` read-only
    /// (anywhere, if reserving the room fails), or fresh anonymous read-write memory when it is nil (nil if
    /// that fails). A file's 2 MiB pieces can then move onto huge pages in place (`claimHugePageMove`), and
    /// anonymous memory can be on huge pages from the start (`TensorStorage`).
    static func mapOnHugePageBoundary(_ descriptor: Int32?, size: Int) -> UnsafeMutableRawPointer? {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let mapped = (size + page - 1) / page * page
        let room = mapped + hugePageBytes
        let protection = descriptor == nil ? PROT_READ | PROT_WRITE : PROT_NONE
        guard let reserved = mmap(nil, room, protection, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), reserved != MAP_FAILED else {
            return descriptor.flatMap { mmap(nil, size, PROT_READ, MAP_PRIVATE, $0, 0) }
        }
        let aligned = UnsafeMutableRawPointer(bitPattern: (Int(bitPattern: reserved) + hugePageBytes - 1) / hugePageBytes * hugePageBytes)!
        if let descriptor {
            guard let address = mmap(aligned, size, PROT_READ, MAP_PRIVATE | MAP_FIXED, descriptor, 0), address != MAP_FAILED else {
                munmap(reserved, room)
                return nil
            }
        }
        // The reservation's slack on either side goes back.
        if aligned > reserved { munmap(reserved, aligned - reserved) }
        let end = aligned + mapped, reservedEnd = reserved + room
        if reservedEnd > end { munmap(end, reservedEnd - end) }
        return aligned
    }

    /// True exactly once, for the caller that is to move the mapping's pieces onto huge pages (a session
    /// after its first run); false for a file mapped with `populate`, read once and released.
    public func claimHugePageMove() -> Bool {
        guard !populated, bytes.count >= Self.hugePageBytes else { return false }
        return !hugePageMoveClaimed.exchange(true, ordering: .relaxed)
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
