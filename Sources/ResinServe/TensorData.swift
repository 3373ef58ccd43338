/// Converting a tensor's JSON `data` (flat or nested, row-major) to little-endian bytes and back.
enum TensorData {
    /// The bytes of `data` as `count` elements of `datatype`, after counting its elements: nothing is allocated
    /// for data whose count does not fit the shape.
    static func bytes(from data: JSONValue, count: Int, datatype: ServedDataType, input: String) throws(ServeError) -> [UInt8] {
        let found = elementCount(of: data)
        guard found == count else {
            throw .badRequest("input '\(input)' has \(found) data elements, its shape holds \(count)")
        }
        var bytes = [UInt8](repeating: 0, count: count * datatype.byteWidth)
        var index = 0
        let outcome = bytes.withUnsafeMutableBytes { buffer in
            Result { () throws(ServeError) in
                try forEachElement(of: data) { element throws(ServeError) in
                    try store(element, at: index, in: buffer, datatype: datatype, input: input)
                    index += 1
                }
            }
        }
        try outcome.get()
        return bytes
    }

    /// How many scalars `data` holds at any depth.
    static func elementCount(of data: JSONValue) -> Int {
        switch data {
        case .numbers(let values): values.count
        case .array(let elements): elements.reduce(0) { $0 + elementCount(of: $1) }
        default: 1
        }
    }

    /// One scalar of the data.
    enum Element {
        case number(Double)
        case integer(Int64)
        case bool(Bool)
        case other(String)
    }

    private static func forEachElement(of data: JSONValue, _ body: (Element) throws(ServeError) -> Void) throws(ServeError) {
        switch data {
        case .numbers(let values): for value in values { try body(.number(value)) }
        case .array(let elements): for element in elements { try forEachElement(of: element, body) }
        case .double(let value): try body(.number(value))
        case .integer(let value): try body(.integer(value))
        case .bool(let value): try body(.bool(value))
        default: try body(.other(data.kind))
        }
    }

    private static func store(_ element: Element, at index: Int, in buffer: UnsafeMutableRawBufferPointer, datatype: ServedDataType, input: String) throws(ServeError) {
        let offset = index * datatype.byteWidth
        func refuse(_ what: String) -> ServeError {
            .badRequest("input '\(input)' element \(index) is \(what), not \(datatype.rawValue)")
        }
        switch (datatype, element) {
        case (.bool, .bool(let value)): buffer[offset] = value ? 1 : 0
        case (.bool, _): throw refuse("not a boolean")
        case (.fp32, .number(let value)): buffer.storeBytes(of: Float(value).bitPattern.littleEndian, toByteOffset: offset, as: UInt32.self)
        case (.fp32, .integer(let value)): buffer.storeBytes(of: Float(value).bitPattern.littleEndian, toByteOffset: offset, as: UInt32.self)
        case (.fp64, .number(let value)): buffer.storeBytes(of: value.bitPattern.littleEndian, toByteOffset: offset, as: UInt64.self)
        case (.fp64, .integer(let value)): buffer.storeBytes(of: Double(value).bitPattern.littleEndian, toByteOffset: offset, as: UInt64.self)
        case (.fp16, .number(let value)): buffer.storeBytes(of: Float16(value).bitPattern.littleEndian, toByteOffset: offset, as: UInt16.self)
        case (.fp16, .integer(let value)): buffer.storeBytes(of: Float16(Float(value)).bitPattern.littleEndian, toByteOffset: offset, as: UInt16.self)
        case (_, .number(let value)):
            // An integer datatype takes a number only when it is a whole number in its range.
            guard value == value.rounded(), abs(value) <= 0x1p63, let integer = Int64(exactly: value) else {
                throw refuse("\(value)")
            }
            try storeInteger(integer, at: offset, in: buffer, datatype: datatype, refuse: refuse)
        case (_, .integer(let value)):
            try storeInteger(value, at: offset, in: buffer, datatype: datatype, refuse: refuse)
        case (_, .bool):
            throw refuse("a boolean")
        case (_, .other(let kind)):
            throw refuse(kind)
        }
    }

    private static func storeInteger(_ value: Int64, at offset: Int, in buffer: UnsafeMutableRawBufferPointer, datatype: ServedDataType, refuse: (String) -> ServeError) throws(ServeError) {
        func put<T: FixedWidthInteger>(_: T.Type) throws(ServeError) {
            guard let narrow = T(exactly: value) else { throw refuse("\(value), out of range") }
            buffer.storeBytes(of: narrow.littleEndian, toByteOffset: offset, as: T.self)
        }
        switch datatype {
        case .uint8: try put(UInt8.self)
        case .uint16: try put(UInt16.self)
        case .uint32: try put(UInt32.self)
        case .uint64: try put(UInt64.self)
        case .int8: try put(Int8.self)
        case .int16: try put(Int16.self)
        case .int32: try put(Int32.self)
        case .int64: try put(Int64.self)
        case .bool, .fp16, .fp32, .fp64: preconditionFailure("floating-point and boolean data are stored by the caller")
        }
    }

    /// Appends the tensor's elements as a flat JSON array; NaN and infinities as Python's json writes them.
    static func appendJSON(of tensor: ServedTensor, to text: inout String) {
        text += "["
        tensor.bytes.withUnsafeBytes { buffer in
            let width = tensor.datatype.byteWidth
            let count = buffer.count / width
            for index in 0..<count {
                if index > 0 { text += "," }
                let offset = index * width
                switch tensor.datatype {
                case .bool: text += buffer[offset] == 0 ? "false" : "true"
                case .uint8: text += String(buffer[offset])
                case .int8: text += String(Int8(bitPattern: buffer[offset]))
                case .uint16: text += String(UInt16(littleEndian: buffer.loadUnaligned(fromByteOffset: offset, as: UInt16.self)))
                case .int16: text += String(Int16(littleEndian: buffer.loadUnaligned(fromByteOffset: offset, as: Int16.self)))
                case .uint32: text += String(UInt32(littleEndian: buffer.loadUnaligned(fromByteOffset: offset, as: UInt32.self)))
                case .int32: text += String(Int32(littleEndian: buffer.loadUnaligned(fromByteOffset: offset, as: Int32.self)))
                case .uint64: text += String(UInt64(littleEndian: buffer.loadUnaligned(fromByteOffset: offset, as: UInt64.self)))
                case .int64: text += String(Int64(littleEndian: buffer.loadUnaligned(fromByteOffset: offset, as: Int64.self)))
                case .fp16:
                    let bits = UInt16(littleEndian: buffer.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
                    appendNumber(Float(Float16(bitPattern: bits)), to: &text)
                case .fp32:
                    let bits = UInt32(littleEndian: buffer.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
                    appendNumber(Float(bitPattern: bits), to: &text)
                case .fp64:
                    let bits = UInt64(littleEndian: buffer.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
                    appendNumber(Double(bitPattern: bits), to: &text)
                }
            }
        }
        text += "]"
    }

    /// The shortest text that reads back as the same value (Swift's description), in JSON's spelling.
    private static func appendNumber<F: BinaryFloatingPoint & CustomStringConvertible>(_ value: F, to text: inout String) {
        if value.isNaN {
            text += "NaN"
        } else if value.isInfinite {
            text += value < 0 ? "-Infinity" : "Infinity"
        } else {
            text += value.description
        }
    }
}
