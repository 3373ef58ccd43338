import CZlib

/// zlib's deflate and inflate for weight blobs (`--compress`).
enum Compression {
    /// The bytes deflated at the default level.
    static func deflate(_ source: UnsafeRawBufferPointer) -> [UInt8] {
        var capacity = compressBound(uLong(source.count))
        var output = [UInt8](repeating: 0, count: Int(capacity))
        let status = output.withUnsafeMutableBufferPointer { out in
            compress2(out.baseAddress, &capacity, source.baseAddress?.assumingMemoryBound(to: Bytef.self) ?? nil,
                      uLong(source.count), Z_DEFAULT_COMPRESSION)
        }
        precondition(status == Z_OK, "deflate into a compressBound buffer cannot fail")
        output.removeLast(output.count - Int(capacity))
        return output
    }

    /// Inflates `source` into exactly `count` bytes, or says why it cannot.
    static func inflate(_ source: UnsafeRawBufferPointer, count: Int, into destination: UnsafeMutableRawBufferPointer) -> String? {
        var length = uLong(count)
        let status = uncompress(destination.baseAddress?.assumingMemoryBound(to: Bytef.self), &length,
                                source.baseAddress?.assumingMemoryBound(to: Bytef.self), uLong(source.count))
        // zlib writes at most `count` bytes: a stream that would go on is cut there and refused.
        if status == Z_BUF_ERROR { return "the deflated stream inflates past its declared \(count) bytes" }
        if status == Z_DATA_ERROR, Int(length) < count {
            return "the deflated stream is damaged or inflates to fewer than its declared \(count) bytes"
        }
        guard status == Z_OK else { return "inflating failed (zlib status \(status))" }
        guard Int(length) == count else { return "the deflated stream inflates to fewer than its declared \(count) bytes (\(length))" }
        return nil
    }
}
