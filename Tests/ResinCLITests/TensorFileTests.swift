import Foundation
import Resin
import ResinIR
import ResinONNX
import Testing
import TestSupport

/// `.npy` and `.pb` tensor files through `TensorFile` and `NumpyFormat`: round trips for every type, files
/// that NumPy wrote (tools/make_tensor_file_fixtures.py) checked against values spelled out here, and
/// malformed files, which must be refused with the file and the byte offset named, never trap.
@Suite struct TensorFileTests {
    static let folder = TestPaths.fixtures + "/tensor-files"

    func decode(_ bytes: [UInt8], file: String = "tensor.npy") throws -> Tensor {
        try bytes.withUnsafeBytes { buffer in
            try NumpyFormat.decode(buffer, file: file)
        }
    }

    func fixture(_ name: String) throws -> Tensor { try TensorFile.read(path: "\(Self.folder)/\(name)") }

    func values<T>(_ tensor: Tensor, as type: T.Type) -> [T] {
        let bytes = tensor.storage.bytes
        return (0..<(bytes.count / MemoryLayout<T>.size)).map {
            bytes.loadUnaligned(fromByteOffset: $0 * MemoryLayout<T>.size, as: T.self)
        }
    }

    /// A `.npy` file made by hand, for headers NumPy would not write.
    func npy(_ header: String, version: UInt8 = 1, data: [UInt8] = []) -> [UInt8] {
        let text = Array(header.utf8)
        let length: [UInt8] = version == 1
            ? [UInt8(text.count & 0xff), UInt8(text.count >> 8)]
            : [UInt8(text.count & 0xff), UInt8(text.count >> 8 & 0xff), UInt8(text.count >> 16 & 0xff), UInt8(text.count >> 24)]
        return NumpyFormat.magic + [version, 0] + length + text + data
    }

    // MARK: - Round trips

    static let numpyTypes: [DataType] = [.float, .double, .float16, .int64, .int32, .int16, .int8,
                                         .uint64, .uint32, .uint16, .uint8, .bool, .complex64, .complex128]
    static let shapes: [[Int]] = [[], [0], [3], [2, 3], [1, 3, 2, 2], [2, 0, 4], [1, 1, 1, 1, 5]]

    static func sample(_ dataType: DataType, shape: [Int], name: String? = nil) -> Tensor {
        let byteCount = dataType.byteCount(elements: elementCount(of: shape)!)!
        let storage = TensorStorage(byteCount: byteCount) { out in
            for index in 0..<byteCount { out[index] = UInt8(truncatingIfNeeded: index &* 37 &+ 11) }
        }
        return Tensor(name: name, dataType: dataType, shape: shape, storage: storage)
    }

    @Test(arguments: numpyTypes, shapes)
    func numpyRoundTrip(_ dataType: DataType, shape: [Int]) throws {
        let tensor = Self.sample(dataType, shape: shape)
        let bytes = try NumpyFormat.encode(tensor, file: "t.npy")
        #expect((bytes.count - tensor.storage.byteCount) % 64 == 0, "the data starts at a multiple of 64 bytes")
        #expect(bytes[bytes.count - tensor.storage.byteCount - 1] == 0x0a, "the header ends in a newline")
        let decoded = try decode(bytes)
        #expect(decoded.name == nil)
        #expect(decoded.dataType == dataType)
        #expect(decoded.shape == shape)
        #expect(decoded.storage.hasSameBytes(as: tensor.storage))
    }

    @Test(arguments: [("npy", numpyTypes), ("pb", DataType.allCases.filter { $0 != .undefined && $0 != .string })])
    func fileRoundTrip(_ format: String, _ types: [DataType]) throws {
        let folder = try TemporaryFolder()
        for dataType in types {
            let path = folder.file("\(dataType).\(format)")
            let tensor = Self.sample(dataType, shape: [2, 3], name: format == "pb" ? "x" : nil)
            try TensorFile.write(tensor, to: path)
            let read = try TensorFile.read(path: path)
            #expect(read.name == tensor.name)
            #expect(read.dataType == dataType && read.shape == [2, 3], "\(dataType)")
            #expect(read.storage.hasSameBytes(as: tensor.storage), "\(dataType)")
        }
    }

    @Test func numpyFixtureConvertsToTensorProtoAndBack() throws {
        let folder = try TemporaryFolder()
        let image = try fixture("uint8_1x3x2x2.npy")
        try TensorFile.write(image, to: folder.file("image.pb"))
        let back = try TensorFile.read(path: folder.file("image.pb"))
        try TensorFile.write(back, to: folder.file("image.npy"))
        #expect(try readFile(atPath: folder.file("image.npy")) == readFile(atPath: "\(Self.folder)/uint8_1x3x2x2.npy"))
    }

    /// Fixtures that np.save wrote in version 1.0, C order, little-endian: Resin must write the same bytes.
    static let plainNumpyFixtures = ["float32_2x3", "float16_3", "int64_scalar", "int16_4", "int8_4", "uint8_1x3x2x2",
                                     "uint16_3", "uint32_3", "uint64_2", "bool_4", "float32_empty_0x3", "complex64_2"]

    @Test(arguments: plainNumpyFixtures)
    func writesTheBytesNumpyWrites(_ name: String) throws {
        let original = try readFile(atPath: "\(Self.folder)/\(name).npy")
        #expect(try NumpyFormat.encode(decode(original), file: "x.npy") == original)
    }

    @Test func longHeaderIsWrittenAsVersion2() throws {
        // Only a header above 65535 bytes needs the 4-byte length of version 2.0, as np.save decides.
        let tensor = Self.sample(.float, shape: Array(repeating: 1, count: 25_000))
        let bytes = try NumpyFormat.encode(tensor, file: "long.npy")
        #expect(bytes[6] == 2 && bytes[7] == 0)
        #expect((bytes.count - 4) % 64 == 0)
        let decoded = try decode(bytes)
        #expect(decoded.shape == tensor.shape && decoded.storage.hasSameBytes(as: tensor.storage))
    }

    // MARK: - Files written by NumPy

    @Test func float32() throws {
        let tensor = try fixture("float32_2x3.npy")
        #expect(tensor.name == nil)
        #expect(tensor.dataType == .float && tensor.shape == [2, 3])
        #expect(tensor.floatValues == [0.5, -1.25, 2.0, 3.75, -0.0, 1024.0])
    }

    @Test func float64Version2() throws {
        let tensor = try fixture("float64_v2_1x3.npy")
        #expect(tensor.dataType == .double && tensor.shape == [1, 3])
        #expect(values(tensor, as: Double.self) == [0.1, -0.2, 1e300])
    }

    @Test func float16() throws {
        let tensor = try fixture("float16_3.npy")
        #expect(tensor.dataType == .float16 && tensor.shape == [3])
        #expect(values(tensor, as: UInt16.self) == [0x3C00, 0xC100, 0x7BFF])  // 1.0, -2.5, 65504
    }

    @Test func int64Scalar() throws {
        let tensor = try fixture("int64_scalar.npy")
        #expect(tensor.dataType == .int64 && tensor.shape == [])
        #expect(tensor.integerValues == [-1_234_567_890_123])
    }

    @Test func fortranOrderIsTransposedToCOrder() throws {
        // np.asfortranarray(np.arange(24).reshape(2, 3, 4)): in C order the elements are 0, 1, ..., 23.
        let tensor = try fixture("int32_fortran_2x3x4.npy")
        #expect(tensor.dataType == .int32 && tensor.shape == [2, 3, 4])
        #expect(tensor.integerValues == Array(0..<24))
    }

    @Test func integers() throws {
        #expect(values(try fixture("int16_4.npy"), as: Int16.self) == [-32768, -1, 0, 32767])
        #expect(values(try fixture("int8_4.npy"), as: Int8.self) == [-128, -1, 0, 127])
        #expect(values(try fixture("uint16_3.npy"), as: UInt16.self) == [0, 1, 65535])
        #expect(values(try fixture("uint32_3.npy"), as: UInt32.self) == [0, 1, 4_294_967_295])
        #expect(values(try fixture("uint64_2.npy"), as: UInt64.self) == [0, .max])
        let image = try fixture("uint8_1x3x2x2.npy")
        #expect(image.dataType == .uint8 && image.shape == [1, 3, 2, 2])
        #expect(values(image, as: UInt8.self) == Array(0..<12))
    }

    @Test func boolAndComplex() throws {
        let flags = try fixture("bool_4.npy")
        #expect(flags.dataType == .bool)
        #expect(values(flags, as: UInt8.self) == [1, 0, 0, 1])
        let complex = try fixture("complex64_2.npy")
        #expect(complex.dataType == .complex64 && complex.shape == [2])
        #expect(values(complex, as: Float.self) == [1, 2, -3.5, 0.25])
    }

    @Test func bigEndianIsConvertedToLittleEndian() throws {
        let integers = try fixture("int32_bigendian_3.npy")
        #expect(integers.dataType == .int32)
        #expect(integers.integerValues == [1, -2, 305_419_896])
        // Also a version 3.0 (UTF-8 header) file.
        let floats = try fixture("float32_bigendian_v3_2.npy")
        #expect(floats.floatValues == [1.5, -2.0])
    }

    @Test func emptyArray() throws {
        let tensor = try fixture("float32_empty_0x3.npy")
        #expect(tensor.shape == [0, 3] && tensor.storage.byteCount == 0)
    }

    @Test func tensorProtoThroughTensorFile() throws {
        let tensor = try fixture("raw_float32_2x3.pb")
        #expect(tensor.name == "input_0")
        #expect(tensor.floatValues == [0.5, -1.25, 2.0, 3.75, -0.0, 1024.0])
    }

    // MARK: - Headers

    static let acceptedHeaders: [String] = [
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }\n",
        "{\"descr\": \"<f4\", \"fortran_order\": False, \"shape\": (2,)}",
        "{'shape': (2L,), 'fortran_order': False, 'descr': '=f4'}   \n",
        "{'descr':'<f4','fortran_order':False,'shape':(2,)}",
        "{'descr': 'f4', 'fortran_order': True, 'shape': (1, 2, ), }\n",
    ]

    @Test(arguments: acceptedHeaders)
    func acceptedHeader(_ header: String) throws {
        let tensor = try decode(npy(header, data: [0, 0, 0x80, 0x3f, 0, 0, 0, 0x40]))
        #expect(tensor.floatValues == [1, 2])
    }

    static let refusedHeaders: [(header: String, message: String)] = [
        ("{'descr': '<f4', 'fortran_order': False}", "lacks 'shape'"),
        ("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'extra': 1}", "expected a quoted string, True, False or a tuple"),
        ("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'extra': 'x'}", "has the unexpected 'extra'"),
        ("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2,)}", "appears twice"),
        ("{'descr': '<f4', 'fortran_order': False, 'shape': (2)}", "one-element tuple is written (2,)"),
        ("{'descr': '<f4', 'fortran_order': False, 'shape': (-2,)}", "negative dimension"),
        ("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999999,)}", "above the supported maximum"),
        ("{'descr': '<f4', 'fortran_order': 0, 'shape': (2,)}", "expected a quoted string, True, False or a tuple"),
        ("{'descr': '<f4', 'fortran_order': 'no', 'shape': (2,)}", "'fortran_order' must be True or False"),
        ("{'descr': '<f4', 'fortran_order': False, 'shape': '2'}", "'shape' must be a tuple"),
        ("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,)}", "structured dtypes"),
        ("{'descr': '<U5', 'fortran_order': False, 'shape': (2,)}", "unsupported dtype '<U5'"),
        ("{'descr': '|f4', 'fortran_order': False, 'shape': (2,)}", "no byte order"),
        ("{'descr': '<f4\\x', 'fortran_order': False, 'shape': (2,)}", "escape sequences"),
        ("{'descr': '<f4, 'fortran_order': False, 'shape': (2,)}", "expected ',' or '}'"),
        ("{'descr': '<f4', 'fortran_order': False, 'shape': (2,)} x", "after the header dict"),
        ("{'descr': '<f4', 'fortran_order': False, 'shape': (2,)", "the end of the header"),
        ("{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776, 1099511627776)}", "element count that overflows"),
        ("{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776,)}", "needs 4398046511104"),
        ("['descr', '<f4']", "expected the start of the header dict"),
        ("", "the end of the header"),
    ]

    @Test(arguments: refusedHeaders)
    func refusedHeader(_ header: String, _ message: String) throws {
        #expect { try decode(npy(header, data: [0, 0, 0x80, 0x3f, 0, 0, 0, 0x40]), file: "bad.npy") } throws: { error in
            let text = "\(error)"
            return text.hasPrefix("bad.npy: byte ") && text.contains(message)
        }
    }

    @Test func invalidUTF8InVersion3Header() throws {
        var bytes = npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,)}  ", version: 3, data: [UInt8](repeating: 0, count: 8))
        bytes[bytes.count - 9] = 0xff
        #expect { try decode(bytes) } throws: { "\($0)".contains("must be UTF-8") }
    }

    // MARK: - Malformed files

    static let numpyFixtures = plainNumpyFixtures + ["float64_v2_1x3", "int32_fortran_2x3x4", "int32_bigendian_3",
                                                     "float32_bigendian_v3_2"]

    @Test(arguments: numpyFixtures)
    func everyTruncationIsRefused(_ name: String) throws {
        let bytes = try readFile(atPath: "\(Self.folder)/\(name).npy")
        for length in 0..<bytes.count {
            #expect(throws: TensorFileError.self, "cut at \(length)") { try decode(Array(bytes.prefix(length))) }
        }
    }

    @Test func truncationMessages() throws {
        let bytes = try readFile(atPath: "\(Self.folder)/float32_2x3.npy")
        let cases: [(length: Int, message: String)] = [
            (0, "the file is empty"), (3, "it has 3 bytes, the magic alone needs 6"), (7, "before the format version"), (9, "inside the 2-byte header length"),
            (100, "byte 8: the header length says 118 bytes, but only 90 remain"),
            (bytes.count - 1, "byte 128: the data has 23 bytes, but shape (2, 3) of '<f4' needs 24 (truncated file?)"),
        ]
        for (length, message) in cases {
            #expect { try decode(Array(bytes.prefix(length)), file: "cut.npy") } throws: { error in
                "\(error)".hasPrefix("cut.npy: ") && "\(error)".contains(message)
            }
        }
        #expect { try decode(bytes + [0], file: "long.npy") } throws: { "\($0)".contains("the data has 25 bytes") }
    }

    @Test func wrongMagicAndVersion() throws {
        var bytes = try readFile(atPath: "\(Self.folder)/float32_2x3.npy")
        bytes[6] = 4
        #expect { try decode(bytes) } throws: { "\($0)".contains("unsupported .npy format version 4.0") }
        let cases: [[UInt8]] = [Array("PK\u{3}\u{4}zipped".utf8), [0x93] + Array("NUMPZ".utf8) + [1, 0], [0x08, 0x02, 0x10, 0x01]]
        for bad in cases {
            #expect { try decode(bad, file: "bad.npy") } throws: { "\($0)".contains("bad.npy: not a .npy file: expected the magic bytes") }
        }
    }

    @Test func randomBytesAndBitFlipsNeverTrap() throws {
        var state: UInt64 = 0x5eed
        func next() -> UInt64 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return state >> 11
        }
        for _ in 0..<300 {
            let garbage = (0..<Int(next() % 200)).map { _ in UInt8(truncatingIfNeeded: next()) }
            _ = try? decode(NumpyFormat.magic + [1, 0] + garbage)
            _ = try? decode(garbage)
        }
        for name in Self.numpyFixtures {
            let bytes = try readFile(atPath: "\(Self.folder)/\(name).npy")
            for position in 0..<min(bytes.count, 140) {
                var copy = bytes
                copy[position] ^= UInt8(1 << (next() % 8))
                _ = try? decode(copy)
            }
        }
    }

    // MARK: - TensorFile

    @Test(arguments: ["x.txt", "x", "x.npz", "folder.npy/x", "x.onnx"])
    func unknownExtensionIsRefused(_ path: String) {
        #expect { try TensorFile.format(forPath: path) } throws: { error in
            "\(error)".hasPrefix("\(path): unknown tensor file type") && "\(error)".contains(".npy (NumPy) or .pb (ONNX TensorProto)")
        }
    }

    @Test func extensionsAreCaseInsensitive() throws {
        #expect(try TensorFile.format(forPath: "/data/INPUT.NPY") == .numpy)
        #expect(try TensorFile.format(forPath: "test_data_set_0/input_0.pb") == .tensorProto)
    }

    @Test func missingFileNamesThePath() {
        #expect { try TensorFile.read(path: "/nonexistent/input.npy") } throws: { "\($0)".contains("/nonexistent/input.npy") }
    }

    @Test(arguments: ["empty.npy", "empty.pb"])
    func emptyFileIsRefused(_ name: String) throws {
        let folder = try TemporaryFolder()
        let path = folder.file(name)
        #expect(FileManager.default.createFile(atPath: path, contents: Data()))
        #expect { try TensorFile.read(path: path) } throws: { "\($0)".hasPrefix("\(path): the file is empty") }
        #expect { try TensorFile.read(path: folder.path + "/.npy") } throws: { "\($0)".contains(folder.path) }
    }

    @Test func failedWriteLeavesNothingBehind() throws {
        let folder = try TemporaryFolder()
        let path = folder.file("out.npy")
        try TensorFile.write(.floats([1, 2], shape: [2]), to: path)
        let before = try readFile(atPath: path)
        let unsupported = Self.sample(.bfloat16, shape: [2])
        #expect { try TensorFile.write(unsupported, to: path) } throws: { error in
            "\(error)".contains("out.npy: NumPy .npy has no element type for bfloat16")
        }
        #expect(try readFile(atPath: path) == before)
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path) == ["out.npy"])
        #expect(throws: TensorFileError.self) { try TensorFile.write(unsupported, to: folder.file("new.npy")) }
        #expect(!FileManager.default.fileExists(atPath: folder.file("new.npy")))
    }

    /// Every fixture re-encoded by Resin as .npy (when NumPy has the type) and .pb, then loaded by NumPy and
    /// onnx in `tools/make_tensor_file_fixtures.py --check`, which compares the values with its own and each
    /// .npy with the bytes np.save writes. Needs the tools' Python environment: without it the test fails
    /// and says how to make it.
    @Test func writtenFilesLoadInNumPyAndONNX() throws {
        let python = TestPaths.python
        guard FileManager.default.isExecutableFile(atPath: python) else {
            Issue.record("\(python) is missing: run tools/venv.sh (tools/test does) to make the Python environment this check needs")
            return
        }
        let output = try TemporaryFolder()
        let names = try FileManager.default.contentsOfDirectory(atPath: Self.folder).sorted()
        var written = 0
        for name in names where name != "external.pb" {
            let tensor = try fixture(name)
            let stem = String(name[..<name.lastIndex(of: ".")!])
            if NumpyFormat.typeDescriptor(for: tensor.dataType) != nil {
                try TensorFile.write(tensor, to: output.file("\(stem).npy"))
                written += 1
            }
            try TensorFile.write(tensor, to: output.file("\(stem).pb"))
            written += 1
        }
        #expect(written > 20, "only \(written) files written")
        let result = try runProgram(python, [TestPaths.root + "/tools/make_tensor_file_fixtures.py", "--check", output.path],
                                    timeout: 120)
        #expect(result.status == 0 && !result.timedOut, "\(result.standardOutput)\(result.standardError)")
        // The script checks what is in the folder; the count shows that it saw every file written.
        #expect(result.standardOutput.contains("checked \(written) files written by Resin"), "\(result.standardOutput)")
        #expect(result.standardOutput.contains(": 0 problem(s)"), "\(result.standardOutput)")
    }
}
