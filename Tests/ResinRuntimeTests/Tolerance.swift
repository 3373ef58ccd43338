import Testing

/// How closely `actual` follows `expected`: an element passes when
/// `|actual - expected| <= atol + rtol * |expected|`; NaN matches only NaN and an infinity only itself.
struct Closeness: CustomStringConvertible {
    /// The largest `|actual - expected|` over finite pairs.
    var maxAbsoluteError: Float = 0
    /// The largest `|actual - expected| / |expected|` over finite pairs with a non-zero expectation.
    var maxRelativeError: Float = 0
    /// The element furthest outside its allowance (or furthest into it, when all pass); nil when empty.
    var worstIndex: Int?
    var worstActual: Float = 0
    var worstExpected: Float = 0
    /// Elements outside the tolerance, counting a length mismatch as a failure.
    var failures = 0
    var count = 0
    var rtol: Float
    var atol: Float

    var passed: Bool { failures == 0 }

    init(_ actual: [Float], _ expected: [Float], rtol: Float, atol: Float) {
        self.rtol = rtol
        self.atol = atol
        count = expected.count
        if actual.count != expected.count { failures = 1 }
        var worstRatio: Float = -1
        for index in 0..<min(actual.count, expected.count) {
            let a = actual[index], e = expected[index]
            let ratio: Float
            if a.isNaN || e.isNaN {
                ratio = a.isNaN && e.isNaN ? 0 : .infinity
            } else if a == e {
                ratio = 0
            } else if a.isInfinite || e.isInfinite {
                ratio = .infinity
            } else {
                let error = abs(a - e)
                maxAbsoluteError = max(maxAbsoluteError, error)
                if e != 0 { maxRelativeError = max(maxRelativeError, error / abs(e)) }
                let allowed = atol + rtol * abs(e)
                ratio = allowed > 0 ? error / allowed : .infinity
            }
            if ratio > 1 { failures += 1 }
            if ratio > worstRatio {
                worstRatio = ratio
                worstIndex = index
                worstActual = a
                worstExpected = e
            }
        }
    }

    var description: String {
        let worst = worstIndex.map { " worst at [\($0)]: actual \(worstActual), expected \(worstExpected);" } ?? ""
        return "\(failures) of \(count) elements outside rtol \(rtol), atol \(atol);\(worst)"
            + " max abs error \(maxAbsoluteError), max rel error \(maxRelativeError)"
    }
}

/// Expects `actual` to match `expected` within the tolerance (see `Closeness`), reporting the maximum
/// absolute and relative errors and the worst index when it does not. `rtol: 0, atol: 0` asks for
/// exact equality with NaN matching NaN.
func expectClose(
    _ actual: [Float], _ expected: [Float], rtol: Float, atol: Float, _ comment: Comment? = nil,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    let closeness = Closeness(actual, expected, rtol: rtol, atol: atol)
    let lengths = actual.count == expected.count ? "" : "lengths differ: \(actual.count) vs \(expected.count); "
    #expect(closeness.passed, "\(comment.map { "\($0): " } ?? "")\(lengths)\(closeness)", sourceLocation: sourceLocation)
}
