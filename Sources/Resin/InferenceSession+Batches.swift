/// Many inputs through a session compiled for a fixed batch: the "run N images through a batch-b session"
/// policy of `resin run`, for callers whose input count is not the session's batch.
extension InferenceSession {
    /// Runs inputs whose leading dimension is any count N through this session's batch b: in ceil(N/b)
    /// runs of b rows, the last padded with zero rows, and returns each output with its first N rows (the
    /// padding's rows dropped). Every input must have the session's shape but for the leading dimension,
    /// and all the same N; every output's leading dimension must be the batch.
    public func runInBatches(_ inputs: [String: Tensor]) throws(ResinError) -> [String: Tensor] {
        let plan = try batchPlan(inputs)
        var parts: [[String: Tensor]] = []
        for index in 0..<plan.batchCount { parts.append(try run(try plan.batch(index))) }
        return try plan.concatenated(parts)
    }

    /// `runInBatches(_:)` for a task: each batch runs as `run(_:) async` does, one after another.
    public func runInBatches(_ inputs: [String: Tensor]) async throws(ResinError) -> [String: Tensor] {
        let plan = try batchPlan(inputs)
        var parts: [[String: Tensor]] = []
        for index in 0..<plan.batchCount { parts.append(try await run(try plan.batch(index))) }
        return try plan.concatenated(parts)
    }

    /// Checks `inputs` against the session's inputs and says how they split.
    private func batchPlan(_ inputs: [String: Tensor]) throws(ResinError) -> BatchPlan {
        var rows: Int?
        var converted: [String: Tensor] = [:]
        for input in self.inputs {
            guard var tensor = inputs[input.name] else { throw .missingInput(name: input.name) }
            let shape = (input.shape ?? []).compactMap(\.value)
            let expected = "\(input.elementType.map { "\($0)" } ?? "any type") [N, " + shape.dropFirst().map(String.init).joined(separator: ", ") + "]"
            let actual = "\(tensor.elementType) [" + tensor.shape.map(String.init).joined(separator: ", ") + "]"
            guard !shape.isEmpty, tensor.shape.count == shape.count, tensor.shape.dropFirst().elementsEqual(shape.dropFirst()),
                  tensor.shape[0] >= 1, rows.map({ $0 == tensor.shape[0] }) ?? true else {
                throw .inputMismatch(name: input.name, expected: expected + (rows.map { " with N = \($0)" } ?? ""), actual: actual)
            }
            if let type = input.elementType, type != tensor.elementType {
                do {
                    tensor = try tensor.converted(to: type)
                } catch {
                    throw .inputMismatch(name: input.name, expected: expected, actual: actual)
                }
            }
            rows = tensor.shape[0]
            converted[input.name] = tensor
        }
        for name in inputs.keys where converted[name] == nil && options.fixedInputs[name] == nil {
            throw .unknownInput(name: name, inputs: self.inputs.map(\.name))
        }
        let batch = self.inputs.first?.shape?.first?.value ?? 1
        return BatchPlan(inputs: converted, rows: rows ?? batch, batch: batch, outputs: outputs)
    }
}

/// How inputs of N rows split into runs of a batch's rows, and how the outputs join again.
private struct BatchPlan {
    var inputs: [String: Tensor]
    var rows: Int
    var batch: Int
    var outputs: [TensorInfo]

    var batchCount: Int { (rows + batch - 1) / batch }

    /// The inputs of batch `index`: rows `index * batch` onwards, zero rows after the last.
    func batch(_ index: Int) throws(ResinError) -> [String: Tensor] {
        if rows == batch { return inputs }
        var result: [String: Tensor] = [:]
        for (name, tensor) in inputs {
            let rowBytes = tensor.byteCount / rows
            let first = index * batch, count = min(batch, rows - first)
            var shape = tensor.shape
            shape[0] = batch
            do {
                result[name] = try Tensor(shape: shape, elementType: tensor.elementType) { buffer in
                    // The storage starts zeroed, which pads a short last batch.
                    tensor.withUnsafeBytes { bytes in
                        buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[(first * rowBytes)..<((first + count) * rowBytes)]))
                    }
                }
            } catch {
                throw ResinError(error, path: name)
            }
        }
        return result
    }

    /// Each output's rows from every batch, in order, without the padding's rows.
    func concatenated(_ parts: [[String: Tensor]]) throws(ResinError) -> [String: Tensor] {
        if rows == batch, let only = parts.first { return only }
        var result: [String: Tensor] = [:]
        for output in outputs {
            let pieces = parts.compactMap { $0[output.name] }
            guard let first = pieces.first, pieces.count == parts.count, first.shape.first == batch else {
                throw .invalidModel(path: "", node: nil, operator: nil,
                                    reason: "output '\(output.name)' does not have the batch (\(batch)) as its leading dimension, so its rows cannot be split by input")
            }
            let rowBytes = first.byteCount / batch
            var shape = first.shape
            shape[0] = rows
            do {
                result[output.name] = try Tensor(shape: shape, elementType: first.elementType) { buffer in
                    for (index, piece) in pieces.enumerated() {
                        let count = min(batch, rows - index * batch)
                        piece.withUnsafeBytes { bytes in
                            let destination = UnsafeMutableRawBufferPointer(rebasing: buffer[(index * batch * rowBytes)...])
                            destination.copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes.prefix(count * rowBytes)))
                        }
                    }
                }
            } catch {
                throw ResinError(error, path: output.name)
            }
        }
        return result
    }
}
