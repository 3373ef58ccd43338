import ResinIR
import ResinRuntime

/// How tensors a caller gives are fitted to a model: which element types convert without loss, which inputs
/// are fixed for a session's life, and what batch and shapes a session is made for. `resin run`, `resin
/// verify` and `InferenceSession` share these rules.
package enum InputPolicy {
    /// Whether every value of type `source` has an exact value of type `target`: widening of floats and
    /// integers (float16 to float32, int32 to int64, uint8 to float32, ...). Narrowing such as float64 to
    /// float32 is refused, because it would change the input the caller gave.
    package static func convertsLosslessly(from source: DataType, to target: DataType) -> Bool {
        if source == target { return true }
        switch target {
        case .float: return [.float16, .int8, .uint8, .int16, .uint16].contains(source)
        case .double: return [.float, .float16, .int8, .uint8, .int16, .uint16, .int32, .uint32].contains(source)
        case .int64: return [.int8, .uint8, .int16, .uint16, .int32, .uint32, .bool].contains(source)
        case .int32: return [.int8, .uint8, .int16, .uint16, .bool].contains(source)
        default: return false
        }
    }

    /// `tensor` with elements of type `target`, when the conversion is lossless; nil otherwise.
    package static func converted(_ tensor: ResinIR.Tensor, to target: DataType) -> ResinIR.Tensor? {
        if tensor.dataType == target { return tensor }
        guard convertsLosslessly(from: tensor.dataType, to: target), let values = tensor.doubleValues else { return nil }
        // Every source value is exact in Double, and every conversion above keeps it exact in the target.
        func make<T: BitwiseCopyable>(_ convert: (Double) -> T) -> TensorStorage {
            let stride = MemoryLayout<T>.stride
            return TensorStorage(byteCount: values.count * stride) { out in
                for (index, value) in values.enumerated() { out.storeBytes(of: convert(value), toByteOffset: index * stride, as: T.self) }
            }
        }
        let storage: TensorStorage = switch target {
        case .float: make { Float($0) }
        case .double: make { $0 }
        case .int64: make { Int64($0) }
        default: make { Int32($0) }
        }
        return ResinIR.Tensor(name: tensor.name, dataType: target, shape: tensor.shape, storage: storage)
    }

    /// Whether an input given as `tensor` is fixed for the session rather than fed on every run. Integer
    /// and boolean inputs are shape arithmetic and indices more often than data, and scalars are parameters
    /// (a Clip bound, a Dropout ratio): fixing their values lets shapes and modes that depend on them resolve.
    package static func fixesByDefault(_ tensor: ResinIR.Tensor) -> Bool {
        let isFloat = tensor.dataType == .float || tensor.dataType == .double || tensor.dataType == .float16
        return !isFloat || tensor.shape.isEmpty
    }

    /// Session options for running `model` on `feeds`: their shapes bind symbolic dimensions, integer and
    /// scalar inputs are fixed, and the batch is `batch` or else the first input's leading dimension.
    package static func sessionOptions(
        _ base: SessionOptions, model: ResinIR.Model, feeds: [String: ResinIR.Tensor], batch: Int?
    ) -> SessionOptions {
        var options = base
        options.batch = batch
        for (name, tensor) in feeds {
            options.inputShapes[name] = tensor.shape
            if fixesByDefault(tensor) { options.fixedInputs[name] = tensor }
        }
        if batch == nil, let first = model.graph.runtimeInputs.first, let leading = feeds[first.name]?.shape.first {
            options.batch = leading
        }
        return options
    }

    /// Checks tensors against the types and shapes the model declares before a session is made for them,
    /// so that a wrong file is named with the input and both types and shapes. `files` says where each
    /// tensor came from.
    package static func checkDeclared(
        _ feeds: [String: ResinIR.Tensor], files: [String: String], model: ResinIR.Model, modelPath: String
    ) throws {
        for input in model.graph.runtimeInputs {
            guard let tensor = feeds[input.name], let type = input.type else { continue }
            let file = files[input.name] ?? "input file"
            let declaredType = type.elementType
            let typeFits = declaredType.map { convertsLosslessly(from: tensor.dataType, to: $0) } ?? true
            var shapeFits = true
            if let dimensions = type.dimensions {
                shapeFits = dimensions.count == tensor.shape.count
                    && zip(dimensions, tensor.shape).allSatisfy { dimension, size in dimension.value.map { $0 == size } ?? true }
            }
            guard typeFits, shapeFits else {
                let expected = (declaredType?.description ?? "any type") + " " + (type.dimensions.map(describe) ?? "[any shape]")
                var message = "\(file): input '\(input.name)' of \(modelPath): the model expects \(expected), found \(tensor.dataType) \(describe(tensor.shape))"
                if shapeFits, let declaredType { message += " (\(tensor.dataType) to \(declaredType) would lose precision)" }
                throw BindingError(message)
            }
        }
    }

    /// The feeds converted to the session's types, in its input order, with shapes checked; a mismatch names
    /// the file each tensor came from, when known. Feeds the session has fixed are left out.
    package static func conformed(
        _ feeds: [String: ResinIR.Tensor], to inputs: [TensorDescription], files: [String: String] = [:]
    ) throws -> [String: ResinIR.Tensor] {
        var result: [String: ResinIR.Tensor] = [:]
        for input in inputs {
            guard let tensor = feeds[input.name] else { throw RuntimeError.missingInput(name: input.name) }
            let converted = tensor.shape == input.shape ? converted(tensor, to: input.dataType) : nil
            guard let converted else {
                let mismatch = RuntimeError.inputMismatch(
                    name: input.name, expected: "\(input.dataType) \(describe(input.shape))", found: "\(tensor.dataType) \(describe(tensor.shape))")
                if let file = files[input.name] { throw BindingError("\(file): \(mismatch)") }
                throw mismatch
            }
            result[input.name] = converted
        }
        return result
    }
}
