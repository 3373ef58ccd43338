import CProtobufC
import ResinIR

#if canImport(Glibc)
import Glibc
#endif

/// The memory protobuf-c decodes a model into (and the native reader widens or inflates weights into): a
/// bump allocator over large anonymous mappings.
///
/// Decoding copies every `raw_data` field, so a 100 MB model means 100 MB of fresh memory. Taken page by
/// page from malloc that costs a fault and a zeroing per 4 KiB page; from a mapping advised to use huge
/// pages it costs about a third. Tensor storage then borrows the decoded bytes in place and keeps the
/// arena alive, so weights are copied exactly once, from the file. Large blocks are 64-byte aligned for
/// the kernels. Nothing is freed piecemeal: the whole arena goes when its last tensor does.
package final class DecodeArena: @unchecked Sendable {
    private struct Chunk {
        var base: UnsafeMutableRawPointer
        var size: Int
    }

    private var chunks: [Chunk] = []
    private var cursor: UnsafeMutableRawPointer?
    private var remaining = 0
    private let chunkSize: Int
    /// Set when a mapping failed; protobuf-c then sees a failed allocation and reports a decode failure.
    private(set) var exhausted = false

    /// An arena sized for decoding `expectedBytes` of input.
    package init(expectedBytes: Int) {
        chunkSize = max(expectedBytes + expectedBytes / 8 + (1 << 20), 1 << 20)
    }

    deinit {
        for chunk in chunks { munmap(chunk.base, chunk.size) }
    }

    /// `size` bytes, 16-byte aligned, or 64-byte aligned for blocks of a page or more.
    package func allocate(_ size: Int) -> UnsafeMutableRawPointer? {
        let alignment = size >= 4096 ? 64 : 16
        if let cursor {
            let padding = (alignment - Int(bitPattern: cursor) % alignment) % alignment
            if padding + size <= remaining {
                let block = cursor + padding
                self.cursor = block + size
                remaining -= padding + size
                return block
            }
        }
        let size = max(size, 1)
        let mappingSize = max(chunkSize, size + 4096)
        let address = mmap(nil, mappingSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        guard let address, address != MAP_FAILED else {
            exhausted = true
            return nil
        }
        madvise(address, mappingSize, MADV_HUGEPAGE)
        chunks.append(Chunk(base: address, size: mappingSize))
        cursor = address + size
        remaining = mappingSize - size
        return address
    }

    /// A protobuf-c allocator that draws from this arena; its `free` does nothing.
    var allocator: ProtobufCAllocator {
        ProtobufCAllocator(
            alloc: { data, size in
                Unmanaged<DecodeArena>.fromOpaque(data!).takeUnretainedValue().allocate(size)
            },
            free: { _, _ in },
            allocator_data: Unmanaged.passUnretained(self).toOpaque())
    }
}

extension ONNXImporter {
    /// The model with every initializer that still borrows the memory its file was decoded into copied
    /// out, so that memory is returned once the imported model is dropped. Worth it after optimizing:
    /// folding BatchNormalization gives almost every weight new storage, and the few tensors left (the
    /// classifier's) would otherwise keep the whole decoded file resident, 98 MiB for ResNet-50.
    public static func detachingDecodedStorage(_ model: Model) -> Model {
        var model = model
        for index in model.graph.initializers.indices where model.graph.initializers[index].storage.borrowedFrom is DecodeArena {
            model.graph.initializers[index].storage = TensorStorage(copying: model.graph.initializers[index].storage.bytes)
        }
        return model
    }
}
