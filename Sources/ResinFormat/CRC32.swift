import CZlib

/// zlib's CRC-32 (the polynomial of gzip and PNG), which the native format uses for its checksums.
public func crc32(_ bytes: UnsafeRawBufferPointer, continuing initial: UInt32 = 0) -> UInt32 {
    guard let base = bytes.baseAddress, bytes.count > 0 else { return initial }
    var checksum = UInt(initial)
    var offset = 0
    // zlib takes a 32-bit length; feed larger buffers in pieces.
    while offset < bytes.count {
        let length = min(bytes.count - offset, Int(UInt32.max >> 1))
        checksum = CZlib.crc32(checksum, base.advanced(by: offset).assumingMemoryBound(to: Bytef.self), uInt(length))
        offset += length
    }
    return UInt32(truncatingIfNeeded: checksum)
}
