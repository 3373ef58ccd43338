import CResinKernels
import Testing
import TestSupport
@testable import ResinRuntime

/// The phased schedule's bands on more than one thread write their outputs through a stack buffer, whole cache
/// lines with non-temporal stores (`resin_winograd_band.stream`). The output transform runs on a range of
/// filters whose planes start and end off a cache line, under every instruction set, with and without
/// streaming: both runs must match a double-precision A^T M A (plus bias and residual, then Relu) computed here
/// from the products, leave every element outside the range untouched, and agree bit for bit.
@Suite struct WinogradStreamTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var tile: Int, stride: Int
        var channels: Int, filters: Int, height: Int, width: Int
        /// The band: its first tile row and tile rows (a part of the image, or all of it).
        var firstTileRow: Int, tileRows: Int
        /// 0 no residual, 1 a separate one, 2 in place (which the output transform never streams).
        var residual: Int
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        // 13x11 outputs: 7 tile rows of 6 tiles; the whole image, so several filters' planes share a buffer.
        Case(name: "F(2x2), whole image, separate residual", tile: 2, stride: 1, channels: 37, filters: 29, height: 13, width: 11,
             firstTileRow: 0, tileRows: 7, residual: 1),
        // A band of 3 of the 7 tile rows: each filter's rows of the band are copied out on their own.
        Case(name: "F(2x2), middle band", tile: 2, stride: 1, channels: 21, filters: 19, height: 13, width: 11,
             firstTileRow: 2, tileRows: 3, residual: 0),
        // 36 positions of 4 x 4 tiles: a few channels a buffer; the last tile row and column cropped.
        Case(name: "F(4x4), whole image", tile: 4, stride: 1, channels: 23, filters: 17, height: 14, width: 15,
             firstTileRow: 0, tileRows: 4, residual: 0),
        // Stride 2: 25 positions in runs of 16 distinct filters' blocks; outputs 10x8.
        Case(name: "stride-2 F(2x2), whole image", tile: 2, stride: 2, channels: 19, filters: 21, height: 20, width: 15,
             firstTileRow: 0, tileRows: 5, residual: 1),
        // In place: the output transform reads what it writes, so it stores plainly.
        Case(name: "F(2x2), in place", tile: 2, stride: 1, channels: 18, filters: 22, height: 9, width: 12,
             firstTileRow: 0, tileRows: 5, residual: 2),
    ]

    /// A^T of F(2x2), F(4x4) (the points 0, 1, -1, 1/2, -1/2, infinity) and the stride-2 F(2x2), as in
    /// winograd_body.h's header.
    static let outputTransforms: [String: [[Double]]] = [
        "2": [[1, 1, 1, 0], [0, 1, -1, -1]],
        "4": [[1, 1, 1, 1, 1, 0], [0, 1, -1, 0.5, -0.5, 0], [0, 1, 1, 0.25, 0.25, 0], [0, 1, -1, 0.125, -0.125, 1]],
        "2s2": [[1, 1, 0, 1, 0], [0, 1, 1, 0, 1]],
    ]

    /// Where position (i, j) of filter f of `filters` starts in the products, in rows of `tiles`: position-major,
    /// or at stride 2 grouped by the 16 distinct filters (Kernels+WinogradStride2.swift).
    static func row(_ i: Int, _ j: Int, filter f: Int, filters: Int, stride: Int, side: Int) -> Int {
        guard stride == 2 else { return (side * i + j) * filters + f }
        let a = min(i, 3), b = min(j, 3), rows = a == 3 ? 2 : 1, columns = b == 3 ? 2 : 1
        return (5 * a + rows * b) * filters + f * rows * columns + (i - a) * columns + (j - b)
    }

    @Test(arguments: cases)
    func streamedOutputsMatchThePlainStores(_ test: Case) throws {
        var random = SplitMix64(seed: test.channels * 97 + test.filters)
        let outHeight = (test.height + 2 - 3) / test.stride + 1, outWidth = (test.width + 2 - 3) / test.stride + 1
        let tileColumns = (outWidth + test.tile - 1) / test.tile
        try #require(test.firstTileRow + test.tileRows <= (outHeight + test.tile - 1) / test.tile)
        let transform = try #require(Self.outputTransforms[test.stride == 2 ? "2s2" : "\(test.tile)"])
        let side = transform[0].count
        let tiles = test.tileRows * tileColumns
        let products = random.floats(side * side * test.filters * tiles)
        let bias = random.floats(test.filters)
        let skip = random.floats(test.filters * outHeight * outWidth)
        let sentinel = Float(bitPattern: 0x7FC0_1234)
        let untouched = test.residual == 2 ? skip : [Float](repeating: sentinel, count: skip.count)
        // Planes of 143 (the band: 66 of them), 210, 80 and 108 floats: the range starts and ends off a cache line.
        let filters = 2..<(test.filters - 1)

        // The reference: the band's outputs of the range's filters, everything else as it was.
        var reference = untouched
        for f in filters {
            for tile in 0..<tiles {
                for a in 0..<test.tile {
                    for b in 0..<test.tile {
                        let y = (test.firstTileRow + tile / tileColumns) * test.tile + a, x = tile % tileColumns * test.tile + b
                        guard y < outHeight, x < outWidth else { continue }
                        var sum = 0.0
                        for i in 0..<side {
                            for j in 0..<side {
                                let row = Self.row(i, j, filter: f, filters: test.filters, stride: test.stride, side: side)
                                sum += transform[a][i] * Double(products[row * tiles + tile]) * transform[b][j]
                            }
                        }
                        let index = (f * outHeight + y) * outWidth + x
                        sum += Double(bias[f]) + (test.residual == 0 ? 0 : Double(skip[index]))
                        reference[index] = Float(max(0, sum))
                    }
                }
            }
        }
        func band(stream: Int32) -> resin_winograd_band {
            resin_winograd_band(channels: test.channels, filters: test.filters, height: test.height, width: test.width,
                                pad_top: 1, pad_left: 1, out_height: outHeight, out_width: outWidth,
                                first_tile_row: test.firstTileRow, tile_rows: test.tileRows, tile_columns: tileColumns,
                                stream: stream)
        }
        for instructionSet in InstructionSet.supported {
            let kernels = instructionSet.kernels.pointee
            let outputTransform = try #require(test.stride == 2 ? kernels.winograd2s2_output
                : test.tile == 4 ? kernels.winograd4_output : kernels.winograd2_output)
            var outputs: [[Float]] = []
            for stream: Int32 in [0, 1] {
                var cBand = band(stream: stream)
                var output = untouched
                output.withUnsafeMutableBufferPointer { out in
                    outputTransform(&cBand, products, filters.lowerBound, filters.upperBound, out.baseAddress!, bias,
                                    test.residual == 1 ? skip : nil, test.residual == 2 ? 1 : 0, 0, .infinity)
                }
                // Sums of at most 36 terms of magnitude at most 1: float rounding stays below 1e-5. The sentinels
                // are NaNs, which expectClose matches only with NaN, so an element written outside the range fails.
                expectClose(output, reference, rtol: 1e-5, atol: 1e-5, "\(test.name), \(instructionSet), stream \(stream)")
                outputs.append(output)
            }
            let difference = outputs[0].indices.first { outputs[0][$0].bitPattern != outputs[1][$0].bitPattern }
            #expect(difference == nil, "\(test.name), \(instructionSet): the streamed output differs at \(difference ?? -1)")
        }
    }
}
