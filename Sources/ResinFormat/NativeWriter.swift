import ResinIR
import ResinONNX

/// How `convert` stores weights in a native file.
public struct NativeWriteOptions: Sendable, Equatable {
    /// float32 weights as IEEE half floats (about half the file; widened once at load).
    public var halfPrecision = false
    /// Weight blobs deflated with zlib.
    public var compress = false
    public init(halfPrecision: Bool = false, compress: Bool = false) {
        self.halfPrecision = halfPrecision
        self.compress = compress
    }
}

/// Writes `.resin` files: the graph as an ONNX ModelProto whose initializers point at blob sections,
/// and each initializer's elements in a blob of its own, 64-byte aligned, checksummed.
public enum NativeWriter {
    /// The encoded file, in memory.
    public static func encode(_ model: Model, options: NativeWriteOptions = NativeWriteOptions()) -> [UInt8] {
        var bytes: [UInt8] = []
        emit(model, options: options) { part in bytes.append(contentsOf: part) }
        return bytes
    }

    /// Writes a native file atomically, streaming the weights straight from their storage.
    public static func write(_ model: Model, toPath path: String, options: NativeWriteOptions = NativeWriteOptions()) throws {
        try writeFileAtomically(atPath: path) { append in
            var failure: Error?
            emit(model, options: options) { part in
                guard failure == nil else { return }
                do { try append(part) } catch { failure = error }
            }
            if let failure { throw failure }
        }
    }

    /// A blob ready to go: where its bytes come from, and its table entry.
    private struct Blob {
        var section: NativeSection
        /// Bytes made for the file (half floats, deflated); nil when the tensor's own storage is written.
        var made: [UInt8]?
        var storage: TensorStorage
    }

    /// Produces the file's bytes in order: header, section table, graph, blobs, with zero padding between.
    private static func emit(_ model: Model, options: NativeWriteOptions, _ output: (UnsafeRawBufferPointer) -> Void) {
        var model = model
        // Resin's own operators carry their activation as attributes; the domain is imported so they parse back.
        for index in model.graph.nodes.indices {
            var node = model.graph.nodes[index]
            switch node.op {
            case .fusedConv(let fused):
                node.attributes = node.attributes.filter { !$0.name.hasPrefix("activation") && !FusedConvAttributes.preparedAttributeNames.contains($0.name) }
                    + fused.activation.attributes + fused.preparedAttributes
            case .fusedGemm(let fused): node.attributes = node.attributes.filter { !$0.name.hasPrefix("activation") } + fused.activation.attributes
            case .channelAffine(let activation):
                // Without an activation the node stays as it was written before it could have one.
                node.attributes = node.attributes.filter { !$0.name.hasPrefix("activation") } + (activation == .none ? [] : activation.attributes)
            default: break
            }
            model.graph.nodes[index] = node
        }
        if !model.opsetImports.contains(where: { $0.domain == resinDomain }) {
            model.opsetImports.append(OpsetImport(domain: resinDomain, version: 1))
        }

        // Blobs: one per initializer with numeric elements (section index = position + 1, after the graph).
        var blobs: [Blob] = []
        for index in model.graph.initializers.indices {
            let tensor = model.graph.initializers[index]
            guard tensor.dataType != .string, tensor.dataType.bitWidth >= 8 else { continue }
            var encoding = NativeLayout.Encoding()
            var made: [UInt8]?
            if options.halfPrecision, tensor.dataType == .float {
                encoding.insert(.float16)
                made = halfPrecisionBytes(tensor.storage.bytes)
            }
            let decodedBytes = made?.count ?? tensor.storage.byteCount
            if options.compress, decodedBytes > 0 {
                encoding.insert(.deflate)
                made = made.map { bytes in bytes.withUnsafeBytes { Compression.deflate($0) } } ?? Compression.deflate(tensor.storage.bytes)
            }
            let checksum = made.map { bytes in bytes.withUnsafeBytes { crc32($0) } } ?? crc32(tensor.storage.bytes)
            let section = NativeSection(kind: .blob, encoding: encoding, offset: 0, storedBytes: made?.count ?? decodedBytes,
                                        decodedBytes: decodedBytes, dataType: tensor.dataType, checksum: checksum)
            blobs.append(Blob(section: section, made: made, storage: tensor.storage))
            var reference = tensor
            reference.encoding = .external([StringPair(key: "location", value: NativeLayout.blobLocation),
                                            StringPair(key: "section", value: String(blobs.count))])
            reference.statesDefaultLocation = false
            model.graph.initializers[index] = reference
        }
        let graph = ONNXExporter.encode(model, keepingExternalReferences: true)

        // Layout: header, table, graph, blobs, each section on a 64-byte boundary.
        let sectionCount = 1 + blobs.count
        var offset = NativeLayout.aligned(NativeLayout.headerBytes + sectionCount * NativeLayout.entryBytes)
        var sections = [NativeSection(kind: .graph, encoding: [], offset: offset, storedBytes: graph.count,
                                      decodedBytes: graph.count, dataType: .undefined, checksum: graph.withUnsafeBytes { crc32($0) })]
        offset = NativeLayout.aligned(offset + graph.count)
        for index in blobs.indices {
            blobs[index].section.offset = offset
            sections.append(blobs[index].section)
            offset = NativeLayout.aligned(offset + blobs[index].section.storedBytes)
        }
        let fileBytes = sections.last.map { $0.offset + $0.storedBytes } ?? offset

        // Header and table, then the graph: the part the structure checksum covers, built in memory.
        var writer = ByteWriter(bytes: [UInt8](repeating: 0, count: sections[0].offset + graph.count))
        for (index, byte) in NativeLayout.magic.enumerated() { writer.bytes[index] = byte }
        writer.put(NativeLayout.majorVersion, at: 8)
        writer.put(NativeLayout.minorVersion, at: 10)
        writer.put(UInt32(NativeLayout.headerBytes), at: 12)
        writer.put(UInt64(fileBytes), at: 16)
        writer.put(UInt64(NativeLayout.headerBytes), at: 24)
        writer.put(UInt32(sectionCount), at: 32)
        var flags: UInt32 = 0
        if options.halfPrecision { flags |= NativeLayout.Encoding.float16.rawValue }
        if options.compress { flags |= NativeLayout.Encoding.deflate.rawValue }
        writer.put(flags, at: 36)
        for (index, section) in sections.enumerated() {
            let entry = NativeLayout.headerBytes + index * NativeLayout.entryBytes
            writer.put(section.kind.rawValue, at: entry)
            writer.put(section.encoding.rawValue, at: entry + 4)
            writer.put(UInt64(section.offset), at: entry + 8)
            writer.put(UInt64(section.storedBytes), at: entry + 16)
            writer.put(UInt64(section.decodedBytes), at: entry + 24)
            writer.put(UInt32(bitPattern: section.dataType.rawValue), at: entry + 32)
            writer.put(section.checksum, at: entry + 36)
        }
        writer.bytes.replaceSubrange(sections[0].offset..<(sections[0].offset + graph.count), with: graph)
        let structure = writer.bytes.withUnsafeBytes { NativeReader.structureChecksum($0, graph: sections[0]) }
        writer.put(structure, at: NativeLayout.checksumOffset)
        writer.bytes.withUnsafeBytes(output)

        // The blobs, each after the zero padding that aligns it.
        let zeros = [UInt8](repeating: 0, count: NativeLayout.alignment)
        var written = writer.bytes.count
        for blob in blobs {
            let padding = blob.section.offset - written
            if padding > 0 { zeros.withUnsafeBytes { output(UnsafeRawBufferPointer(rebasing: $0[0..<padding])) } }
            if let made = blob.made {
                made.withUnsafeBytes(output)
            } else {
                withExtendedLifetime(blob.storage) { output(blob.storage.bytes) }
            }
            written = blob.section.offset + blob.section.storedBytes
        }
    }

    /// float32 elements rounded to IEEE half floats (round to nearest even, as Float16's initializer does).
    static func halfPrecisionBytes(_ source: UnsafeRawBufferPointer) -> [UInt8] {
        let count = source.count / 4
        var output = [UInt8](repeating: 0, count: count * 2)
        output.withUnsafeMutableBytes { out in
            for index in 0..<count {
                let value = source.loadUnaligned(fromByteOffset: index * 4, as: Float.self)
                out.storeBytes(of: Float16(value).bitPattern.littleEndian, toByteOffset: index * 2, as: UInt16.self)
            }
        }
        return output
    }
}
