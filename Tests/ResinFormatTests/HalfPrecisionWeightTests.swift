import Foundation
import Resin
import ResinIR
import Testing
import TestSupport
@testable import ResinFormat

/// `convert --fp16` rounds float32 weights to IEEE half floats, to nearest with ties to even. A tolerance
/// cannot tell that from truncation or ties away from zero (both are within half a unit), so these
/// tests compare bit patterns exactly.
@Suite struct HalfPrecisionWeightTests {
    static func halves(_ values: [Float]) -> [UInt16] {
        let bytes = values.withUnsafeBytes { NativeWriter.halfPrecisionBytes($0) }
        return stride(from: 0, to: bytes.count, by: 2).map { UInt16(bytes[$0]) | UInt16(bytes[$0 + 1]) << 8 }
    }

    /// Values worked out by hand from IEEE 754's round-to-nearest-even: the bit pattern each must give.
    @Test(arguments: [
        (Float(1), UInt16(0x3C00)), (-0.0, 0x8000), (0.1, 0x2E66), (65504, 0x7BFF),
        (1 + 0x1p-11, 0x3C00),                 // halfway between 0x3C00 and 0x3C01: to the even 0x3C00
        (1 + 3 * 0x1p-11, 0x3C02),             // halfway between 0x3C01 and 0x3C02: to the even 0x3C02
        (1 + 0x1p-11 + 0x1p-20, 0x3C01),       // just above halfway: up
        (-(1 + 0x1p-11), 0xBC00),              // ties to even, not away from zero
        (65519, 0x7BFF),                       // below the midpoint to 65536: the largest finite half
        (65520, 0x7C00),                       // the midpoint: to even, which is 2^16, so infinity
        (1e10, 0x7C00), (-1e10, 0xFC00), (.infinity, 0x7C00), (-.infinity, 0xFC00),
        (0x1p-24, 0x0001),                     // the smallest subnormal
        (0x1p-25, 0x0000),                     // half of it: a tie, to the even zero
        (0x1p-25 + 0x1p-40, 0x0001),           // just above the tie
        (3 * 0x1p-25, 0x0002),                 // 1.5 subnormal units: to the even 2
        (5 * 0x1p-25, 0x0002),                 // 2.5 units: to the even 2
        (0x1p-26, 0x0000), (-0x1p-26, 0x8000), // below half a unit: a signed zero
        (1023 * 0x1p-24, 0x03FF),              // the largest subnormal
        (0x1p-14 - 0x1p-25, 0x0400),           // halfway to the smallest normal: to the even 0x0400
        (0x1p-14, 0x0400),
    ] as [(Float, UInt16)])
    func roundsToNearestEven(value: Float, bits: UInt16) {
        let made = Self.halves([value])[0]
        #expect(made == bits, "\(value): 0x\(String(made, radix: 16)), expected 0x\(String(bits, radix: 16))")
        #expect(made == Float16(value).bitPattern, "Swift's Float16(\(value)) agrees")
    }

    @Test func nanStaysNaNWithItsSign() {
        for value in [Float.nan, -Float.nan, Float(bitPattern: 0x7FC0_1234), Float.signalingNaN] {
            let made = Self.halves([value])[0]
            #expect(made & 0x7C00 == 0x7C00 && made & 0x03FF != 0, "\(value.bitPattern): 0x\(String(made, radix: 16)) is not a NaN")
            #expect(made >> 15 == UInt16(value.sign == .minus ? 1 : 0))
        }
    }

    /// A million float32 bit patterns spread over every exponent, against Swift's Float16(Float).
    @Test func agreesWithFloat16OnSpreadBitPatterns() {
        var random = SplitMix64(seed: 16)
        let values = (0..<1 << 20).map { _ in Float(bitPattern: UInt32.random(in: 0...UInt32.max, using: &random)) }
        let made = Self.halves(values)
        var wrong = 0
        for (value, bits) in zip(values, made) where !value.isNaN && bits != Float16(value).bitPattern {
            wrong += 1
            if wrong <= 5 { Issue.record("\(value): 0x\(String(bits, radix: 16)), Float16 gives 0x\(String(Float16(value).bitPattern, radix: 16))") }
        }
        #expect(wrong == 0)
    }

    /// An fp16 file read back holds exactly each weight's Float16 rounding, widened again.
    @Test func halfPrecisionFileHoldsTheRoundedWeights() throws {
        let folder = try TemporaryFolder()
        let formats = NativeFormatTests()
        let model = try formats.optimizedModel()
        let path = try formats.write(model, NativeWriteOptions(halfPrecision: true), to: folder)
        let read = try NativeReader.read(path: path, verifyWeights: true).0
        var compared = 0
        for (left, right) in zip(read.graph.initializers, model.graph.initializers) where right.dataType == .float {
            let got = try #require(left.floatValues), original = try #require(right.floatValues)
            try #require(got.count == original.count)
            let wrong = zip(got, original).filter { $0.bitPattern != Float(Float16($1)).bitPattern }
            #expect(wrong.isEmpty, "\(right.name ?? "?"): \(wrong.count) weights, first \(wrong.prefix(3)) (read, original)")
            compared += got.count
        }
        #expect(compared > 1000, "only \(compared) weights compared")
    }
}
