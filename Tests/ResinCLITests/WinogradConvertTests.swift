import Foundation
import Resin
import ResinIR
import ResinONNX
import ResinRuntime
import Testing
import TestSupport

/// `convert` chooses Winograd F(4x4), F(2x2), the stride-2 F(2x2) or im2col from the shapes alone: a model with
/// one convolution of each kind is written as the same bytes under every RESIN_ISA the processor runs, and the
/// choices are there.
@Suite struct WinogradConvertTests {
    /// 3x3 convolutions the cost model sends to F(4x4) (32 channels, 28x28), F(2x2) (256 channels, 14x14),
    /// im2col (512 channels, 7x7) and, at stride 2, to the stride-2 F(2x2) (128 channels, 28x28 to 14x14) and
    /// direct (512 channels, 14x14 to 7x7), each on its own input.
    static func model() -> Model {
        var seed: UInt64 = 7
        func weights(_ name: String, _ shape: [Int]) -> Tensor {
            let count = shape.reduce(1, *)
            let values = (0..<count).map { _ -> Float in
                seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                return Float(Int(seed >> 40) % 2001 - 1000) / 20_000
            }
            return .floats(values, shape: shape, name: name)
        }
        let layers = [(name: "f4", channels: 32, size: 28, stride: 1), (name: "f2", channels: 256, size: 14, stride: 1),
                      (name: "direct", channels: 512, size: 7, stride: 1), (name: "s2", channels: 128, size: 28, stride: 2),
                      (name: "direct_s2", channels: 512, size: 14, stride: 2)]
        // The attributes as the file carries them, and the operator they read as.
        func attributes(_ stride: Int) -> [Attribute] {
            [Attribute(name: "strides", value: .ints([Int64(stride), Int64(stride)])), Attribute(name: "pads", value: .ints([1, 1, 1, 1]))]
        }
        func conv(_ stride: Int) -> Operator {
            .conv(ConvAttributes(window: WindowAttributes(strides: [stride, stride], pads: [1, 1, 1, 1])))
        }
        let graph = Graph(
            nodes: layers.map {
                Node(name: $0.name, opType: "Conv", inputs: [$0.name + "_x", $0.name + "_w"], outputs: [$0.name + "_y"],
                     attributes: attributes($0.stride), op: conv($0.stride))
            },
            inputs: layers.map { ValueInfo(name: $0.name + "_x", type: .tensor(.float, [1, $0.channels, $0.size, $0.size].map { .fixed($0) })) },
            outputs: layers.map { ValueInfo(name: $0.name + "_y", type: nil) },
            initializers: layers.map { weights($0.name + "_w", [$0.channels, $0.channels, 3, 3]) })
        return Model(irVersion: 8, opsetImports: [OpsetImport(domain: "", version: 13)], graph: graph)
    }

    @Test func choicesAndBytesDoNotDependOnTheInstructionSet() throws {
        let folder = try TemporaryFolder()
        try ONNXExporter.write(Self.model(), toPath: folder.file("model.onnx"))
        var files: [(String, Data)] = []
        for instructionSet in InstructionSet.supported {
            let output = folder.file("\(instructionSet).resin")
            let result = try runResin(["convert", folder.file("model.onnx"), output], environment: ["RESIN_ISA": "\(instructionSet)"])
            try #require(result.status == 0, "RESIN_ISA=\(instructionSet): \(result.standardError)")
            files.append(("\(instructionSet)", try Data(contentsOf: URL(fileURLWithPath: output))))
        }
        let (first, bytes) = try #require(files.first)
        for (instructionSet, other) in files.dropFirst() {
            #expect(other == bytes, "the file converted under \(instructionSet) differs from the one under \(first)")
        }
        let native = try ModelLoader.load(path: folder.file("\(first).resin"))
        var prepared: [String: String] = [:]
        for node in native.model.graph.nodes {
            if case .fusedConv(let fused) = node.op, node.inputs.count > 4 { prepared[node.name ?? ""] = fused.prepared.rawValue }
        }
        #expect(prepared["f4"] == "winograd4x4_packed")
        #expect(prepared["f2"] == "winograd_packed")
        #expect(prepared["direct"] == "packed")
        #expect(prepared["s2"] == "winograd_s2_packed")
        #expect(prepared["direct_s2"] == "packed")
    }
}
