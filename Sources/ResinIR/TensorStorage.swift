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

    /// Alignment of the bytes Resin allocates: a cache line, and what AVX-512 loads prefer.
    public static let alignment = 64

    /// Storage of `byteCount` bytes that `initialize` fills.
    public init(byteCount: Int, initialize: (UnsafeMutableRawBufferPointer) throws -> Void) rethrows {
        let buffer = UnsafeMutableRawBufferPointer.allocate(
            byteCount: max(byteCount, 1), alignment: Self.alignment)
        let used = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<byteCount])
        do {
            try initialize(used)
        } catch {
            buffer.deallocate()
            throw error
        }
        bytes = UnsafeRawBufferPointer(used)
        owner = nil
        allocation = buffer.baseAddress
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
    }

    /// An empty storage.
    public static let empty = TensorStorage(byteCount: 0) { _ in }

    deinit {
        allocation?.deallocate()
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
