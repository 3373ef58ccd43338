import Resin
import Testing
import TestSupport

/// Fixtures and references for the public API's tests, read through the package's tensor files.
enum APIFixture {
    /// A bundled fixture's model path.
    static func modelPath(_ name: String) -> String { TestPaths.model(name) }

    /// A fixture's stored tensor (`input_0.pb`, `output_0.pb`: ONNX Runtime's reference), as a public tensor.
    static func tensor(_ name: String, _ file: String) throws -> Tensor {
        let value = try TensorFile.read(path: "\(TestPaths.fixtures)/\(name)/test_data_set_0/\(file)")
        return try #require(Tensor(value), "\(file) has an element type no public tensor holds")
    }

    /// A float32 tensor of `shape` filled from `seed`: distinct seeds give distinct tensors.
    static func input(shape: [Int], seed: UInt64) throws -> Tensor {
        var random = SplitMix64(seed: seed)
        return try Tensor(shape: shape, elements: random.floats(shape.reduce(1, *), in: -2...2))
    }

    /// The concrete sizes of a declared or compiled shape; throws when one is symbolic.
    static func sizes(_ dimensions: [TensorInfo.Dimension]?) throws -> [Int] {
        let sizes = (dimensions ?? []).compactMap(\.value)
        try #require(dimensions != nil && sizes.count == dimensions!.count, "shape \(String(describing: dimensions)) is not concrete")
        return sizes
    }

    /// Expects `actual` within the project's tolerance policy of `expected`.
    static func expectClose(_ actual: Tensor, _ expected: Tensor, rtol: Double = 1e-3, atol: Double = 1e-4,
                            sourceLocation: SourceLocation = #_sourceLocation) {
        let comparison = TensorComparison(actual: actual.value, expected: expected.value, rtol: rtol, atol: atol)
        #expect(comparison.passed, "shape \(actual.shape) vs \(expected.shape); max abs error \(comparison.maxAbsoluteError), max rel error \(comparison.maxRelativeError), worst at \(comparison.worstIndex)",
                sourceLocation: sourceLocation)
    }
}
