import ResinIR
import ResinONNX

/// Why a native file cannot be loaded: the file, and what was expected where.
public struct NativeFormatError: Error, CustomStringConvertible {
    public var path: String
    public var reason: String
    public init(path: String, reason: String) {
        self.path = path
        self.reason = reason
    }
    public var description: String { "\(path): \(reason)" }
}

/// Where a native file keeps what (for `inspect` and tools that check corruption handling).
public struct NativeFileLayout: Sendable, Equatable {
    public var majorVersion: Int
    public var minorVersion: Int
    public var headerBytes: Int
    public var tableOffset: Int
    public var tableBytes: Int
    public var graph: NativeSection
    public var blobs: [NativeSection]
}

/// Loads `.resin` files by mmap: the header, section table and graph section are checked against their
/// CRC-32 on every load, every offset and size is checked against the file before use, and uncompressed
/// float32 blobs are used in place.
public enum NativeReader {
    /// Reads the model; `verifyWeights` also checks every blob's CRC-32 (about 40 ms per 100 MB).
    public static func read(path: String, verifyWeights: Bool = false) throws -> (Model, NativeFileLayout) {
        // Pages come in as the checks and the first inference touch them; nothing is copied up front.
        let file = try MappedFile(path: path, populate: false)
        func fail(_ reason: String) -> NativeFormatError { NativeFormatError(path: path, reason: reason) }
        let bytes = file.bytes
        let layout = try parseLayout(bytes, fail: fail)
        let expected = bytes.integer(at: NativeLayout.checksumOffset, as: UInt32.self)
        let found = structureChecksum(bytes, graph: layout.graph)
        guard expected == found else {
            throw fail("the header, section table and graph section are corrupt: their CRC-32 is \(hex(found)), the header records \(hex(expected))")
        }
        if verifyWeights {
            for (index, blob) in layout.blobs.enumerated() {
                let sum = crc32(UnsafeRawBufferPointer(rebasing: bytes[blob.offset..<(blob.offset + blob.storedBytes)]))
                guard sum == blob.checksum else {
                    throw fail("weight blob in section \(index + 1) (bytes \(blob.offset)..<\(blob.offset + blob.storedBytes)) is corrupt: its CRC-32 is \(hex(sum)), the section table records \(hex(blob.checksum))")
                }
            }
        }
        let graphBytes = UnsafeRawBufferPointer(rebasing: bytes[layout.graph.offset..<(layout.graph.offset + layout.graph.storedBytes)])
        // Half-float and deflated blobs are decoded into one mapping of huge pages: a fresh 4 KiB page per
        // fault would cost more than the widening itself.
        var decodedTotal = 0
        for blob in layout.blobs where !blob.encoding.isEmpty {
            // Each is at most 2^41 (checked above), but thousands of sections could still overflow the sum.
            let (total, overflow) = decodedTotal.addingReportingOverflow((blob.encoding.contains(.float16) ? blob.decodedBytes * 2 : blob.decodedBytes) + 64)
            guard !overflow, total <= 1 << 46 else {
                throw fail("the decoded weight blobs need more than \(1 << 46) bytes (the section table declares at least \(decodedTotal))")
            }
            decodedTotal = total
        }
        let arena = decodedTotal > 0 ? DecodeArena(expectedBytes: decodedTotal) : nil
        let model: Model
        do {
            model = try ONNXImporter.importModel(bytes: graphBytes, file: path, folder: nil) { tensor, entries, byteCount in
                try blobStorage(file: file, layout: layout, tensor: tensor, entries: entries, byteCount: byteCount, arena: arena,
                                fail: fail)
            }
        } catch {
            let text = error.description
            throw fail("graph section: " + (text.hasPrefix(path + ": ") ? String(text.dropFirst(path.count + 2)) : text))
        }
        return (model, layout)
    }

    /// Checks the header and section table, returning the layout.
    static func parseLayout(_ bytes: UnsafeRawBufferPointer, fail: (String) -> NativeFormatError) throws -> NativeFileLayout {
        let size = bytes.count
        guard size >= NativeLayout.headerBytes else {
            throw fail("the file has \(size) bytes, fewer than the \(NativeLayout.headerBytes)-byte header (truncated?)")
        }
        guard Array(bytes[0..<8]) == NativeLayout.magic else { throw fail("bytes 0..<8 are not the magic number of a .resin file") }
        let major = Int(bytes.integer(at: 8, as: UInt16.self)), minor = Int(bytes.integer(at: 10, as: UInt16.self))
        guard major <= Int(NativeLayout.majorVersion) else {
            throw fail("format version \(major).\(minor) is newer than this build reads (\(NativeLayout.majorVersion).\(NativeLayout.minorVersion)); convert the model again or update Resin")
        }
        let headerBytes = Int(bytes.integer(at: 12, as: UInt32.self))
        guard headerBytes == NativeLayout.headerBytes else { throw fail("byte 12: header size \(headerBytes), expected \(NativeLayout.headerBytes)") }
        let fileBytes = bytes.integer(at: 16, as: UInt64.self)
        guard fileBytes == UInt64(size) else {
            throw fail("byte 16: the header records \(fileBytes) bytes, the file has \(size) (truncated or extended?)")
        }
        let tableOffset = bytes.integer(at: 24, as: UInt64.self)
        guard tableOffset == UInt64(NativeLayout.headerBytes) else { throw fail("byte 24: section table at \(tableOffset), expected \(NativeLayout.headerBytes)") }
        let count = Int(bytes.integer(at: 32, as: UInt32.self))
        guard count >= 1, count <= (size - NativeLayout.headerBytes) / NativeLayout.entryBytes else {
            throw fail("byte 32: \(count) sections do not fit a file of \(size) bytes")
        }
        guard bytes.integer(at: 36, as: UInt32.self) & ~UInt32(3) == 0 else { throw fail("byte 36: unknown flags") }
        let tableEnd = NativeLayout.headerBytes + count * NativeLayout.entryBytes
        var sections: [NativeSection] = []
        var previousEnd = tableEnd
        for index in 0..<count {
            let entry = NativeLayout.headerBytes + index * NativeLayout.entryBytes
            let at = "section table entry \(index) (byte \(entry))"
            guard let kind = NativeLayout.Kind(rawValue: bytes.integer(at: entry, as: UInt32.self)) else { throw fail("\(at): unknown section kind") }
            guard kind == (index == 0 ? .graph : .blob) else { throw fail("\(at): expected a \(index == 0 ? "graph" : "blob") section") }
            let encodingBits = bytes.integer(at: entry + 4, as: UInt32.self)
            guard encodingBits & ~UInt32(3) == 0, kind == .blob || encodingBits == 0 else { throw fail("\(at): unknown encoding \(encodingBits)") }
            let offset = bytes.integer(at: entry + 8, as: UInt64.self)
            let stored = bytes.integer(at: entry + 16, as: UInt64.self)
            let decoded = bytes.integer(at: entry + 24, as: UInt64.self)
            guard offset >= UInt64(previousEnd), offset % UInt64(NativeLayout.alignment) == 0, stored <= UInt64(size),
                  offset <= UInt64(size) - stored else {
                throw fail("\(at): bytes \(offset)..<\(offset &+ stored) are not an aligned range after the previous section and inside the file (\(size) bytes)")
            }
            guard let dataType = DataType(rawValue: Int32(bitPattern: bytes.integer(at: entry + 32, as: UInt32.self))),
                  kind == .graph ? dataType == .undefined : dataType != .undefined else { throw fail("\(at): invalid data type") }
            let encoding = NativeLayout.Encoding(rawValue: encodingBits)
            if !encoding.contains(.deflate), decoded != stored { throw fail("\(at): \(stored) bytes stored but \(decoded) decoded without compression") }
            guard decoded <= 1 << 40 else { throw fail("\(at): decoded size \(decoded) is implausible") }
            // Deflate cannot expand data more than about 1032 to 1: a larger claim is a lie about the size,
            // refused before any memory is set aside for it.
            if encoding.contains(.deflate), decoded / Self.maximumInflation > stored {
                throw fail("\(at): \(stored) deflated bytes cannot inflate to the declared \(decoded) bytes")
            }
            sections.append(NativeSection(kind: kind, encoding: encoding, offset: Int(offset), storedBytes: Int(stored),
                                          decodedBytes: Int(decoded), dataType: dataType, checksum: bytes.integer(at: entry + 36, as: UInt32.self)))
            previousEnd = Int(offset + stored)
        }
        return NativeFileLayout(majorVersion: major, minorVersion: minor, headerBytes: NativeLayout.headerBytes, tableOffset: NativeLayout.headerBytes,
                                tableBytes: count * NativeLayout.entryBytes, graph: sections[0], blobs: Array(sections.dropFirst()))
    }

    /// CRC-32 over the header (with its checksum field read as zero), the section table and the graph section.
    static func structureChecksum(_ bytes: UnsafeRawBufferPointer, graph: NativeSection) -> UInt32 {
        let count = bytes.count >= NativeLayout.headerBytes + 8 ? Int(bytes.integer(at: 32, as: UInt32.self)) : 0
        let tableEnd = min(bytes.count, NativeLayout.headerBytes + count * NativeLayout.entryBytes)
        var sum = crc32(UnsafeRawBufferPointer(rebasing: bytes[0..<NativeLayout.checksumOffset]))
        sum = withUnsafeBytes(of: UInt32(0)) { crc32($0, continuing: sum) }
        sum = crc32(UnsafeRawBufferPointer(rebasing: bytes[(NativeLayout.checksumOffset + 4)..<tableEnd]), continuing: sum)
        let graphEnd = min(bytes.count, graph.offset + graph.storedBytes)
        if graph.offset < graphEnd { sum = crc32(UnsafeRawBufferPointer(rebasing: bytes[graph.offset..<graphEnd]), continuing: sum) }
        return sum
    }

    /// The storage of the tensor an initializer refers to: the mapped bytes themselves for plain float32
    /// blobs, else widened or inflated once into `arena`.
    static func blobStorage(
        file: MappedFile, layout: NativeFileLayout, tensor: String, entries: [StringPair], byteCount: Int, arena: DecodeArena?,
        fail: (String) -> NativeFormatError
    ) throws -> TensorStorage {
        guard entries.first(where: { $0.key == "location" })?.value == NativeLayout.blobLocation,
              let index = entries.first(where: { $0.key == "section" }).flatMap({ Int($0.value) }),
              index >= 1, index <= layout.blobs.count else {
            throw fail("tensor '\(tensor)' does not refer to a blob section of this file")
        }
        let blob = layout.blobs[index - 1]
        let stored = UnsafeRawBufferPointer(rebasing: file.bytes[blob.offset..<(blob.offset + blob.storedBytes)])
        let wideBytes = blob.encoding.contains(.float16) ? blob.decodedBytes * 2 : blob.decodedBytes
        guard wideBytes == byteCount, !blob.encoding.contains(.float16) || blob.dataType == .float else {
            throw fail("tensor '\(tensor)' needs \(byteCount) bytes but section \(index) holds \(wideBytes)")
        }
        if blob.encoding.isEmpty { return TensorStorage(borrowing: stored, owner: file) }
        guard let arena, let start = arena.allocate(byteCount) else {
            throw fail("cannot allocate \(byteCount) bytes to decode section \(index) (tensor '\(tensor)')")
        }
        let out = UnsafeMutableRawBufferPointer(start: start, count: byteCount)
        func inflate(into destination: UnsafeMutableRawBufferPointer) throws {
            if let problem = Compression.inflate(stored, count: blob.decodedBytes, into: destination) {
                throw fail("section \(index) (tensor '\(tensor)'): \(problem)")
            }
        }
        switch (blob.encoding.contains(.deflate), blob.encoding.contains(.float16)) {
        case (true, true):
            let halves = try TensorStorage(byteCount: blob.decodedBytes) { try inflate(into: $0) }
            withExtendedLifetime(halves) { HalfFloat.widen(halves.bytes, into: out) }
        case (true, false):
            try inflate(into: out)
        default:
            HalfFloat.widen(stored, into: out)
        }
        // The encoded bytes are not read again: keeping their pages would count them twice in memory.
        file.releasePages(blob.offset..<(blob.offset + blob.storedBytes))
        return TensorStorage(borrowing: UnsafeRawBufferPointer(out), owner: arena)
    }

    /// The most bytes zlib's deflate can turn one stored byte into (its maximum compression ratio).
    static let maximumInflation: UInt64 = 1032

    static func hex(_ value: UInt32) -> String {
        let digits = String(value, radix: 16)
        return "0x" + String(repeating: "0", count: 8 - digits.count) + digits
    }
}
