// classify MODEL [INPUT]: runs an image classifier on one input and prints its five best classes.
//
// MODEL is an .onnx or .resin file; INPUT a .npy or .pb tensor of the model's input shape. Without INPUT the
// example makes a deterministic test pattern, which shows how to fill a tensor without an extra copy.
import Resin

#if canImport(Glibc)
import Glibc
#endif

/// Prints `message` on standard error and exits with `code`.
func fail(_ message: String, code: Int32 = 2) -> Never {
    let line = Array("classify: \(message)\n".utf8)
    line.withUnsafeBytes { _ = write(STDERR_FILENO, $0.baseAddress, $0.count) }
    exit(code)
}

let arguments = CommandLine.arguments.dropFirst()
guard let modelPath = arguments.first, arguments.count <= 2 else { fail("usage: classify MODEL [INPUT]", code: 64) }

do {
    let model = try Model(contentsOf: modelPath)
    guard let input = model.inputs.first, let output = model.outputs.first else { fail("\(modelPath): the model has no inputs or outputs") }

    let tensor: Tensor
    if arguments.count == 2 {
        tensor = try Tensor(contentsOf: arguments[arguments.index(after: arguments.startIndex)])
    } else {
        // A symbolic batch becomes 1; the pattern is written straight into the tensor's own storage.
        let shape = (input.shape ?? []).map { $0.value ?? 1 }
        tensor = try Tensor(shape: shape, elementType: .float32) { buffer in
            let floats = buffer.bindMemory(to: Float.self)
            for index in floats.indices { floats[index] = Float(index % 251) / 125 - 1 }
        }
    }

    // One image, one thread: the options the input's shape implies.
    let options = InferenceSession.Options(threads: 1).fitting([input.name: tensor], of: model)
    let session = try InferenceSession(model: model, options: options)
    guard let scores = try session.run([input.name: tensor])[output.name] else { fail("no output '\(output.name)'") }

    let values = try scores.elements(as: Float.self)
    let classes = scores.shape.last ?? values.count
    let best = values.prefix(classes).indices.sorted { values[$0] > values[$1] || (values[$0] == values[$1] && $0 < $1) }.prefix(5)
    print("\(model.name): \(input.name) \(tensor.shape) -> \(output.name) \(scores.shape)")
    for (rank, index) in best.enumerated() {
        print("top-\(rank + 1): class \(index) score \(values[index])")
    }
} catch let error as ResinError {
    fail(error.description)
} catch {
    fail("\(error)")
}
