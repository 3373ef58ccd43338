import ResinIR
import ResinONNX

/// Reads and writes NumPy `.npy` files, format versions 1.0, 2.0 and 3.0.
///
/// A file is the magic `\x93NUMPY`, a major and minor version byte, the header length (u16 for 1.0, u32
/// for 2.0 and 3.0, little-endian), a Python dict literal with `descr`, `fortran_order` and `shape`, and the
/// elements. The header is parsed by a small strict parser rather than evaluated. Big-endian files (`>f4`)
/// are converted to little-endian on read; Fortran-order files are transposed to C order on read. Writing
/// produces the bytes `np.save` produces for the same array.
package enum NumpyFormat {
    /// The first six bytes of every `.npy` file.
    package static let magic: [UInt8] = [0x93] + Array("NUMPY".utf8)

    /// The NumPy type string (`<f4`, `|b1`, ...) each supported element type is written with.
    package static func typeDescriptor(for dataType: DataType) -> String? {
        guard let code = elementCodes.first(where: { $0.dataType == dataType })?.code else { return nil }
        return (dataType.bitWidth == 8 ? "|" : "<") + code
    }

    /// Decodes a `.npy` file's bytes; `file` names it in errors. The elements are copied.
    package static func decode(_ bytes: UnsafeRawBufferPointer, file: String) throws(TensorFileError) -> ResinIR.Tensor {
        func fail(_ reason: String) -> TensorFileError { TensorFileError(path: file, reason: reason) }
        guard !bytes.isEmpty else { throw fail("the file is empty; expected a .npy file starting with \\x93NUMPY") }
        let found = Array(bytes.prefix(magic.count))
        guard found == magic else {
            if found.count < magic.count, found == Array(magic.prefix(found.count)) {
                throw fail("truncated .npy file: it has \(bytes.count) bytes, the magic alone needs \(magic.count)")
            }
            throw fail("not a .npy file: expected the magic bytes \\x93NUMPY, found \(describe(found))")
        }
        guard bytes.count >= 8 else {
            throw fail("truncated .npy file: it ends at byte \(bytes.count), before the format version (bytes 6-7)")
        }
        let (major, minor) = (bytes[6], bytes[7])
        guard (1...3).contains(major), minor == 0 else {
            throw fail("byte 6: unsupported .npy format version \(major).\(minor); expected 1.0, 2.0 or 3.0")
        }
        let lengthSize = major == 1 ? 2 : 4
        let headerStart = 8 + lengthSize
        guard bytes.count >= headerStart else {
            throw fail("truncated .npy file: it ends at byte \(bytes.count), inside the \(lengthSize)-byte header length at byte 8")
        }
        let headerLength = (0..<lengthSize).reduce(0) { $0 | Int(bytes[8 + $1]) << (8 * $1) }
        guard headerLength <= bytes.count - headerStart else {
            throw fail("byte 8: the header length says \(headerLength) bytes, but only \(bytes.count - headerStart) "
                + "remain after byte \(headerStart) (truncated file?)")
        }
        let header = UnsafeRawBufferPointer(rebasing: bytes[headerStart..<(headerStart + headerLength)])
        if major == 3, !isValidUTF8(header) {
            throw fail("byte \(headerStart): a version 3.0 header must be UTF-8, but it is not")
        }
        let fields: Header
        do {
            var parser = HeaderParser(bytes: header, fileOffset: headerStart)
            fields = try parser.parse()
        } catch {
            throw fail(error.message)
        }
        let element = try elementType(fields.descr, at: headerStart, fail: fail)

        let dataStart = headerStart + headerLength
        let dataCount = bytes.count - dataStart
        guard let count = elementCount(of: fields.shape),
              case let (byteCount, overflow) = count.multipliedReportingOverflow(by: element.size), !overflow
        else {
            throw fail("byte \(headerStart): the shape \(pythonTuple(fields.shape)) has an element count that overflows")
        }
        guard dataCount == byteCount else {
            let hint = dataCount < byteCount ? " (truncated file?)" : ""
            throw fail("byte \(dataStart): the data has \(dataCount) bytes, but shape \(pythonTuple(fields.shape)) "
                + "of '\(fields.descr)' needs \(byteCount)\(hint)")
        }
        let data = UnsafeRawBufferPointer(rebasing: bytes[dataStart...])
        let storage = TensorStorage(byteCount: byteCount) { out in
            if fields.fortranOrder, fields.shape.count > 1 {
                transposeFortranToC(data, into: out, shape: fields.shape, elementSize: element.size)
            } else if byteCount > 0 {
                out.copyMemory(from: data)
            }
            if element.swapped { swapBytes(out, unit: element.swapUnit) }
        }
        return ResinIR.Tensor(name: nil, dataType: element.dataType, shape: fields.shape, storage: storage)
    }

    /// Encodes a tensor as a version 1.0 `.npy` file (2.0 when the header needs more than 65535 bytes);
    /// `file` names the destination in errors.
    package static func encode(_ tensor: ResinIR.Tensor, file: String) throws(TensorFileError) -> [UInt8] {
        guard let descr = typeDescriptor(for: tensor.dataType) else {
            let supported = elementCodes.map { "\($0.dataType)" }.joined(separator: ", ")
            throw TensorFileError(path: file, reason: "NumPy .npy has no element type for \(tensor.dataType) tensors; "
                + "supported: \(supported) (write a .pb file instead)")
        }
        let byteCount = tensor.dataType.byteCount(elements: tensor.elementCount) ?? 0
        guard tensor.storage.byteCount == byteCount else {
            throw TensorFileError(path: file, reason: "the tensor's storage has \(tensor.storage.byteCount) bytes, but shape "
                + "\(tensor.shape) of \(tensor.dataType) needs \(byteCount)")
        }
        var dict = "{'descr': '\(descr)', 'fortran_order': False, 'shape': \(pythonTuple(tensor.shape)), }"
        // numpy leaves room to rewrite the first dimension in place (its GROWTH_AXIS_MAX_DIGITS of 21).
        if let first = tensor.shape.first { dict += String(repeating: " ", count: max(0, 21 - String(first).count)) }
        let text = Array(dict.utf8)
        // Padded with spaces and a final newline so the data starts at a multiple of 64 bytes.
        func padding(prefix: Int) -> Int { 64 - (prefix + text.count + 1) % 64 }
        var lengthSize = 2
        var headerLength = text.count + padding(prefix: 10) + 1
        if headerLength > Int(UInt16.max) {
            lengthSize = 4
            headerLength = text.count + padding(prefix: 12) + 1
        }
        var bytes = magic + [lengthSize == 2 ? 1 : 2, 0]
        bytes.reserveCapacity(8 + lengthSize + headerLength + byteCount)
        for index in 0..<lengthSize { bytes.append(UInt8(truncatingIfNeeded: headerLength >> (8 * index))) }
        bytes += text
        bytes += [UInt8](repeating: 0x20, count: headerLength - text.count - 1)
        bytes.append(0x0a)
        bytes += tensor.storage.bytes
        return bytes
    }

    // MARK: - Element types

    /// The kind-and-size codes Resin reads and writes, as NumPy spells them after the byte-order mark.
    private static let elementCodes: [(code: String, dataType: DataType)] = [
        ("f4", .float), ("f8", .double), ("f2", .float16),
        ("i8", .int64), ("i4", .int32), ("i2", .int16), ("i1", .int8),
        ("u8", .uint64), ("u4", .uint32), ("u2", .uint16), ("u1", .uint8),
        ("b1", .bool), ("c8", .complex64), ("c16", .complex128),
    ]

    private struct ElementType {
        var dataType: DataType
        var size: Int
        /// Whether the file is big-endian and the bytes must be reversed in units of `swapUnit`.
        var swapped: Bool
        var swapUnit: Int
    }

    private static func elementType(
        _ descr: String, at offset: Int, fail: (String) -> TensorFileError
    ) throws(TensorFileError) -> ElementType {
        var code = Substring(descr)
        let order = code.first.flatMap { "<>|=".contains($0) ? $0 : nil }
        if order != nil { code = code.dropFirst() }
        guard let entry = elementCodes.first(where: { $0.code == code }) else {
            let supported = elementCodes.map { (($0.dataType.bitWidth == 8) ? "|" : "<") + $0.code }.joined(separator: ", ")
            throw fail("byte \(offset): unsupported dtype '\(descr)'; expected one of \(supported) (or big-endian '>')")
        }
        let size = entry.dataType.bitWidth / 8
        if size > 1, order == "|" {
            throw fail("byte \(offset): dtype '\(descr)' has no byte order ('|'), which only one-byte types may omit")
        }
        // Complex numbers are two floats, each swapped on its own.
        let unit = entry.dataType == .complex64 || entry.dataType == .complex128 ? size / 2 : size
        return ElementType(dataType: entry.dataType, size: size, swapped: size > 1 && order == ">", swapUnit: unit)
    }

    /// Reverses the bytes of each `unit`-byte value in place.
    private static func swapBytes(_ buffer: UnsafeMutableRawBufferPointer, unit: Int) {
        guard unit > 1 else { return }
        for start in stride(from: 0, to: buffer.count, by: unit) {
            var low = start
            var high = start + unit - 1
            while low < high {
                buffer.swapAt(low, high)
                low += 1
                high -= 1
            }
        }
    }

    /// Copies column-major (Fortran-order) elements into row-major order.
    private static func transposeFortranToC(
        _ source: UnsafeRawBufferPointer, into destination: UnsafeMutableRawBufferPointer, shape: [Int], elementSize: Int
    ) {
        let count = destination.count / max(elementSize, 1)
        guard count > 0 else { return }
        // In Fortran order the first index varies fastest: its stride is one element.
        var strides = [Int](repeating: elementSize, count: shape.count)
        for axis in 1..<shape.count { strides[axis] = strides[axis - 1] * shape[axis - 1] }
        var index = [Int](repeating: 0, count: shape.count)
        var sourceOffset = 0
        for element in 0..<count {
            destination.baseAddress!.advanced(by: element * elementSize)
                .copyMemory(from: source.baseAddress!.advanced(by: sourceOffset), byteCount: elementSize)
            // Advance the row-major index, last axis fastest, keeping the column-major offset in step.
            var axis = shape.count - 1
            while axis >= 0 {
                index[axis] += 1
                sourceOffset += strides[axis]
                if index[axis] < shape[axis] { break }
                sourceOffset -= strides[axis] * shape[axis]
                index[axis] = 0
                axis -= 1
            }
        }
    }

    // MARK: - Text helpers

    /// A shape as Python prints a tuple: `()`, `(3,)`, `(2, 3)`.
    private static func pythonTuple(_ shape: [Int]) -> String {
        shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
    }

    private static func describe(_ bytes: [UInt8]) -> String {
        bytes.isEmpty ? "an empty file" : bytes.map { byte in
            (0x20..<0x7f).contains(byte) ? String(UnicodeScalar(byte)) : "\\x" + (byte < 16 ? "0" : "") + String(byte, radix: 16)
        }.joined()
    }

    private static func isValidUTF8(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var iterator = bytes.makeIterator()
        var decoder = UTF8()
        while true {
            switch decoder.decode(&iterator) {
            case .scalarValue: continue
            case .emptyInput: return true
            case .error: return false
            }
        }
    }
}

// MARK: - Header parsing

/// The three keys of a `.npy` header.
private struct Header {
    var descr: String
    var fortranOrder: Bool
    var shape: [Int]
}

/// A header problem, already phrased with its byte offset in the file.
private struct HeaderProblem: Error {
    var message: String
}

/// A strict parser of the Python dict literal NumPy writes:
/// `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }`, then spaces and a newline.
/// Only what NumPy can write is accepted: string keys, quoted strings without escapes, `True`/`False`,
/// and tuples of non-negative integers (a trailing `L` from Python 2 writers is allowed).
private struct HeaderParser {
    let bytes: UnsafeRawBufferPointer
    /// Where the header starts in the file, so messages give file offsets.
    let fileOffset: Int
    var position = 0

    init(bytes: UnsafeRawBufferPointer, fileOffset: Int) {
        self.bytes = bytes
        self.fileOffset = fileOffset
    }

    private enum Value {
        case string(String)
        case bool(Bool)
        case tuple([Int])
    }

    mutating func parse() throws(HeaderProblem) -> Header {
        skipSpace()
        try expect("{", what: "the start of the header dict")
        var entries: [String: (value: Value, offset: Int)] = [:]
        skipSpace()
        while peek != UInt8(ascii: "}") {
            let keyOffset = position
            guard case .string(let key) = try value() else {
                throw problem(at: keyOffset, "a dict key must be a quoted string")
            }
            guard entries[key] == nil else { throw problem(at: keyOffset, "the key '\(key)' appears twice") }
            skipSpace()
            try expect(":", what: "':' after the key '\(key)'")
            skipSpace()
            let valueOffset = position
            entries[key] = (try value(), valueOffset)
            skipSpace()
            if peek == UInt8(ascii: ",") {
                position += 1
                skipSpace()
            } else if peek != UInt8(ascii: "}") {
                throw problem(at: position, "expected ',' or '}' after the value of '\(key)', found \(found)")
            }
        }
        position += 1
        skipSpace()
        guard position == bytes.count else {
            throw problem(at: position, "expected only spaces and a newline after the header dict, found \(found)")
        }

        let expected: Set = ["descr", "fortran_order", "shape"]
        guard Set(entries.keys) == expected else {
            let missing = expected.subtracting(entries.keys).sorted()
            let extra = Set(entries.keys).subtracting(expected).sorted()
            var parts: [String] = []
            if !missing.isEmpty { parts.append("lacks " + missing.map { "'\($0)'" }.joined(separator: ", ")) }
            if !extra.isEmpty { parts.append("has the unexpected " + extra.map { "'\($0)'" }.joined(separator: ", ")) }
            throw problem(at: 0, "the header dict must have exactly the keys 'descr', 'fortran_order' and 'shape'; it "
                + parts.joined(separator: " and "))
        }
        guard case .string(let descr) = entries["descr"]!.value else {
            throw problem(at: entries["descr"]!.offset, "'descr' must be a type string such as '<f4' (structured dtypes are not supported)")
        }
        guard case .bool(let fortranOrder) = entries["fortran_order"]!.value else {
            throw problem(at: entries["fortran_order"]!.offset, "'fortran_order' must be True or False")
        }
        guard case .tuple(let shape) = entries["shape"]!.value else {
            throw problem(at: entries["shape"]!.offset, "'shape' must be a tuple of integers such as (2, 3)")
        }
        return Header(descr: descr, fortranOrder: fortranOrder, shape: shape)
    }

    private mutating func value() throws(HeaderProblem) -> Value {
        guard let first = peek else { throw problem(at: position, "expected a value, found the end of the header") }
        switch first {
        case UInt8(ascii: "'"), UInt8(ascii: "\""):
            return .string(try quoted(first))
        case UInt8(ascii: "("):
            return .tuple(try tuple())
        case UInt8(ascii: "T"), UInt8(ascii: "F"):
            if consume("True") { return .bool(true) }
            if consume("False") { return .bool(false) }
        case UInt8(ascii: "["):
            throw problem(at: position, "structured dtypes (a list of fields) are not supported; expected a type string such as '<f4'")
        default:
            break
        }
        throw problem(at: position, "expected a quoted string, True, False or a tuple, found \(found)")
    }

    private mutating func quoted(_ quote: UInt8) throws(HeaderProblem) -> String {
        let start = position
        position += 1
        let contentStart = position
        while let byte = peek, byte != quote {
            guard byte != UInt8(ascii: "\\") else {
                throw problem(at: position, "escape sequences in header strings are not supported")
            }
            guard byte != 0x0a else { throw problem(at: start, "the string starting here is not closed on its line") }
            position += 1
        }
        guard peek == quote else { throw problem(at: start, "the string starting here is not closed") }
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[contentStart..<position]), as: UTF8.self)
        position += 1
        return text
    }

    private mutating func tuple() throws(HeaderProblem) -> [Int] {
        let start = position
        position += 1
        var values: [Int] = []
        var trailingComma = false
        skipSpace()
        while peek != UInt8(ascii: ")") {
            values.append(try integer())
            skipSpace()
            trailingComma = false
            if peek == UInt8(ascii: ",") {
                position += 1
                trailingComma = true
                skipSpace()
            } else if peek != UInt8(ascii: ")") {
                throw problem(at: position, "expected ',' or ')' in the shape tuple, found \(found)")
            }
        }
        position += 1
        // In Python `(3)` is the integer 3, not a tuple: a one-element tuple needs its comma.
        guard values.count != 1 || trailingComma else {
            throw problem(at: start, "'shape' must be a tuple; a one-element tuple is written (\(values[0]),)")
        }
        return values
    }

    private mutating func integer() throws(HeaderProblem) -> Int {
        let start = position
        if peek == UInt8(ascii: "-") { throw problem(at: start, "the shape has a negative dimension") }
        var value = 0
        while let byte = peek, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) {
            let (times, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times.addingReportingOverflow(Int(byte - UInt8(ascii: "0")))
            guard !overflow1, !overflow2, sum <= Dimension.maximum else {
                throw problem(at: start, "a shape dimension is above the supported maximum \(Dimension.maximum)")
            }
            value = sum
            position += 1
        }
        guard position > start else { throw problem(at: start, "expected a non-negative integer dimension, found \(found)") }
        if peek == UInt8(ascii: "L") || peek == UInt8(ascii: "l") { position += 1 }
        return value
    }

    // MARK: Scanning

    private var peek: UInt8? { position < bytes.count ? bytes[position] : nil }

    /// What is at the current position, for messages.
    private var found: String {
        guard let byte = peek else { return "the end of the header" }
        return (0x20..<0x7f).contains(byte) ? "'\(UnicodeScalar(byte))'" : "the byte 0x\(String(byte, radix: 16))"
    }

    private mutating func skipSpace() {
        while let byte = peek, byte == 0x20 || byte == 0x0a || byte == 0x09 || byte == 0x0d { position += 1 }
    }

    private mutating func consume(_ word: String) -> Bool {
        let utf8 = Array(word.utf8)
        guard bytes.count - position >= utf8.count,
              utf8.indices.allSatisfy({ bytes[position + $0] == utf8[$0] }) else { return false }
        position += utf8.count
        return true
    }

    private mutating func expect(_ character: Character, what: String) throws(HeaderProblem) {
        guard let byte = peek, byte == character.asciiValue else {
            throw problem(at: position, "expected \(what), found \(found)")
        }
        position += 1
    }

    private func problem(at offset: Int, _ text: String) -> HeaderProblem {
        HeaderProblem(message: "byte \(fileOffset + offset): bad .npy header: \(text)")
    }
}
