import CAllocationCounter
import CResinKernels
import ResinIR
import Testing
import TestSupport
@testable import ResinRuntime

/// Resin's direct grouped convolution (`Kernels.groupedConvolution`, reached through `Kernels.convolution`)
/// under every instruction set this processor runs and 1, 2 and 3 threads, against the double-precision
/// reference convolution with the epilogue applied by the Swift rules.
@Suite struct GroupedConvolutionKernelTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var seed: Int
        var testDescription: String { "seed \(seed)" }
    }

    enum Residual: CaseIterable { case none, separate, inPlace }

    /// One grouped convolution with its operands and the expected output.
    struct Problem {
        var geometry: ConvolutionGeometry
        var x: [Float]
        var w: [Float]
        var bias: [Float]?
        var skip: [Float]?
        var residual: Residual
        var activation: FusedActivation
        var expected: [Float]
        var taps: Int { geometry.columnRows }

        init(geometry: ConvolutionGeometry, random: inout SplitMix64, hasBias: Bool, residual: Residual, activation: FusedActivation) {
            self.geometry = geometry
            self.residual = residual
            self.activation = activation
            x = random.floats(geometry.batch * geometry.inputChannels * geometry.inputPlane)
            w = random.floats(geometry.outputChannels * geometry.columnRows)
            bias = hasBias ? random.floats(geometry.outputChannels) : nil
            let count = geometry.batch * geometry.outputChannels * geometry.outputPlane
            skip = residual == .none ? nil : random.floats(count)
            expected = Self.expected(geometry: geometry, x: x, w: w, bias: bias, skip: skip, activation: activation)
        }

        /// The reference convolution, then the residual and the activation by the Swift epilogue's rules.
        static func expected(
            geometry: ConvolutionGeometry, x: [Float], w: [Float], bias: [Float]?, skip: [Float]?, activation: FusedActivation
        ) -> [Float] {
            var expected = [Float](repeating: 0, count: geometry.batch * geometry.outputChannels * geometry.outputPlane)
            Kernels.referenceConvolution(input: x, weight: w, bias: bias, output: &expected, geometry: geometry)
            let (minimum, maximum): (Float, Float)
            switch activation {
            case .none: (minimum, maximum) = (-.infinity, .infinity)
            case .relu: (minimum, maximum) = (0, .infinity)
            case .clip(let low, let high): (minimum, maximum) = (low, high)
            }
            for index in expected.indices {
                var value = expected[index] + (skip?[index] ?? 0)
                if value < minimum { value = minimum }
                if value > maximum { value = maximum }
                expected[index] = value
            }
            return expected
        }

        /// The output `Kernels.convolution` gives under one instruction set and pool.
        func run(_ instructionSet: InstructionSet, pool: WorkerPool) -> [Float] {
            var output = residual == .inPlace ? skip! : [Float](repeating: .nan, count: expected.count)
            var workspace = [Float](repeating: .nan, count: max(1, geometry.workspaceElements))
            let separate = skip ?? [], biases = bias ?? []
            output.withUnsafeMutableBufferPointer { out in
                separate.withUnsafeBufferPointer { residualValues in
                    biases.withUnsafeBufferPointer { b in
                        let skipPointer: UnsafePointer<Float>? = switch residual {
                        case .none: nil
                        case .separate: residualValues.baseAddress
                        case .inPlace: UnsafePointer(out.baseAddress)
                        }
                        let epilogue = ConvolutionEpilogue(bias: bias == nil ? nil : b.baseAddress, skip: skipPointer, activation: activation)
                        Kernels.convolution(input: x, weight: w, output: out.baseAddress!, geometry: geometry, epilogue: epilogue,
                                            workspace: &workspace, pool: pool, instructionSet: instructionSet)
                    }
                }
            }
            return output
        }
    }

    /// Each case makes its own pools: cases run concurrently, and a pool runs one caller's tasks at a time.
    static func pools() -> [WorkerPool] { [WorkerPool.serial, WorkerPool(threads: 2), WorkerPool(threads: 3)] }

    static func geometry(
        batch: Int, group: Int, channelsPerGroup: Int, filtersPerGroup: Int, height: Int, width: Int, kernel: [Int],
        strides: [Int], dilations: [Int], pads: [Int]
    ) throws -> ConvolutionGeometry {
        let window = try WindowAttributes(strides: strides, dilations: dilations, pads: pads)
            .resolve(spatial: [height, width], kernel: kernel)
        return ConvolutionGeometry(batch: batch, inputChannels: group * channelsPerGroup, outputChannels: group * filtersPerGroup,
                                   group: group, inputSpatial: [height, width], window: window)
    }

    /// Seeded shapes: 2 to 32 groups of 1 (depthwise), 3, 4, 8, 16 and 32 channels, 1 to 13 filters per group
    /// (every remainder of the 4-filter tile, and the even blocks of the 6-filter one: 7 as 4 + 3, 13 as
    /// 5 + 4 + 4), output widths 1 to 33 (every remainder of 8- and 16-float vectors), kernels 1, 3 and 5 (1
    /// and 3 from 16 channels) on either axis, strides 1 and 2, dilation 1 and 2, asymmetric pads, batch 1 to 3,
    /// with or without bias, no residual, a separate one or one accumulated in place, and no activation, Relu or
    /// Clip.
    @Test(arguments: (0..<60).map(Case.init))
    func matchesTheReference(_ test: Case) throws {
        var random = SplitMix64(seed: test.seed * 6_364_136 + 17)
        let channelsPerGroup = [1, 3, 4, 8, 16, 32][test.seed % 6]
        let group = 2 + Int(random.next() % (channelsPerGroup >= 16 ? 3 : 31))
        let filtersPerGroup = 1 + Int(random.next() % 13)
        // 5x5 kernels only on the smaller groups, to keep the double-precision reference quick.
        let kernel = (0..<2).map { _ in [1, 3, 5][Int(random.next() % (channelsPerGroup >= 16 ? 2 : 3))] }
        let strides = (0..<2).map { _ in 1 + Int(random.next() % 2) }
        let dilations = (0..<2).map { _ in 1 + Int(random.next() % 4 == 0 ? 1 : 0) }
        let pads = (0..<4).map { _ in Int(random.next() % 3) }
        // Input sizes that give the wanted output sizes (at least one input row or column).
        let outputWidth = 1 + test.seed % 33
        let outputHeight = 1 + Int(random.next() % (channelsPerGroup >= 16 ? 5 : 9))
        let width = max(1, (outputWidth - 1) * strides[1] + (kernel[1] - 1) * dilations[1] + 1 - pads[1] - pads[3])
        let height = max(1, (outputHeight - 1) * strides[0] + (kernel[0] - 1) * dilations[0] + 1 - pads[0] - pads[2])
        let batch = [1, 1, 2, 3][Int(random.next() % 4)]
        let geometry = try Self.geometry(batch: batch, group: group, channelsPerGroup: channelsPerGroup, filtersPerGroup: filtersPerGroup,
                                         height: height, width: width, kernel: kernel, strides: strides, dilations: dilations, pads: pads)
        try #require(geometry.outputPlane > 0)
        let residual = Residual.allCases[test.seed % 3]
        let activation: FusedActivation = [.none, .relu, .clip(min: -0.5, max: 0.75)][test.seed / 3 % 3]
        let hasBias = random.next() % 3 != 0
        let problem = Problem(geometry: geometry, random: &random, hasBias: hasBias, residual: residual, activation: activation)
        let description = "\(group) groups of \(channelsPerGroup) -> \(filtersPerGroup), \(batch)x\(height)x\(width) -> "
            + "\(geometry.outputSpatial), kernel \(kernel) strides \(strides) dilations \(dilations) pads \(pads), \(residual), \(activation)"
        let pools = Self.pools()
        for instructionSet in InstructionSet.supported {
            for pool in pools {
                expectClose(problem.run(instructionSet, pool: pool), problem.expected, rtol: 1e-4,
                            atol: 1e-4 * Float(problem.taps).squareRoot(), "\(instructionSet), \(pool.threads) threads, \(description)")
            }
        }
    }

    /// ResNeXt-50 32x4d's grouped layers at reduced map sizes that keep every width remainder its real maps
    /// have (56, 28, 14 and 7 wide, and the stride-2 first blocks), with bias and Relu as the fused graph runs them.
    @Test(arguments: [(4, 56, 1), (4, 56, 2), (8, 28, 1), (8, 56, 2), (16, 14, 1), (16, 28, 2), (32, 7, 1), (32, 14, 2)])
    func matchesTheReferenceOnResNeXtShapes(_ channelsPerGroup: Int, _ width: Int, _ stride: Int) throws {
        var random = SplitMix64(seed: channelsPerGroup * 1000 + width * 10 + stride)
        let geometry = try Self.geometry(batch: 1, group: 4, channelsPerGroup: channelsPerGroup, filtersPerGroup: channelsPerGroup,
                                         height: 2 * stride + 3, width: width, kernel: [3, 3], strides: [stride, stride],
                                         dilations: [1, 1], pads: [1, 1, 1, 1])
        let problem = Problem(geometry: geometry, random: &random, hasBias: true, residual: .none, activation: .relu)
        for instructionSet in InstructionSet.supported {
            for pool in Self.pools() {
                expectClose(problem.run(instructionSet, pool: pool), problem.expected, rtol: 1e-4,
                            atol: 1e-4 * Float(problem.taps).squareRoot(), "\(instructionSet), \(pool.threads) threads")
            }
        }
    }

    /// Maps at most half an AVX-512 vector wide run on flat phase planes, a vector covering several output rows
    /// (grouped_conv_band.h). Maps taller than one band of those planes, strides 1 and 2, dilation 2 and a
    /// residual in place or separate: every run of lanes lands on its own output row.
    @Test(arguments: [(32, 7, 70, 1, 1, Residual.inPlace), (64, 7, 20, 2, 1, .separate), (64, 5, 40, 1, 2, .inPlace),
                      (32, 8, 30, 2, 2, .separate)])
    func narrowMapsRunInBandsOfFlatRows(
        _ channelsPerGroup: Int, _ outputWidth: Int, _ outputHeight: Int, _ stride: Int, _ dilation: Int, _ residual: Residual
    ) throws {
        var random = SplitMix64(seed: channelsPerGroup * 100 + outputWidth * 10 + stride)
        let extent = 2 * dilation + 1
        let geometry = try Self.geometry(
            batch: 2, group: 2, channelsPerGroup: channelsPerGroup, filtersPerGroup: 5,
            height: (outputHeight - 1) * stride + extent - 2, width: (outputWidth - 1) * stride + extent - 2, kernel: [3, 3],
            strides: [stride, stride], dilations: [dilation, dilation], pads: [1, 1, 1, 1])
        #expect(geometry.outputSpatial == [outputHeight, outputWidth])
        var shape = ConvolutionGeometry.directShape(channelsPerGroup, 5, geometry.inputSpatial, geometry.window)
        let bandRows = resin_grouped_conv_flat_band_rows(&shape, 16)
        #expect(bandRows > 0, "the shape must take the flat layout")
        #expect(bandRows < outputHeight, "the map must take several bands")
        let problem = Problem(geometry: geometry, random: &random, hasBias: true, residual: residual, activation: .relu)
        for instructionSet in InstructionSet.supported {
            for pool in Self.pools() {
                expectClose(problem.run(instructionSet, pool: pool), problem.expected, rtol: 1e-4,
                            atol: 1e-4 * Float(problem.taps).squareRoot(), "\(instructionSet), \(pool.threads) threads")
            }
        }
    }

    /// Clip's NaN rules, as the Swift epilogue has them: a NaN input value passes through, and a NaN bound
    /// clamps nothing.
    @Test func followsClipNaNRules() throws {
        var random = SplitMix64(seed: 99)
        let geometry = try Self.geometry(batch: 1, group: 4, channelsPerGroup: 2, filtersPerGroup: 3, height: 6, width: 19,
                                         kernel: [3, 3], strides: [1, 1], dilations: [1, 1], pads: [1, 1, 1, 1])
        for activation: FusedActivation in [.clip(min: .nan, max: 0.25), .clip(min: -0.25, max: .nan)] {
            var problem = Problem(geometry: geometry, random: &random, hasBias: true, residual: .separate, activation: activation)
            problem.x[3 * geometry.inputPlane + 40] = .nan
            problem.expected = Problem.expected(geometry: geometry, x: problem.x, w: problem.w, bias: problem.bias, skip: problem.skip,
                                                activation: activation)
            let recomputed = problem.expected
            #expect(recomputed.contains { $0.isNaN }, "the reference passes the NaN input on")
            for instructionSet in InstructionSet.supported {
                expectClose(problem.run(instructionSet, pool: .serial), recomputed, rtol: 1e-4, atol: 1e-4, "\(instructionSet), \(activation)")
            }
        }
    }

    /// Shapes the direct kernels do not take still compute right, through im2col: rows too wide for the
    /// kernels' stack buffer, and a 1-D grouped convolution.
    @Test func shapesTheKernelsDoNotTakeFallBack() throws {
        var random = SplitMix64(seed: 5)
        let wide = try Self.geometry(batch: 1, group: 2, channelsPerGroup: 8, filtersPerGroup: 2, height: 5, width: 700,
                                     kernel: [5, 3], strides: [1, 1], dilations: [1, 1], pads: [2, 1, 2, 1])
        var shape = resin_grouped_conv_shape()
        shape.channels = 8; shape.filters = 2; shape.input_height = 5; shape.input_width = 700
        shape.output_height = 5; shape.output_width = 700; shape.kernel_height = 5; shape.kernel_width = 3
        shape.stride_height = 1; shape.stride_width = 1; shape.dilation_height = 1; shape.dilation_width = 1
        #expect(resin_grouped_conv_supported(&shape) == 0, "the wide case must exercise the fallback")
        let window = try WindowAttributes(strides: [2], pads: [1, 0]).resolve(spatial: [23], kernel: [3])
        let oneDimensional = ConvolutionGeometry(batch: 2, inputChannels: 6, outputChannels: 9, group: 3, inputSpatial: [23],
                                                 window: window)
        for geometry in [wide, oneDimensional] {
            let problem = Problem(geometry: geometry, random: &random, hasBias: true, residual: .inPlace, activation: .relu)
            for instructionSet in InstructionSet.supported {
                expectClose(problem.run(instructionSet, pool: .serial), problem.expected, rtol: 1e-4, atol: 1e-3,
                            "\(instructionSet), \(geometry.inputSpatial)")
            }
        }
    }

    /// The kernel and its threads touch no heap during a run (the executor's contract).
    @Test(.enabled(if: resin_allocation_counting_available() != 0, "a sanitizer's runtime owns malloc: nothing is counted"))
    func allocatesNothing() throws {
        var random = SplitMix64(seed: 7)
        let geometry = try Self.geometry(batch: 2, group: 8, channelsPerGroup: 4, filtersPerGroup: 4, height: 14, width: 14,
                                         kernel: [3, 3], strides: [1, 1], dilations: [1, 1], pads: [1, 1, 1, 1])
        let problem = Problem(geometry: geometry, random: &random, hasBias: true, residual: .separate, activation: .relu)
        let x = UnsafeMutablePointer<Float>.allocate(capacity: problem.x.count)
        let w = UnsafeMutablePointer<Float>.allocate(capacity: problem.w.count)
        let bias = UnsafeMutablePointer<Float>.allocate(capacity: geometry.outputChannels)
        let y = UnsafeMutablePointer<Float>.allocate(capacity: problem.expected.count)
        defer { x.deallocate(); w.deallocate(); bias.deallocate(); y.deallocate() }
        x.initialize(from: problem.x, count: problem.x.count)
        w.initialize(from: problem.w, count: problem.w.count)
        bias.initialize(from: problem.bias!, count: geometry.outputChannels)
        // Threads started inside the group are counted with the test's own.
        resin_allocation_group_join()
        defer { resin_allocation_group_leave() }
        let pool = WorkerPool(threads: 2)
        let epilogue = ConvolutionEpilogue(bias: bias, skip: nil, activation: .relu)
        for instructionSet in InstructionSet.supported {
            let run = {
                Kernels.convolution(input: x, weight: w, output: y, geometry: geometry, epilogue: epilogue, workspace: nil,
                                    pool: pool, instructionSet: instructionSet)
            }
            run()
            resin_allocation_counting_begin()
            run()
            let allocations = resin_allocation_counting_end()
            #expect(allocations == 0, "\(instructionSet) allocated \(allocations) times")
        }
    }
}
