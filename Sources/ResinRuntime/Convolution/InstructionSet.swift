import CResinKernels

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The instruction sets Resin's own kernels (`CResinKernels`) are written for, lowest first.
///
/// The kernel table is filled once per process from the processor's features and the environment variable
/// `RESIN_ISA`; Swift asks the table which set is in use and never asks the processor. Whatever the set,
/// packed filters have one layout, so what a converter writes and what a session computes with do not depend
/// on it (beyond rounding).
public enum InstructionSet: Int, CaseIterable, Comparable, Sendable, CustomStringConvertible {
    /// Plain C, on any processor.
    case portable = 0
    /// AVX2 with FMA (x86-64 since Haswell and Zen).
    case avx2 = 1
    /// AVX-512F.
    case avx512 = 2

    /// The set's name as `RESIN_ISA` spells it.
    public var description: String { String(cString: resin_isa_name(cValue)) }

    public static func < (lhs: InstructionSet, rhs: InstructionSet) -> Bool { lhs.rawValue < rhs.rawValue }

    /// The set the kernels use in this process: `RESIN_ISA` when it names one the processor runs, else the
    /// best the processor runs.
    public static let active: InstructionSet = InstructionSet(resin_kernels().pointee.isa)

    /// The sets this processor runs, lowest first (always `portable`).
    public static let supported: [InstructionSet] = sets(inMask: resin_isa_supported_mask())

    /// The processor's model name, or "unknown processor".
    public static let processorName: String = {
        let name = String(cString: resin_processor_name())
        return name.isEmpty ? "unknown processor" : name
    }()

    /// Why the `RESIN_ISA` this process started with could not be honoured, or nil when it was (or is unset).
    /// The kernels then run on the best set the processor has; the command line refuses to run instead.
    public static let requestError: InstructionSetError? = {
        let status = resin_isa_request_status()
        guard status != RESIN_ISA_OK, let requested = getenv("RESIN_ISA") else { return nil }
        return InstructionSetError(requested: String(cString: requested), isUnknown: status == RESIN_ISA_UNKNOWN,
                                   supported: supported, processorName: processorName)
    }()

    /// The set a `RESIN_ISA` value asks for on a processor that runs `supported` (nil or empty: the best
    /// of them). The same rule the kernel table applies; tests pass other processors' sets.
    public static func choose(
        requested: String?, supported: [InstructionSet], processorName: String
    ) throws(InstructionSetError) -> InstructionSet {
        let mask = supported.reduce(UInt32(0)) { $0 | (1 << UInt32($1.rawValue)) }
        var chosen = RESIN_ISA_PORTABLE
        let status = resin_isa_choose(requested, mask, &chosen)
        guard status == RESIN_ISA_OK else {
            throw InstructionSetError(requested: requested ?? "", isUnknown: status == RESIN_ISA_UNKNOWN,
                                      supported: sets(inMask: mask), processorName: processorName)
        }
        return InstructionSet(chosen)
    }

    /// The kernels of this set. Requires the processor to run it (`supported`); the C side stops the
    /// process otherwise. No Swift precondition here: its message closure allocates in debug builds, and
    /// this runs in every inference, which must not allocate.
    var kernels: UnsafePointer<resin_kernel_table> { resin_kernels_for(cValue) }

    /// `C[m x n] = W * B` (`+=` when `accumulate`) over the output channels of `panels`, with W packed
    /// (`PackedFilters`), B row-major `k x n` with row stride `ldb`, C row-major with row stride `ldc`. `next`: the
    /// packed W of the product this thread runs next (same `m`, `k` and panels), fetched ahead (`resin_packed_gemm_fn`).
    func packedGEMM(
        m: Int, n: Int, k: Int, panels: Range<Int>, packed: UnsafePointer<Float>, b: UnsafePointer<Float>, ldb: Int,
        c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool, next: UnsafePointer<Float>? = nil
    ) {
        kernels.pointee.packed_gemm(m, n, k, panels.lowerBound, panels.upperBound, packed, b, ldb, c, ldc, accumulate ? 1 : 0, next)
    }

    /// Columns of this set's channel-vectorised tile (`RESIN_CHANNEL_TILE_COLUMNS_*`), which runs the packed
    /// products of at most `PackedFilters.maximumColumns` plain columns.
    var channelTileColumns: Int {
        switch self {
        case .portable: Int(RESIN_CHANNEL_TILE_COLUMNS_PORTABLE)
        case .avx2: Int(RESIN_CHANNEL_TILE_COLUMNS_AVX2)
        case .avx512: Int(RESIN_CHANNEL_TILE_COLUMNS_AVX512)
        }
    }

    /// The fused packed product (`resin_gemm_problem`) over the output channels of `panels` and the columns
    /// `columns`.
    func fusedGEMM(_ problem: UnsafePointer<resin_gemm_problem>, panels: Range<Int>, columns: Range<Int>) {
        kernels.pointee.fused_gemm(problem, panels.lowerBound, panels.upperBound, columns.lowerBound, columns.upperBound)
    }

    /// Rows `rows` of columns `columns` of the implicit columns `gather` as a plain matrix (an im2col band):
    /// row `k` at `matrix + (k - rows.lowerBound) * rowStride`.
    func im2col(_ gather: UnsafePointer<resin_gemm_gather>, columns: Range<Int>, rows: Range<Int>, into matrix: UnsafeMutablePointer<Float>,
                rowStride: Int) {
        kernels.pointee.im2col(gather, columns.lowerBound, columns.count, rows.lowerBound, rows.count, matrix, rowStride)
    }

    private var cValue: resin_isa { resin_isa(rawValue: UInt32(rawValue)) }

    private init(_ isa: resin_isa) { self = InstructionSet(rawValue: Int(isa.rawValue)) ?? .portable }

    private static func sets(inMask mask: UInt32) -> [InstructionSet] {
        allCases.filter { mask & (1 << UInt32($0.rawValue)) != 0 }
    }
}

/// A `RESIN_ISA` value that names no instruction set, or one the processor does not run.
public struct InstructionSetError: Error, Equatable, CustomStringConvertible {
    /// The value as given.
    public var requested: String
    /// True when the value names no set at all; false when the processor lacks it.
    public var isUnknown: Bool
    /// The sets the processor runs.
    public var supported: [InstructionSet]
    public var processorName: String

    public var description: String {
        let runs = supported.map(\.description).joined(separator: ", ")
        if isUnknown {
            let known = InstructionSet.allCases.map(\.description).joined(separator: ", ")
            return "RESIN_ISA=\(requested): not an instruction set (one of \(known)); this processor (\(processorName)) supports \(runs)"
        }
        return "RESIN_ISA=\(requested): this processor (\(processorName)) supports \(runs)"
    }
}
