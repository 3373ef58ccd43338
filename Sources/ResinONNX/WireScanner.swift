/// Walks protobuf wire format to explain why bytes failed to decode: the byte offset, the field and what
/// was expected versus found. protobuf-c only says "no"; users deserve to know where.
struct WireScanner {
    /// Field names of the messages the scan descends into, for messages.
    private static let modelFields: [UInt64: String] = [
        1: "ir_version", 2: "producer_name", 3: "producer_version", 4: "domain", 5: "model_version",
        6: "doc_string", 7: "graph", 8: "opset_import", 14: "metadata_props", 20: "training_info",
        25: "functions", 26: "configuration",
    ]
    private static let graphFields: [UInt64: String] = [
        1: "node", 2: "name", 5: "initializer", 10: "doc_string", 11: "input", 12: "output",
        13: "value_info", 14: "quantization_annotation", 15: "sparse_initializer", 16: "metadata_props",
    ]

    /// A description of the first wire-format problem in `bytes`, or nil when the framing is sound.
    static func diagnose(_ bytes: UnsafeRawBufferPointer) -> String? {
        if bytes.isEmpty { return "the file is empty" }
        return scan(bytes, range: 0..<bytes.count, message: "ModelProto", fields: modelFields, depth: 0)
    }

    private static func scan(
        _ bytes: UnsafeRawBufferPointer, range: Range<Int>, message: String, fields: [UInt64: String], depth: Int
    ) -> String? {
        var offset = range.lowerBound
        while offset < range.upperBound {
            let fieldStart = offset
            guard let key = varint(bytes, &offset, limit: range.upperBound) else {
                return "byte \(fieldStart): a field key of \(message) runs past the end of its data"
            }
            let number = key >> 3
            let wireType = key & 7
            let name = fields[number].map { "field \(number) (\($0))" } ?? "field \(number)"
            guard number > 0 else { return "byte \(fieldStart): \(message) has the invalid field number 0" }
            switch wireType {
            case 0:
                guard varint(bytes, &offset, limit: range.upperBound) != nil else {
                    return "byte \(fieldStart): \(message) \(name) has a varint that runs past the end of its data"
                }
            case 1, 5:
                let size = wireType == 1 ? 8 : 4
                guard range.upperBound - offset >= size else {
                    return "byte \(fieldStart): \(message) \(name) needs \(size) bytes, only \(range.upperBound - offset) remain"
                }
                offset += size
            case 2:
                guard let length = varint(bytes, &offset, limit: range.upperBound) else {
                    return "byte \(fieldStart): \(message) \(name) has a length that runs past the end of its data"
                }
                let available = range.upperBound - offset
                guard length <= UInt64(available) else {
                    return "byte \(fieldStart): \(message) \(name) declares \(length) bytes, only \(available) remain (truncated file?)"
                }
                let body = offset..<(offset + Int(length))
                if depth == 0, number == 7,
                   let problem = scan(bytes, range: body, message: "GraphProto", fields: graphFields, depth: 1) {
                    return problem
                }
                offset = body.upperBound
            default:
                return "byte \(fieldStart): \(message) \(name) has the invalid wire type \(wireType)"
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
