extension Kernels {
    /// The definition of ONNX Conv, loop by loop: the reference the fast kernels are tested against. It sums
    /// in double precision, channel by channel and tap by tap within a channel, skipping taps that fall in the
    /// padding.
    ///
    /// The tests run it in unoptimised builds, where an array made inside the loops costs more than the
    /// arithmetic: each tap's place in the input plane is therefore found once per output position, before
    /// the loops over images, filters and channels, and nothing is allocated per multiply-accumulate.
    public static func referenceConvolution(
        input: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
        output: UnsafeMutablePointer<Float>, geometry: ConvolutionGeometry
    ) {
        let rank = geometry.inputSpatial.count
        let window = geometry.window
        let taps = geometry.kernelVolume
        // Each tap's displacement along every axis (kernel index x dilation), `rank` values per tap.
        var tapDisplacement = [Int](repeating: 0, count: taps * rank)
        for tap in 0..<taps {
            var rest = tap
            for axis in stride(from: rank - 1, through: 0, by: -1) {
                tapDisplacement[tap * rank + axis] = rest % window.kernel[axis] * window.dilations[axis]
                rest /= window.kernel[axis]
            }
        }
        // For the current output position: its window's origin per axis, and each tap's offset in an input
        // plane (-1 when the tap reads padding).
        var origin = [Int](repeating: 0, count: rank)
        var tapOffset = [Int](repeating: -1, count: taps)
        for position in 0..<geometry.outputPlane {
            var rest = position
            for axis in stride(from: rank - 1, through: 0, by: -1) {
                origin[axis] = rest % geometry.outputSpatial[axis] * window.strides[axis] - window.padsBegin[axis]
                rest /= geometry.outputSpatial[axis]
            }
            for tap in 0..<taps {
                var offset = 0
                for axis in 0..<rank {
                    let coordinate = origin[axis] + tapDisplacement[tap * rank + axis]
                    if coordinate < 0 || coordinate >= geometry.inputSpatial[axis] { offset = -1; break }
                    offset = offset * geometry.inputSpatial[axis] + coordinate
                }
                tapOffset[tap] = offset
            }
            for image in 0..<geometry.batch {
                for filter in 0..<geometry.outputChannels {
                    let group = filter / geometry.filtersPerGroup
                    var sum: Double = bias.map { Double($0[filter]) } ?? 0
                    for channel in 0..<geometry.channelsPerGroup {
                        let inputChannel = group * geometry.channelsPerGroup + channel
                        let plane = input + (image * geometry.inputChannels + inputChannel) * geometry.inputPlane
                        let filterTaps = weight + (filter * geometry.channelsPerGroup + channel) * taps
                        for tap in 0..<taps where tapOffset[tap] >= 0 {
                            sum += Double(plane[tapOffset[tap]]) * Double(filterTaps[tap])
                        }
                    }
                    output[(image * geometry.outputChannels + filter) * geometry.outputPlane + position] = Float(sum)
                }
            }
        }
    }
}
