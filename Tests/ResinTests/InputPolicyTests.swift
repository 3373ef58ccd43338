import Foundation
import Resin
import Testing
import TestSupport

/// The input policy `resin run` and `InferenceSession` share: conversions only where no value changes, and
/// the command line applying it to files.
@Suite struct InputPolicyTests {
    static let fixture = "resnet-bottleneck-v1.5"

    /// Every pair of types the policy calls lossless round-trips the extremes of the source type exactly;
    /// the pairs it refuses include the NumPy default that would round (float64 to float32).
    @Test func losslessPairsKeepEveryValue() throws {
        let extremes: [ElementType: Tensor] = [
            .int8: try Tensor(shape: [3], elements: [Int8.min, 0, Int8.max]),
            .uint8: try Tensor(shape: [2], elements: [UInt8.min, UInt8.max]),
            .int16: try Tensor(shape: [3], elements: [Int16.min, -1, Int16.max]),
            .uint16: try Tensor(shape: [2], elements: [UInt16.min, UInt16.max]),
            .int32: try Tensor(shape: [3], elements: [Int32.min, -1, Int32.max]),
            .uint32: try Tensor(shape: [2], elements: [UInt32.min, UInt32.max]),
            .float16: try Tensor(shape: [3], elements: [Float16(-65504), Float16(0.0001), Float16(65504)]),
            .float32: try Tensor(shape: [3], elements: [-Float.greatestFiniteMagnitude, Float.leastNonzeroMagnitude, 0.1]),
        ]
        func doubles(_ tensor: Tensor) throws -> [Double] {
            switch tensor.elementType {
            case .int8: try tensor.elements(as: Int8.self).map(Double.init)
            case .uint8: try tensor.elements(as: UInt8.self).map(Double.init)
            case .int16: try tensor.elements(as: Int16.self).map(Double.init)
            case .uint16: try tensor.elements(as: UInt16.self).map(Double.init)
            case .int32: try tensor.elements(as: Int32.self).map(Double.init)
            case .uint32: try tensor.elements(as: UInt32.self).map(Double.init)
            case .int64: try tensor.elements(as: Int64.self).map(Double.init)
            case .float16: try tensor.elements(as: Float16.self).map(Double.init)
            case .float32: try tensor.elements(as: Float.self).map(Double.init)
            case .float64: try tensor.elements(as: Double.self)
            default: []
            }
        }
        var converted = 0
        for (source, tensor) in extremes {
            for target in [ElementType.float32, .float64, .int32, .int64] where target != source {
                guard let result = try? tensor.converted(to: target) else { continue }
                converted += 1
                #expect(try doubles(result) == doubles(tensor), "\(source) to \(target) changed a value")
            }
        }
        #expect(converted >= 15, "only \(converted) conversions were allowed")
        #expect(throws: ResinError.self) { try extremes[.float32]!.converted(to: .int64) }
        #expect(throws: ResinError.self) { try Tensor(shape: [1], elements: [0.1 as Double]).converted(to: .float32) }
    }

    /// `resin run` refuses a float64 file for a float32 input (exit 2, naming the file, the input and both
    /// types) and runs a float16 file exactly as the same values in float32.
    @Test func runAppliesThePolicyToFiles() throws {
        let folder = try TemporaryFolder()
        let model = APIFixture.modelPath(Self.fixture)
        let input = try APIFixture.tensor(Self.fixture, "input_0.pb")
        let floats = try input.elements(as: Float.self)

        let doubles = folder.file("doubles.npy")
        try Tensor(shape: input.shape, elements: floats.map(Double.init)).write(to: doubles)
        let refused = try runResin(["run", model, "--input", doubles])
        #expect(refused.status == 2)
        #expect(refused.standardError.contains(doubles) && refused.standardError.contains("float64")
                && refused.standardError.contains("float32"), "\(refused.standardError)")

        let halves = floats.map { Float16($0) }
        let halfPath = folder.file("halves.npy"), widenedPath = folder.file("widened.npy")
        try Tensor(shape: input.shape, elements: halves).write(to: halfPath)
        try Tensor(shape: input.shape, elements: halves.map(Float.init)).write(to: widenedPath)
        let fromHalves = try runResin(["run", model, "--input", halfPath, "--output", folder.file("a.npy")])
        let fromWidened = try runResin(["run", model, "--input", widenedPath, "--output", folder.file("b.npy")])
        #expect(fromHalves.status == 0 && fromWidened.status == 0, "\(fromHalves.standardError) \(fromWidened.standardError)")
        #expect(try Tensor(contentsOf: folder.file("a.npy")) == Tensor(contentsOf: folder.file("b.npy")))
    }

    /// `resin run --batch 2` on 5 inputs runs them through the library's batching: 5 rows of output, each
    /// within rounding of what a batch-5 session computes (a different kernel schedule, so not bit-equal).
    @Test func runSplitsInputsIntoBatches() throws {
        let folder = try TemporaryFolder()
        let model = APIFixture.modelPath("quirk-symbolic-batch")
        let shape = [5] + (try APIFixture.sizes(Model(contentsOf: model).inputs[0].shape.map { Array($0.dropFirst()) }))
        let input = folder.file("five.npy")
        try APIFixture.input(shape: shape, seed: 77).write(to: input)
        let batched = try runResin(["run", model, "--input", input, "--batch", "2", "--threads", "1", "--output", folder.file("batched.npy")])
        let whole = try runResin(["run", model, "--input", input, "--threads", "1", "--output", folder.file("whole.npy")])
        #expect(batched.status == 0 && whole.status == 0, "\(batched.standardError) \(whole.standardError)")
        let output = try Tensor(contentsOf: folder.file("batched.npy"))
        #expect(output.shape.first == 5)
        APIFixture.expectClose(output, try Tensor(contentsOf: folder.file("whole.npy")), rtol: 1e-4, atol: 1e-5)
    }
}
