import ResinIR

/// The type of a tensor's elements.
///
/// These are the element types Resin's models carry in their inputs, outputs and weights; the kernels run
/// `float32` arithmetic and index with the integer types.
public enum ElementType: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// IEEE 754 single precision, the type Resin computes in.
    case float32
    /// IEEE 754 half precision.
    case float16
    /// Brain floating point: float32's exponent with a 7-bit significand.
    case bfloat16
    /// IEEE 754 double precision.
    case float64
    /// Signed 8-bit integers.
    case int8
    /// Signed 16-bit integers.
    case int16
    /// Signed 32-bit integers.
    case int32
    /// Signed 64-bit integers, ONNX's type for shapes and indices.
    case int64
    /// Unsigned 8-bit integers.
    case uint8
    /// Unsigned 16-bit integers.
    case uint16
    /// Unsigned 32-bit integers.
    case uint32
    /// Unsigned 64-bit integers.
    case uint64
    /// Booleans, one byte each.
    case bool

    /// The bytes one element takes.
    public var byteCount: Int {
        switch self {
        case .int8, .uint8, .bool: 1
        case .float16, .bfloat16, .int16, .uint16: 2
        case .float32, .int32, .uint32: 4
        case .float64, .int64, .uint64: 8
        }
    }

    /// The ONNX name of the type, as `resin inspect` prints it (`float32`, `int64`, ...).
    public var description: String { rawValue }

    /// The public type of an IR element type; nil for types no public tensor carries (strings, 4-bit and
    /// 8-bit floats, complex numbers).
    package init?(_ dataType: DataType) {
        switch dataType {
        case .float: self = .float32
        case .float16: self = .float16
        case .bfloat16: self = .bfloat16
        case .double: self = .float64
        case .int8: self = .int8
        case .int16: self = .int16
        case .int32: self = .int32
        case .int64: self = .int64
        case .uint8: self = .uint8
        case .uint16: self = .uint16
        case .uint32: self = .uint32
        case .uint64: self = .uint64
        case .bool: self = .bool
        default: return nil
        }
    }

    /// The IR's element type.
    package var dataType: DataType {
        switch self {
        case .float32: .float
        case .float16: .float16
        case .bfloat16: .bfloat16
        case .float64: .double
        case .int8: .int8
        case .int16: .int16
        case .int32: .int32
        case .int64: .int64
        case .uint8: .uint8
        case .uint16: .uint16
        case .uint32: .uint32
        case .uint64: .uint64
        case .bool: .bool
        }
    }
}

/// A Swift type whose values can be a tensor's elements, stored as they are in memory (little-endian).
public protocol TensorElement: BitwiseCopyable, Sendable {
    /// The element type a tensor of this Swift type has.
    static var elementType: ElementType { get }
}

extension Float: TensorElement {
    /// `float32`.
    public static var elementType: ElementType { .float32 }
}

extension Double: TensorElement {
    /// `float64`.
    public static var elementType: ElementType { .float64 }
}

extension Int8: TensorElement {
    /// `int8`.
    public static var elementType: ElementType { .int8 }
}

extension Int16: TensorElement {
    /// `int16`.
    public static var elementType: ElementType { .int16 }
}

extension Int32: TensorElement {
    /// `int32`.
    public static var elementType: ElementType { .int32 }
}

extension Int64: TensorElement {
    /// `int64`.
    public static var elementType: ElementType { .int64 }
}

extension UInt8: TensorElement {
    /// `uint8`.
    public static var elementType: ElementType { .uint8 }
}

extension UInt16: TensorElement {
    /// `uint16`.
    public static var elementType: ElementType { .uint16 }
}

extension UInt32: TensorElement {
    /// `uint32`.
    public static var elementType: ElementType { .uint32 }
}

extension UInt64: TensorElement {
    /// `uint64`.
    public static var elementType: ElementType { .uint64 }
}

extension Bool: TensorElement {
    /// `bool`: one byte, 0 or 1, as ONNX stores it.
    public static var elementType: ElementType { .bool }
}

#if !((os(macOS) || targetEnvironment(macCatalyst)) && arch(x86_64))
// Swift has no Float16 on Intel Macs.
extension Float16: TensorElement {
    /// `float16`.
    public static var elementType: ElementType { .float16 }
}
#endif
