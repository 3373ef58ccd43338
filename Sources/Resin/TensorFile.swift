import ResinIR
import ResinONNX

/// Reads and writes single tensors as NumPy `.npy` or ONNX `TensorProto` `.pb` files, chosen by extension.
package enum TensorFile {
    /// The formats a tensor file can have.
    package enum Format: String, Sendable, CaseIterable {
        /// NumPy `.npy` (versions 1.0, 2.0 and 3.0).
        case numpy = "npy"
        /// One serialized ONNX `TensorProto`, as in the ONNX test-case layout.
        case tensorProto = "pb"
    }

    /// The format a path's extension names, case-insensitively.
    package static func format(forPath path: String) throws(TensorFileError) -> Format {
        let name = path.split(separator: "/", omittingEmptySubsequences: false).last.map(String.init) ?? path
        let dot = name.lastIndex(of: ".").map { name.index(after: $0) }
        let found = dot.map { "." + name[$0...] } ?? ""
        guard let format = Format(rawValue: found.dropFirst().lowercased()) else {
            throw TensorFileError(path: path, reason: "unknown tensor file type "
                + (found.isEmpty ? "(no extension)" : "'\(found)'")
                + "; expected .npy (NumPy) or .pb (ONNX TensorProto)")
        }
        return format
    }

    /// Reads the tensor in the file at `path`. A `.npy` tensor has no name; a `.pb` one has the name it was saved with.
    package static func read(path: String) throws -> ResinIR.Tensor {
        let format = try format(forPath: path)
        let file = try MappedFile(path: path)
        // Both decoders copy the elements out, so the mapping may go when they return.
        return try withExtendedLifetime(file) { () throws -> ResinIR.Tensor in
            switch format {
            case .numpy: try NumpyFormat.decode(file.bytes, file: path)
            case .tensorProto: try TensorProtoCoding.decode(file.bytes, file: path)
            }
        }
    }

    /// Writes `tensor` to `path` in the format its extension names, atomically: on failure nothing is
    /// left behind and an existing file is untouched.
    package static func write(_ tensor: ResinIR.Tensor, to path: String) throws {
        let bytes: [UInt8] = switch try format(forPath: path) {
        case .numpy: try NumpyFormat.encode(tensor, file: path)
        case .tensorProto: TensorProtoCoding.encode(tensor)
        }
        try writeFileAtomically(atPath: path) { append in
            try bytes.withUnsafeBytes { try append($0) }
        }
    }
}
