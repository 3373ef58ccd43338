#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Immutable bytes of a tensor, 64-byte aligned when Resin allocated them.
///
/// A class so that large weights are shared, not copied, as graphs are rewritten; the bytes never change
/// after creation, which makes sharing across threads safe. Later the native reader hands out storage that
/// points into an mmap'd file, kept alive by `owner`.
public final class TensorStorage: @unchecked Sendable {
    /// The bytes, little-endian elements as in ONNX `raw_data`.
    public let bytes: UnsafeRawBufferPointer
    private let owner: AnyObject?
    /// The allocation Resin made and frees, when it made one.
    private let allocation: UnsafeMutableRawPointer?
    /// Bytes of `allocation` when it is a mapping of its own (`mapOnHugePages`), else 0.
    private let mappedByteCount: Int

    /// Alignment of the bytes Resin allocates: a cache line, and what AVX-512 loads prefer.
    public static let alignment = 64

    /// Storage of `byteCount` bytes that `initialize` fills.
    public init(byteCount: Int, initialize: (UnsafeMutableRawBufferPointer) throws -> Void) rethrows {
        let mapped = byteCount >= Self.hugePageMinimum ? Self.mapOnHugePages(byteCount) : nil
        let buffer = mapped ?? UnsafeMutableRawBufferPointer.allocate(byteCount: max(byteCount, 1), alignment: Self.alignment)
        let used = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<byteCount])
        do {
            try initialize(used)
        } catch {
            if mapped != nil { munmap(buffer.baseAddress, buffer.count) } else { buffer.deallocate() }
            throw error
        }
        bytes = UnsafeRawBufferPointer(used)
        owner = nil
        allocation = buffer.baseAddress
        mappedByteCount = mapped?.count ?? 0
    }

    /// Storages of at least this many bytes (weights a session prepares or folds, which every inference at
    /// batch 1 streams from memory) get memory of their own on transparent huge pages, unless
    /// RESIN_HUGE_PAGES is "off": on a KVM guest a cold read of 8 MiB ran 0.27 to 0.38 ms from anonymous
    /// 4 KiB pages and 0.244 to 0.254 from huge pages (Docs/PERFORMANCE.md).
    public static let hugePageMinimum = 2 << 20

    private static let hugePagesWanted: Bool = {
        guard let setting = getenv("RESIN_HUGE_PAGES") else { return true }
        return String(cString: setting) != "off"
    }()

    /// Fresh anonymous memory for `byteCount` bytes starting on a 2 MiB boundary, asked to be on huge pages
    /// (the kernel decides), or nil.
    private static func mapOnHugePages(_ byteCount: Int) -> UnsafeMutableRawBufferPointer? {
        guard hugePagesWanted, let start = MappedFile.mapOnHugePageBoundary(nil, size: byteCount) else { return nil }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let length = (byteCount + page - 1) / page * page
        #if canImport(Glibc)
        madvise(start, length, MADV_HUGEPAGE)
        #endif
        return UnsafeMutableRawBufferPointer(start: start, count: length)
    }

    /// A copy of `source`.
    public convenience init(copying source: UnsafeRawBufferPointer) {
        self.init(byteCount: source.count) { destination in
            if source.count > 0 { destination.copyMemory(from: source) }
        }
    }

    /// A copy of an array's bytes.
    public convenience init(bytes array: [UInt8]) {
        self.init(byteCount: array.count) { destination in
            array.withUnsafeBytes { if $0.count > 0 { destination.copyMemory(from: $0) } }
        }
    }

    /// The object whose bytes these are, for storage that borrows; nil when Resin allocated them.
    public var borrowedFrom: AnyObject? { owner }

    /// Storage over bytes someone else owns (an mmap'd file); `owner` keeps them alive.
    public init(borrowing bytes: UnsafeRawBufferPointer, owner: AnyObject) {
        self.bytes = bytes
        self.owner = owner
        allocation = nil
        mappedByteCount = 0
    }

    /// An empty storage.
    public static let empty = TensorStorage(byteCount: 0) { _ in }

    deinit {
        if mappedByteCount > 0 {
            munmap(allocation, mappedByteCount)
        } else {
            allocation?.deallocate()
        }
    }

    /// The number of bytes.
    public var byteCount: Int { bytes.count }

    /// Whether two storages hold the same bytes.
    public func hasSameBytes(as other: TensorStorage) -> Bool {
        if self === other { return true }
        guard bytes.count == other.bytes.count else { return false }
        if bytes.count == 0 { return true }
        return memcmp(bytes.baseAddress!, other.bytes.baseAddress!, bytes.count) == 0
    }
}
