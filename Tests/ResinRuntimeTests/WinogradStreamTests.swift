import CResinKernels
import Testing
import TestSupport
@testable import ResinRuntime

/// The phased schedule's bands on more than one thread write their outputs through a stack buffer, whole cache
/// lines with non-temporal stores (`resin_winograd_band.stream`). Those writes must put the same floats in the
/// same places as the plain stores, and nothing anywhere else: the output transform runs on a range of filters
/// whose planes start and end off a cache line, under every instruction set, and its whole output (sentinels
/// around the range included) is compared bit for bit with the plain run's.
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

    @Test(arguments: cases)
    func streamedOutputsMatchThePlainStores(_ test: Case) throws {
        var random = SplitMix64(seed: test.channels * 97 + test.filters)
        let outHeight = (test.height + 2 - 3) / test.stride + 1, outWidth = (test.width + 2 - 3) / test.stride + 1
        let tileColumns = (outWidth + test.tile - 1) / test.tile
        try #require(test.firstTileRow + test.tileRows <= (outHeight + test.tile - 1) / test.tile)
        let positions = test.stride == 2 ? 25 : (test.tile + 2) * (test.tile + 2)
        let tiles = test.tileRows * tileColumns
        let products = random.floats(positions * test.filters * tiles)
        let bias = random.floats(test.filters)
        let skip = random.floats(test.filters * outHeight * outWidth)
        let sentinel = Float(bitPattern: 0x7FC0_1234)
        func band(stream: Int32) -> resin_winograd_band {
            resin_winograd_band(channels: test.channels, filters: test.filters, height: test.height, width: test.width,
                                pad_top: 1, pad_left: 1, out_height: outHeight, out_width: outWidth,
                                first_tile_row: test.firstTileRow, tile_rows: test.tileRows, tile_columns: tileColumns,
                                stream: stream)
        }
        // Planes of 143 (the band: 66 of them), 210, 80 and 108 floats: the range starts and ends off a cache line.
        let filters = 2..<(test.filters - 1)
        for instructionSet in InstructionSet.supported {
            let kernels = instructionSet.kernels.pointee
            let outputTransform = try #require(test.stride == 2 ? kernels.winograd2s2_output
                : test.tile == 4 ? kernels.winograd4_output : kernels.winograd2_output)
            let untouched = test.residual == 2 ? skip : [Float](repeating: sentinel, count: skip.count)
            var outputs: [[Float]] = []
            for stream: Int32 in [0, 1] {
                var cBand = band(stream: stream)
                var output = untouched
                output.withUnsafeMutableBufferPointer { out in
                    outputTransform(&cBand, products, filters.lowerBound, filters.upperBound, out.baseAddress!, bias,
                                    test.residual == 1 ? skip : nil, test.residual == 2 ? 1 : 0, 0, .infinity)
                }
                outputs.append(output)
            }
            // The plain run wrote the range (so the comparison is not of two untouched arrays).
            #expect(outputs[0].indices.contains { outputs[0][$0].bitPattern != untouched[$0].bitPattern })
            let difference = outputs[0].indices.first { outputs[0][$0].bitPattern != outputs[1][$0].bitPattern }
            #expect(difference == nil, "\(test.name), \(instructionSet): the streamed output differs at \(difference ?? -1)")
        }
    }
}
