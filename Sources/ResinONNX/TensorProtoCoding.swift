import CONNXProto
import CProtobufC
import ResinIR

/// Why a tensor file (`.pb` or `.npy`) could not be read or written: the file and what was expected versus found.
public struct TensorFileError: Error, Equatable, CustomStringConvertible {
    /// The file that failed.
    public var path: String
    /// What is wrong, starting with the byte offset when one applies.
    public var reason: String

    public init(path: String, reason: String) {
        self.path = path
        self.reason = reason
    }

    public var description: String { "\(path): \(reason)" }
}

/// Encodes and decodes one ONNX `TensorProto` message, the `.pb` files of the ONNX test-case layout
/// (`test_data_set_*/input_*.pb`) that `onnx.save_tensor` writes.
///
/// Decoding takes the model importer's path: the same descriptor-driven wire scan before protobuf-c sees the
/// bytes, and the same checks of type, dims and data length that initializers get.
public enum TensorProtoCoding {
    /// Decodes a serialized `TensorProto`; `file` names it in errors.
    public static func decode(_ bytes: UnsafeRawBufferPointer, file: String) throws(TensorFileError) -> Tensor {
        func fail(_ reason: String) -> TensorFileError { TensorFileError(path: file, reason: reason) }
        // An empty message would decode (every field absent), but an empty file is never a tensor.
        guard let base = bytes.baseAddress, !bytes.isEmpty else {
            throw fail("the file is empty; expected a serialized ONNX TensorProto")
        }
        let problem = withUnsafePointer(to: onnx__tensor_proto__descriptor) { descriptor in
            WireScanner.scan(bytes, range: 0..<bytes.count, descriptor: descriptor, path: "TensorProto", depth: 0)
        }
        if let problem { throw fail("not a valid ONNX TensorProto: \(problem)") }

        let arena = DecodeArena(expectedBytes: bytes.count)
        var allocator = arena.allocator
        // The arena owns every decoded block; raw_data is borrowed from it by the tensor's storage.
        guard let proto = onnx__tensor_proto__unpack(&allocator, bytes.count, base.assumingMemoryBound(to: UInt8.self)) else {
            if arena.exhausted { throw fail("not a valid ONNX TensorProto: out of memory while decoding") }
            throw fail("not a valid ONNX TensorProto: protobuf decoding failed (a field has the wrong wire type "
                + "or a malformed value; is this a model or another message rather than a tensor?)")
        }
        let message = proto.pointee
        if message.has_data_location != 0, message.data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL {
            // A lone tensor file has no model folder to anchor the path to, and reading arbitrary files
            // named by input data is not something a run should do.
            let name = string(message.name) ?? "<unnamed>"
            let location = pairs(message.external_data, message.n_external_data).first { $0.key == "location" }?.value
            throw fail("tensor '\(name)' stores its data in an external file"
                + (location.map { " ('\($0)')" } ?? "")
                + "; a standalone .pb tensor file must hold its data inline (raw_data or a typed field)")
        }
        let converter = ProtoConverter(file: file, folder: nil, arena: arena)
        do {
            return try converter.tensor(proto)
        } catch {
            // GraphError.invalidTensor: "tensor 'x': raw_data has 20 bytes, but dims [2, 3] of float32 need 24".
            throw fail("\(error)")
        }
    }

    /// Encodes a tensor as a `TensorProto`: name, dims, data_type and the elements little-endian in
    /// `raw_data` (strings in `string_data`), whatever encoding the tensor had when it was read.
    public static func encode(_ tensor: Tensor) -> [UInt8] {
        var inline = tensor
        if inline.dataType != .string { inline.encoding = .raw }
        let arena = CArena()
        return withExtendedLifetime(inline) {
            // raw_data points straight into the tensor's storage, which must outlive the pack.
            guard let proto = ProtoBuilder(arena: arena).tensor(inline) else { return [] }
            var bytes = [UInt8](repeating: 0, count: onnx__tensor_proto__get_packed_size(proto))
            bytes.withUnsafeMutableBufferPointer { buffer in
                if let base = buffer.baseAddress { _ = onnx__tensor_proto__pack(proto, base) }
            }
            return bytes
        }
    }
}
