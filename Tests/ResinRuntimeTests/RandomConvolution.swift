import ResinIR
import TestSupport
@testable import ResinRuntime

/// A random 2-D convolution for the kernel tests: groups, kernels of 1 to 3, strides, dilations, asymmetric
/// pads, odd sizes, and seeded input and filters. Drawn from `random` in a fixed order, so a seed always
/// gives the same case and the caller can go on drawing (bias, residual) from the same generator.
struct RandomConvolution {
    var input: [Int]
    var weight: [Int]
    var geometry: ConvolutionGeometry
    var x: [Float]
    var w: [Float]

    init(_ random: inout SplitMix64) throws {
        let group = [1, 1, 2, 3][Int(random.next() % 4)]
        let channelsPerGroup = 1 + Int(random.next() % 4)
        let filtersPerGroup = 1 + Int(random.next() % 4)
        let kernel = [1 + Int(random.next() % 3), 1 + Int(random.next() % 3)]
        let strides = [1 + Int(random.next() % 2), 1 + Int(random.next() % 3)]
        let dilations = [1 + Int(random.next() % 2), 1]
        let pads = (0..<4).map { _ in Int(random.next() % 3) }
        input = [1 + Int(random.next() % 2), group * channelsPerGroup, 5 + Int(random.next() % 9), 4 + Int(random.next() % 11)]
        weight = [group * filtersPerGroup, channelsPerGroup] + kernel
        let window = try WindowAttributes(strides: strides, dilations: dilations, pads: pads)
            .resolve(spatial: Array(input.dropFirst(2)), kernel: kernel)
        geometry = ConvolutionGeometry(batch: input[0], inputChannels: input[1], outputChannels: weight[0], group: group,
                                       inputSpatial: Array(input.dropFirst(2)), window: window)
        x = random.floats(input.reduce(1, *))
        w = random.floats(weight.reduce(1, *))
    }
}
