import ResinIR

/// The fixed parts of a `.resin` file (Docs/FORMAT.md): a 64-byte header, a table of 48-byte section
/// entries, then the sections, each starting on a 64-byte boundary. All integers little-endian.
public enum NativeLayout {
    /// The first eight bytes of every native file.
    public static let magic: [UInt8] = Array("RESIN\u{0}\u{1a}\n".utf8)
    /// The format version this build writes; a reader refuses a newer major version.
    public static let majorVersion: UInt16 = 1
    public static let minorVersion: UInt16 = 0
    public static let headerBytes = 64
    public static let entryBytes = 48
    /// Sections start on this boundary: a cache line, what the kernels' vector loads prefer.
    public static let alignment = 64
    /// Where the structure checksum sits in the header (it is computed with these four bytes zero).
    static let checksumOffset = 40

    /// What a section holds.
    public enum Kind: UInt32, Sendable {
        /// The graph: an ONNX ModelProto whose initializers refer to blob sections.
        case graph = 1
        /// One tensor's elements.
        case blob = 2
    }

    /// How a blob's bytes are stored.
    public struct Encoding: OptionSet, Sendable {
        public let rawValue: UInt32
        public init(rawValue: UInt32) { self.rawValue = rawValue }
        /// float32 elements stored as IEEE half floats, widened once at load.
        public static let float16 = Encoding(rawValue: 1)
        /// Deflated with zlib.
        public static let deflate = Encoding(rawValue: 2)
    }

    /// The external-data location under which graph initializers refer to their blob section.
    public static let blobLocation = "resin:section"

    static func aligned(_ offset: Int) -> Int { (offset + alignment - 1) / alignment * alignment }
}

/// One entry of the section table.
public struct NativeSection: Equatable, Sendable {
    public var kind: NativeLayout.Kind
    public var encoding: NativeLayout.Encoding
    /// Where the stored bytes start, from the start of the file.
    public var offset: Int
    /// Bytes stored in the file.
    public var storedBytes: Int
    /// Bytes after inflating (before widening half floats).
    public var decodedBytes: Int
    /// The element type of the tensor as the graph uses it (0 for the graph section).
    public var dataType: DataType
    /// zlib's CRC-32 of the stored bytes.
    public var checksum: UInt32

    public static func == (lhs: NativeSection, rhs: NativeSection) -> Bool {
        lhs.kind == rhs.kind && lhs.encoding.rawValue == rhs.encoding.rawValue && lhs.offset == rhs.offset
            && lhs.storedBytes == rhs.storedBytes && lhs.decodedBytes == rhs.decodedBytes && lhs.dataType == rhs.dataType
            && lhs.checksum == rhs.checksum
    }
}

/// Little-endian writes into a byte array.
struct ByteWriter {
    var bytes: [UInt8]

    mutating func put<T: FixedWidthInteger>(_ value: T, at offset: Int) {
        withUnsafeBytes(of: value.littleEndian) { source in
            for (index, byte) in source.enumerated() { bytes[offset + index] = byte }
        }
    }
}

extension UnsafeRawBufferPointer {
    /// A little-endian integer at `offset` (the caller has checked the bounds).
    func integer<T: FixedWidthInteger>(at offset: Int, as type: T.Type) -> T {
        T(littleEndian: loadUnaligned(fromByteOffset: offset, as: T.self))
    }
}
