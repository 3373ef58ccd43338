import CResinKernels

/// Winograd F(4x4, 3x3) (Lavin and Gray, 2016) on the points 0, 1, -1, 1/2, -1/2 and infinity: each 4x4
/// output tile is `A^T [(G g G^T) . (B^T d B)] A` over a 6x6 input tile, 36 multiplies per tile for 144 direct
/// ones. The input and output transforms (of both tile sizes) are C kernels per instruction set
/// (winograd_body.h holds B^T and A^T); the filter transform runs here, once, when a file is written or a
/// session made.
///
/// The points 1/2 and -1/2 (rather than 2 and -2) keep A^T's entries at most 1 in magnitude, so the output
/// transform does not amplify the products' rounding; B^T's rows are scaled to integers and G divided to match.
extension Kernels {
    /// `G` (6x3), scaled to match the integer rows of B^T.
    static let winograd4x4G: [[Double]] = [
        [1, 0, 0], [1.0 / 6, 1.0 / 6, 1.0 / 6], [1.0 / 6, -1.0 / 6, 1.0 / 6],
        [-4.0 / 3, -2.0 / 3, -1.0 / 3], [-4.0 / 3, 2.0 / 3, -1.0 / 3], [0, 0, 0.25],
    ]

    /// Transforms 3x3 filters `[M, C, 3, 3]` to `U = G g G^T` in double precision, laid out `[36][M][C]`.
    public static func winograd4x4Weights(_ weight: UnsafePointer<Float>, filters: Int, channels: Int) -> [Float] {
        let g = winograd4x4G
        return [Float](unsafeUninitializedCapacity: 36 * filters * channels) { out, initialized in
            let stride = filters * channels
            withUnsafeTemporaryAllocation(of: Double.self, capacity: 18) { t in
                for filter in 0..<filters {
                    for channel in 0..<channels {
                        let w = weight + (filter * channels + channel) * 9
                        // t = G w (6x3), then u = t G^T (6x6).
                        for i in 0..<6 {
                            for column in 0..<3 {
                                t[i * 3 + column] = g[i][0] * Double(w[column]) + g[i][1] * Double(w[3 + column])
                                    + g[i][2] * Double(w[6 + column])
                            }
                        }
                        let base = out.baseAddress! + filter * channels + channel
                        for i in 0..<6 {
                            for j in 0..<6 {
                                base[(i * 6 + j) * stride] = Float(t[i * 3] * g[j][0] + t[i * 3 + 1] * g[j][1] + t[i * 3 + 2] * g[j][2])
                            }
                        }
                    }
                }
            }
            initialized = 36 * filters * channels
        }
    }

    /// F(4x4) transforms packed position by position for the packed kernel: `[36][ceil(M / 32)][C][32]`.
    public static func winograd4x4PackedWeights(_ weight: UnsafePointer<Float>, filters: Int, channels: Int) -> [Float] {
        let transforms = winograd4x4Weights(weight, filters: filters, channels: channels)
        return transforms.withUnsafeBufferPointer {
            PackedFilters.packWinograd($0.baseAddress!, positions: 36, filters: filters, channels: channels)
        }
    }
}
