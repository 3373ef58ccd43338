import CONNXProto
import CProtobufC

#if canImport(Glibc)
import Glibc
#endif

/// Owns the C memory of protobuf-c messages built for one encode, and frees it all at once.
///
/// Tensor bytes are not copied: `raw_data` and typed fields point straight into the IR's storage,
/// which outlives the encode.
final class CArena {
    private var allocations: [UnsafeMutableRawPointer] = []
    private var cleanups: [() -> Void] = []

    deinit {
        for cleanup in cleanups { cleanup() }
        for allocation in allocations { free(allocation) }
    }

    /// Zeroed memory for `count` values.
    func allocate<T>(_ type: T.Type, count: Int) -> UnsafeMutablePointer<T> {
        let raw = calloc(max(count, 1), MemoryLayout<T>.stride)!
        allocations.append(raw)
        return raw.bindMemory(to: T.self, capacity: max(count, 1))
    }

    /// A message initialised by its protobuf-c `*_init` function.
    func message<T>(_ initialize: (UnsafeMutablePointer<T>) -> Void) -> UnsafeMutablePointer<T> {
        let pointer = allocate(T.self, count: 1)
        initialize(pointer)
        return pointer
    }

    /// A NUL-terminated copy; nil stays NULL so an absent field stays absent.
    func string(_ text: String?) -> UnsafeMutablePointer<CChar>? {
        guard let text else { return nil }
        let utf8 = Array(text.utf8)
        let pointer = allocate(CChar.self, count: utf8.count + 1)
        utf8.withUnsafeBytes { UnsafeMutableRawPointer(pointer).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        pointer[utf8.count] = 0
        return pointer
    }

    /// An array of values copied into C memory.
    func array<T>(_ values: [T]) -> UnsafeMutablePointer<T>? {
        guard !values.isEmpty else { return nil }
        let pointer = allocate(T.self, count: values.count)
        pointer.initialize(from: values, count: values.count)
        return pointer
    }

    /// An array of C strings.
    func strings(_ values: [String]) -> UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? {
        array(values.map { string($0) })
    }

    /// A protobuf `bytes` value copied into C memory.
    func binary(_ bytes: [UInt8]) -> ProtobufCBinaryData {
        ProtobufCBinaryData(len: bytes.count, data: array(bytes))
    }

    /// Runs `cleanup` when the arena goes, for messages that protobuf-c unpacked and must free itself.
    func onDeinit(_ cleanup: @escaping () -> Void) {
        cleanups.append(cleanup)
    }
}
