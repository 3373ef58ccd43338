import ResinIR
import Testing
import TestSupport
@testable import ResinONNX

/// `.pb` tensor files: Resin's own round trip for every type, files that the `onnx` package wrote
/// (tools/make_tensor_file_fixtures.py) checked against values spelled out here, and malformed input.
@Suite struct TensorProtoCodingTests {
    static let folder = TestPaths.fixtures + "/tensor-files"

    func decode(_ bytes: [UInt8], file: String = "tensor.pb") throws -> Tensor {
        try bytes.withUnsafeBytes { buffer in
            try TensorProtoCoding.decode(buffer, file: file)
        }
    }

    func fixture(_ name: String) throws -> [UInt8] { try readFile(atPath: "\(Self.folder)/\(name).pb") }

    func values<T>(_ tensor: Tensor, as type: T.Type) -> [T] {
        let bytes = tensor.storage.bytes
        return (0..<(bytes.count / MemoryLayout<T>.size)).map {
            bytes.loadUnaligned(fromByteOffset: $0 * MemoryLayout<T>.size, as: T.self)
        }
    }

    // MARK: - Round trips

    static let dataTypes = DataType.allCases.filter { $0 != .undefined }
    static let shapes: [[Int]] = [[], [0], [3], [2, 3], [1, 3, 2, 2], [2, 0, 4]]

    /// A tensor of `dataType` and `shape` whose bytes follow a fixed pattern.
    static func sample(_ dataType: DataType, shape: [Int], name: String? = "t") -> Tensor {
        let count = elementCount(of: shape)!
        if dataType == .string {
            let strings = (0..<count).map { Array("s\($0)-\(String(repeating: "x", count: $0 % 3))".utf8) }
            return Tensor(name: name, dataType: .string, shape: shape, storage: .empty, strings: strings, encoding: .typed)
        }
        let byteCount = dataType.byteCount(elements: count)!
        let storage = TensorStorage(byteCount: byteCount) { out in
            for index in 0..<byteCount { out[index] = UInt8(truncatingIfNeeded: index &* 37 &+ 11) }
        }
        return Tensor(name: name, dataType: dataType, shape: shape, storage: storage)
    }

    @Test(arguments: dataTypes, shapes)
    func roundTrip(_ dataType: DataType, shape: [Int]) throws {
        let tensor = Self.sample(dataType, shape: shape)
        let decoded = try decode(TensorProtoCoding.encode(tensor))
        #expect(decoded.name == "t")
        #expect(decoded.dataType == dataType)
        #expect(decoded.shape == shape)
        #expect(decoded.storage.hasSameBytes(as: tensor.storage))
        #expect(decoded.strings == tensor.strings)
    }

    @Test func unnamedTensorStaysUnnamed() throws {
        let decoded = try decode(TensorProtoCoding.encode(Self.sample(.float, shape: [2], name: nil)))
        #expect(decoded.name == nil)
    }

    @Test func typedTensorsAreWrittenAsRawData() throws {
        // A tensor read from float_data is written back with raw_data, as numpy_helper.from_array does.
        let typed = try decode(fixture("float_data_2x3"))
        #expect(typed.encoding == .typed)
        let rewritten = try decode(TensorProtoCoding.encode(typed))
        #expect(rewritten.encoding == .raw)
        #expect(rewritten.storage.hasSameBytes(as: typed.storage))
    }

    @Test func encodingMatchesTheOnnxPackage() throws {
        // numpy_helper.from_array writes dims, data_type, name, raw_data: the same fields in the same order.
        let original = try fixture("raw_float32_2x3")
        #expect(TensorProtoCoding.encode(try decode(original)) == original)
    }

    // MARK: - Files written by the onnx package

    @Test func floatData() throws {
        let tensor = try decode(fixture("float_data_2x3"))
        #expect(tensor.name == "x")
        #expect(tensor.dataType == .float)
        #expect(tensor.shape == [2, 3])
        #expect(tensor.floatValues == [0.5, -1.25, 2.0, 3.75, -0.0, 1024.0])
        #expect(tensor.floatValues?[4].sign == .minus, "negative zero survives")
    }

    @Test func rawData() throws {
        let tensor = try decode(fixture("raw_float32_2x3"))
        #expect(tensor.name == "input_0")
        #expect(tensor.shape == [2, 3])
        #expect(tensor.floatValues == [0.5, -1.25, 2.0, 3.75, -0.0, 1024.0])
        let image = try decode(fixture("raw_uint8_1x3x2x2"))
        #expect(image.dataType == .uint8)
        #expect(image.shape == [1, 3, 2, 2])
        #expect(values(image, as: UInt8.self) == Array(0..<12))
    }

    @Test func int64Scalar() throws {
        let tensor = try decode(fixture("int64_data_scalar"))
        #expect(tensor.dataType == .int64)
        #expect(tensor.shape == [])
        #expect(tensor.integerValues == [-1_234_567_890_123])
    }

    @Test func boolAndNarrowTypesFromInt32Data() throws {
        let flags = try decode(fixture("bool_int32_data_4"))
        #expect(flags.dataType == .bool)
        #expect(values(flags, as: UInt8.self) == [1, 0, 0, 1])
        let half = try decode(fixture("float16_int32_data_3"))
        #expect(half.dataType == .float16)
        #expect(values(half, as: UInt16.self) == [0x3C00, 0xC100, 0x7BFF])  // 1.0, -2.5, 65504
        let bytes = try decode(fixture("int8_int32_data_4"))
        #expect(bytes.dataType == .int8)
        #expect(values(bytes, as: Int8.self) == [-128, -1, 0, 127])
    }

    @Test func doubleAndUInt64Data() throws {
        let doubles = try decode(fixture("double_data_2"))
        #expect(doubles.dataType == .double)
        #expect(values(doubles, as: Double.self) == [0.1, -0.2])
        let unsigned = try decode(fixture("uint64_data_2"))
        #expect(unsigned.dataType == .uint64)
        #expect(values(unsigned, as: UInt64.self) == [0, .max])
    }

    @Test func strings() throws {
        let tensor = try decode(fixture("string_2"))
        #expect(tensor.dataType == .string)
        #expect(tensor.shape == [2])
        #expect(tensor.strings == [Array("cat".utf8), Array("dog".utf8)])
    }

    @Test func emptyTensor() throws {
        let tensor = try decode(fixture("raw_float32_empty_0x3"))
        #expect(tensor.shape == [0, 3])
        #expect(tensor.storage.byteCount == 0)
    }

    // MARK: - Refused input

    @Test func externalDataIsRefused() throws {
        #expect { try decode(fixture("external"), file: "input_0.pb") } throws: { error in
            let text = "\(error)"
            return text.hasPrefix("input_0.pb: ") && text.contains("'weights'") && text.contains("external file ('weights.bin')")
        }
    }

    static let rawFixtures = ["raw_float32_2x3", "raw_uint8_1x3x2x2"]
    static let allFixtures = rawFixtures + ["float_data_2x3", "int64_data_scalar", "bool_int32_data_4",
                                            "float16_int32_data_3", "int8_int32_data_4", "double_data_2",
                                            "uint64_data_2", "string_2", "raw_float32_empty_0x3"]

    @Test(arguments: rawFixtures)
    func everyTruncationOfRawDataIsRefused(_ name: String) throws {
        // raw_data (field 9) comes last, so every cut loses data or leaves a field half-written.
        let bytes = try fixture(name)
        for length in 0..<bytes.count {
            #expect(throws: TensorFileError.self, "cut at \(length)") { try decode(Array(bytes.prefix(length))) }
        }
    }

    @Test(arguments: allFixtures)
    func everyTruncationIsRefusedOrLosesOnlyTrailingFields(_ name: String) throws {
        // A cut exactly between fields is a valid shorter message; then only the name (field 8) or an empty
        // raw_data (field 9) may be lost, never elements.
        let bytes = try fixture(name)
        let whole = try decode(bytes)
        for length in 0..<bytes.count {
            guard let cut = try? decode(Array(bytes.prefix(length))) else { continue }
            #expect(cut.name == nil || cut.name == whole.name, "cut at \(length)")
            #expect(cut.dataType == whole.dataType && cut.shape == whole.shape && cut.storage.hasSameBytes(as: whole.storage) && cut.strings == whole.strings)
        }
    }

    @Test func truncationNamesTheByteOffset() throws {
        let bytes = try fixture("raw_float32_2x3")
        #expect { try decode(Array(bytes.dropLast(3)), file: "cut.pb") } throws: { error in
            let text = "\(error)"
            return text.hasPrefix("cut.pb: ") && text.contains("byte ") && text.contains("raw_data")
                && text.contains("truncated")
        }
    }

    @Test func garbageIsRefused() throws {
        let cases: [[UInt8]] = [
            [], Array("hello, this is text\n".utf8), [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], [0xff, 0xff, 0xff],
            [0x93] + Array("NUMPY".utf8) + [1, 0, 0x76, 0],
            [0x08, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01],  // a varint longer than 64 bits
            [0x4a, 0xff, 0xff, 0xff, 0xff, 0x0f],  // raw_data declaring 4 GiB
        ]
        for bytes in cases {
            #expect(throws: TensorFileError.self, "\(bytes.prefix(12))") { try decode(bytes) }
        }
    }

    @Test func modelFileIsNotATensor() throws {
        let model = try readFile(atPath: TestPaths.model("quirk-sum"))
        #expect(throws: TensorFileError.self) { try decode(model, file: "model.onnx") }
    }

    @Test func randomBytesNeverTrap() {
        var generator = SplitMix64(seed: 7)
        for _ in 0..<500 {
            let count = Int(generator.next() % 64)
            let bytes = (0..<count).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
            _ = try? decode(bytes)
        }
    }

    @Test func bitFlipsNeverTrap() throws {
        for name in Self.allFixtures {
            let bytes = try fixture(name)
            for position in 0..<bytes.count {
                for bit in 0..<8 {
                    var copy = bytes
                    copy[position] ^= UInt8(1 << bit)
                    _ = try? decode(copy)
                }
            }
        }
    }

    @Test func dataLengthMismatchIsRefused() throws {
        // The encoder trusts its input; the decoder checks raw_data against dims and type as for initializers.
        let short = Tensor(name: "x", dataType: .float, shape: [2, 3], storage: TensorStorage(bytes: [UInt8](repeating: 0, count: 20)))
        #expect { try decode(TensorProtoCoding.encode(short)) } throws: { error in
            "\(error)".contains("tensor 'x': raw_data has 20 bytes, but dims [2, 3] of float32 need 24")
        }
    }

    @Test func badTypesAndDimsAreRefused() throws {
        var unknown = TensorProtoCoding.encode(Self.sample(.uint2, shape: [4]))
        let marker: [UInt8] = [0x10, 25]  // data_type = 25 (UINT2)
        let index = try #require(unknown.firstIndex(ofSequence: marker))
        unknown[index + 1] = 99
        #expect { try decode(unknown) } throws: { "\($0)".contains("unknown data type 99") }

        let negative = Tensor(name: "n", dataType: .float, shape: [-1, 4], storage: .empty)
        #expect { try decode(TensorProtoCoding.encode(negative)) } throws: { "\($0)".contains("negative dimension") }

        let noType: [UInt8] = [0x08, 0x02, 0x42, 0x01, 0x61]  // dims [2], name "a", no data_type
        #expect { try decode(noType) } throws: { "\($0)".contains("no data type") }
    }
}
