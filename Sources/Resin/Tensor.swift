import ResinIR

/// An n-dimensional array of one element type: what a model takes and returns.
///
/// A tensor is a value: copies share their storage, which is never written once the tensor exists, so a
/// tensor may be passed between threads and tasks freely. Elements are kept as they are in memory on the
/// little-endian machines Resin runs on, in row-major order, 64-byte aligned.
public struct Tensor: Sendable, Equatable {
    /// The runtime's tensor, which the public one wraps without copying.
    package let value: ResinIR.Tensor

    /// The size of each dimension, outermost first; empty for a scalar.
    public var shape: [Int] { value.shape }
    /// The type of the elements.
    public let elementType: ElementType
    /// The number of elements: the product of the shape.
    public var elementCount: Int { value.elementCount }
    /// The bytes the elements take.
    public var byteCount: Int { elementCount * elementType.byteCount }

    /// A tensor of `shape` holding `elements` in row-major order (the storage is aligned for the kernels,
    /// so the elements are copied into it once).
    public init<Element: TensorElement>(shape: [Int], elements: [Element]) throws(ResinError) {
        try Self.check(shape: shape, elementType: Element.elementType, byteCount: elements.count * MemoryLayout<Element>.stride)
        let storage = elements.withUnsafeBytes { TensorStorage(copying: $0) }
        self.init(checked: ResinIR.Tensor(name: nil, dataType: Element.elementType.dataType, shape: shape, storage: storage),
                  elementType: Element.elementType)
    }

    /// A tensor of `shape` and `elementType` whose elements are `bytes`: little-endian, row-major, exactly
    /// `shape`'s element count times the element size. The bytes are copied.
    public init(shape: [Int], elementType: ElementType, bytes: UnsafeRawBufferPointer) throws(ResinError) {
        try Self.check(shape: shape, elementType: elementType, byteCount: bytes.count)
        self.init(checked: ResinIR.Tensor(name: nil, dataType: elementType.dataType, shape: shape, storage: TensorStorage(copying: bytes)),
                  elementType: elementType)
    }

    /// A tensor of `shape` and `elementType` whose elements `initialize` writes straight into the tensor's
    /// own storage: no copy, for callers that decode or generate their data (an image decoder, say). The
    /// buffer is zeroed before `initialize` runs.
    public init(
        shape: [Int], elementType: ElementType, initializingWith initialize: (UnsafeMutableRawBufferPointer) throws -> Void
    ) throws {
        guard let count = ResinIR.elementCount(of: shape), shape.allSatisfy({ $0 >= 0 }) else {
            throw ResinError.invalidTensor(reason: "shape \(describe(shape)) has a negative dimension or too many elements")
        }
        let (byteCount, overflow) = count.multipliedReportingOverflow(by: elementType.byteCount)
        guard !overflow else { throw ResinError.invalidTensor(reason: "shape \(describe(shape)) has too many bytes") }
        let storage = try TensorStorage(byteCount: byteCount) { buffer in
            buffer.initializeMemory(as: UInt8.self, repeating: 0)
            try initialize(buffer)
        }
        self.init(checked: ResinIR.Tensor(name: nil, dataType: elementType.dataType, shape: shape, storage: storage), elementType: elementType)
    }

    /// Reads the tensor in a NumPy `.npy` or ONNX `TensorProto` `.pb` file, chosen by the extension.
    public init(contentsOf path: String) throws(ResinError) {
        let value: ResinIR.Tensor
        do {
            value = try TensorFile.read(path: path)
        } catch {
            throw .unreadableFile(path: path, reason: Self.reason(error, path))
        }
        guard let tensor = Tensor(value) else {
            throw .unreadableFile(path: path, reason: "element type \(value.dataType) is not one a tensor holds")
        }
        self = tensor
    }

    /// Writes the tensor to `path` as NumPy `.npy` or ONNX `TensorProto` `.pb`, chosen by the extension,
    /// atomically (on failure nothing is left at `path`).
    public func write(to path: String) throws(ResinError) {
        do {
            try TensorFile.write(value, to: path)
        } catch {
            throw .writeFailed(path: path, reason: Self.reason(error, path))
        }
    }

    /// An error's message without the path its layer put in front.
    private static func reason(_ error: any Error, _ path: String) -> String {
        let message = "\(error)"
        return message.hasPrefix(path + ": ") ? String(message.dropFirst(path.count + 2)) : message
    }

    /// Wraps a runtime tensor whose type has a public name and whose bytes fill its shape.
    package init(checked value: ResinIR.Tensor, elementType: ElementType) {
        self.value = value
        self.elementType = elementType
    }

    /// Wraps a runtime tensor (a run's output, say); nil when its element type has no public name.
    package init?(_ value: ResinIR.Tensor) {
        guard let type = ElementType(value.dataType), value.storage.byteCount >= value.elementCount * type.byteCount else { return nil }
        self.init(checked: value, elementType: type)
    }

    /// The elements as a Swift array of their type; throws when `Element` is not the tensor's type.
    public func elements<Element: TensorElement>(as type: Element.Type = Element.self) throws(ResinError) -> [Element] {
        guard Element.elementType == elementType else {
            throw ResinError.invalidTensor(reason: "the tensor holds \(elementType) elements, not \(Element.elementType)")
        }
        let count = elementCount
        return withUnsafeBytes { bytes in
            [Element](unsafeUninitializedCapacity: count) { buffer, initialized in
                UnsafeMutableRawBufferPointer(buffer).copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes.prefix(count * MemoryLayout<Element>.stride)))
                initialized = count
            }
        }
    }

    /// Calls `body` with the elements' bytes (little-endian, row-major), without copying them. The pointer
    /// is valid only inside `body`.
    public func withUnsafeBytes<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        try withExtendedLifetime(value.storage) {
            try body(UnsafeRawBufferPointer(rebasing: value.storage.bytes.prefix(byteCount)))
        }
    }

    /// The tensor with elements of `type`, when every element converts exactly (float16 to float32, int32 to
    /// int64, uint8 to float32, ...); a narrowing such as float64 to float32 throws
    /// `ResinError.invalidTensor`, since it would change the values.
    public func converted(to type: ElementType) throws(ResinError) -> Tensor {
        guard let converted = InputPolicy.converted(value, to: type.dataType) else {
            throw ResinError.invalidTensor(reason: "\(elementType) elements do not convert to \(type) without loss")
        }
        return Tensor(checked: converted, elementType: type)
    }

    /// Whether two tensors have the same shape, element type and bytes.
    public static func == (lhs: Tensor, rhs: Tensor) -> Bool {
        lhs.elementType == rhs.elementType && lhs.shape == rhs.shape
            && lhs.withUnsafeBytes { left in rhs.withUnsafeBytes { right in left.elementsEqual(right) } }
    }

    /// Throws unless `shape` is valid and `byteCount` bytes of `elementType` fill it exactly.
    private static func check(shape: [Int], elementType: ElementType, byteCount: Int) throws(ResinError) {
        guard shape.allSatisfy({ $0 >= 0 }), let count = ResinIR.elementCount(of: shape) else {
            throw ResinError.invalidTensor(reason: "shape \(describe(shape)) has a negative dimension or too many elements")
        }
        guard count.multipliedReportingOverflow(by: elementType.byteCount) == (byteCount, false) else {
            throw ResinError.invalidTensor(
                reason: "shape \(describe(shape)) holds \(count) \(elementType) elements, but \(byteCount) bytes were given")
        }
    }
}
