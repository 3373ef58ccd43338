import CResinKernels

/// Winograd F(2x2, 3x3) at stride 2. Along one axis a 3x3 filter g at stride 2 gives
/// `y_i = g0 x_2i + g1 x_2i+1 + g2 x_2i+2`: the even inputs meet the two-tap filter (g0, g2) at stride 1, which
/// F(2, 2) on the points 0, 1 and infinity computes in 3 products, and the odd inputs meet the one tap g1, 2
/// products. So two outputs cost 5 products for 6, and a 2x2 output tile over a 5x5 input tile (stepping 4)
/// 25 for 36, every transform coefficient 0 or 1, so the transforms round no more than direct convolution
/// does. (The even/odd split is the phase decomposition of a strided convolution into stride-1 ones, each
/// then run as a small Winograd convolution.)
///
/// The input and output transforms are C kernels per instruction set (winograd_body.h holds B^T and A^T). G
/// has 5 rows of which the last two (the odd tap, once per odd input) are equal, so the 25 positions share
/// 16 distinct filters `U = G' g G'^T` with `G' = [[1, 0, 0], [1, 0, 1], [0, 0, 1], [0, 1, 0]]`: the
/// transforms lay out the positions of one filter side by side (1, 2 or 4 runs of tiles, `runs(ofFilter:)`),
/// and one product per filter multiplies them all.
extension Kernels {
    /// Transforms 3x3 filters `[M, C, 3, 3]` to the 16 distinct `U = G' g G'^T`, laid out `[16][M][C]`.
    public static func winogradStride2Weights(_ weight: UnsafePointer<Float>, filters: Int, channels: Int) -> [Float] {
        // Row i of G' g picks these taps of g (rows of the 3x3): g0, g0 + g2, g2, g1.
        let taps: [[Int]] = [[0], [0, 2], [2], [1]]
        return [Float](unsafeUninitializedCapacity: 16 * filters * channels) { out, initialized in
            let stride = filters * channels
            for filter in 0..<filters {
                for channel in 0..<channels {
                    let g = weight + (filter * channels + channel) * 9
                    let base = out.baseAddress! + filter * channels + channel
                    for i in 0..<4 {
                        for j in 0..<4 {
                            // Sums of two or four taps, in double precision and rounded once.
                            var sum = 0.0
                            for row in taps[i] { for column in taps[j] { sum += Double(g[row * 3 + column]) } }
                            base[(i * 4 + j) * stride] = Float(sum)
                        }
                    }
                }
            }
            initialized = 16 * filters * channels
        }
    }

    /// The 16 distinct transforms packed filter by filter for the packed kernel: `[16][ceil(M / 32)][C][32]`.
    public static func winogradStride2PackedWeights(_ weight: UnsafePointer<Float>, filters: Int, channels: Int) -> [Float] {
        let transforms = winogradStride2Weights(weight, filters: filters, channels: channels)
        return transforms.withUnsafeBufferPointer {
            PackedFilters.packWinograd($0.baseAddress!, positions: 16, filters: filters, channels: channels)
        }
    }

    /// Where distinct filter `filter` (0 ..< 16) keeps its positions in the transformed input and the products:
    /// runs `first ..< first + count` of the 25 (a run is one position's `[rows][tiles]`, stored as `count` runs
    /// of tiles per row), as `resin_winograd_s2_position` in winograd_body.h lays them out.
    static func runs(ofFilter filter: Int) -> (first: Int, count: Int) {
        let (i, j) = filter.quotientAndRemainder(dividingBy: 4)
        let rows = i == 3 ? 2 : 1, columns = j == 3 ? 2 : 1
        return (5 * i + rows * j, rows * columns)
    }
}
