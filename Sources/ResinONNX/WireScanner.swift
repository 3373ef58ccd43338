import CONNXProto
import CProtobufC

/// Walks the protobuf wire format before protobuf-c decodes it, for two reasons: protobuf-c only says
/// "no" when bytes are malformed, and users deserve the byte offset, the field and what was expected versus
/// found; and protobuf-c recurses without a limit, so a file nesting messages a hundred thousand deep would
/// overflow the stack. The scan follows the generated descriptors, so it knows which fields are messages.
enum WireScanner {
    /// The deepest message nesting accepted. Real models nest a few levels per subgraph (a Loop body
    /// inside an If branch is about ten); a hundred leaves room and keeps the decoder's stack small.
    static let maximumDepth = 100

    /// A description of the first wire-format problem in `bytes`, or nil when the framing is sound.
    static func diagnose(_ bytes: UnsafeRawBufferPointer) -> String? {
        if bytes.isEmpty { return "the file is empty" }
        return withUnsafePointer(to: onnx__model_proto__descriptor) { descriptor in
            scan(bytes, range: 0..<bytes.count, descriptor: descriptor, path: "ModelProto", depth: 0)
        }
    }

    static func scan(
        _ bytes: UnsafeRawBufferPointer, range: Range<Int>, descriptor: UnsafePointer<ProtobufCMessageDescriptor>,
        path: String, depth: Int
    ) -> String? {
        guard depth <= maximumDepth else {
            let parts = path.split(separator: ".")
            let shown = parts.count > 8 ? (parts.prefix(4) + ["..."] + parts.suffix(2)).joined(separator: ".") : path
            return "byte \(range.lowerBound): messages nest deeper than \(maximumDepth) levels (at \(shown))"
        }
        var offset = range.lowerBound
        while offset < range.upperBound {
            let fieldStart = offset
            guard let key = varint(bytes, &offset, limit: range.upperBound) else {
                return "byte \(fieldStart): a field key of \(path) runs past the end of its data"
            }
            let number = key >> 3
            let wireType = key & 7
            guard number > 0, number <= UInt64(UInt32.max >> 3) else {
                return "byte \(fieldStart): \(path) has the invalid field number \(number)"
            }
            let field = protobuf_c_message_descriptor_get_field(descriptor, UInt32(number))
            let name = field.flatMap { $0.pointee.name.map { String(cString: $0) } }
            let label = name.map { "\(path).\($0)" } ?? "\(path) field \(number)"
            switch wireType {
            case 0:
                guard varint(bytes, &offset, limit: range.upperBound) != nil else {
                    return "byte \(fieldStart): \(label) has a varint that runs past the end of its data"
                }
            case 1, 5:
                let size = wireType == 1 ? 8 : 4
                guard range.upperBound - offset >= size else {
                    return "byte \(fieldStart): \(label) needs \(size) bytes, only \(range.upperBound - offset) remain (truncated file?)"
                }
                offset += size
            case 2:
                guard let length = varint(bytes, &offset, limit: range.upperBound) else {
                    return "byte \(fieldStart): \(label) has a length that runs past the end of its data"
                }
                let available = range.upperBound - offset
                guard length <= UInt64(available) else {
                    return "byte \(fieldStart): \(label) declares \(length) bytes, only \(available) remain (truncated file?)"
                }
                let body = offset..<(offset + Int(length))
                if let field, field.pointee.type == PROTOBUF_C_TYPE_MESSAGE,
                   let child = field.pointee.descriptor?.assumingMemoryBound(to: ProtobufCMessageDescriptor.self),
                   let problem = scan(bytes, range: body, descriptor: child, path: label, depth: depth + 1) {
                    return problem
                }
                offset = body.upperBound
            default:
                return "byte \(fieldStart): \(label) has the invalid wire type \(wireType)"
            }
        }
        return nil
    }

    private static func varint(_ bytes: UnsafeRawBufferPointer, _ offset: inout Int, limit: Int) -> UInt64? {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while offset < limit, shift < 64 {
            let byte = bytes[offset]
            offset += 1
            value |= UInt64(byte & 0x7f) << shift
            if byte & 0x80 == 0 { return value }
            shift += 7
        }
        return nil
    }
}
