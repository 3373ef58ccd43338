import Resin
import ResinIR
import Testing

/// Expects `actual` to match `expected` within the tolerance, by the project's one comparison policy
/// (`TensorComparison`: `|actual - expected| <= atol + rtol * |expected|`, NaN matching only NaN, an
/// infinity only itself), reporting the maximum absolute and relative errors and the worst index when not.
func expectClose(
    _ actual: [Float], _ expected: [Float], rtol: Float, atol: Float, _ comment: Comment? = nil,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    let comparison = TensorComparison(
        actual: .floats(actual, shape: [actual.count]), expected: .floats(expected, shape: [expected.count]),
        rtol: Double(rtol), atol: Double(atol))
    let worst = comparison.worstIndex.first.map { index in
        index < actual.count && index < expected.count ? " worst at [\(index)]: actual \(actual[index]), expected \(expected[index]);" : ""
    } ?? ""
    let detail = comparison.shapeMatches
        ? "\(comparison.failures) of \(expected.count) elements outside rtol \(rtol), atol \(atol);\(worst)"
            + " max abs error \(comparison.maxAbsoluteError), max rel error \(comparison.maxRelativeError)"
        : "lengths differ: \(actual.count) vs \(expected.count)"
    #expect(comparison.passed, "\(comment.map { "\($0): " } ?? "")\(detail)", sourceLocation: sourceLocation)
}
