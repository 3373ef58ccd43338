import Foundation
import Testing
@testable import ResinRuntime

/// The kernel table's choice of instruction set: the processor's features and RESIN_ISA, checked against
/// /proc/cpuinfo and against processors passed in (sets this one may lack).
@Suite struct InstructionSetTests {
    /// The sets the table offers are those /proc/cpuinfo lists (AVX2 needs FMA too; AVX-512 needs AVX2).
    @Test func supportedSetsFollowTheProcessorFlags() throws {
        let cpuinfo = try String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)
        let flagsLine = try #require(cpuinfo.split(separator: "\n").first { $0.hasPrefix("flags") })
        let flags = Set(flagsLine.split(separator: ":").last!.split(separator: " ").map(String.init))
        var expected: [InstructionSet] = [.portable]
        if flags.contains("avx2"), flags.contains("fma") {
            expected.append(.avx2)
            if flags.contains("avx512f") { expected.append(.avx512) }
        }
        #expect(InstructionSet.supported == expected)
        #expect(InstructionSet.supported.contains(InstructionSet.active))
    }

    /// The set in use is the one RESIN_ISA names (tools/test runs this suite under each), else the best.
    @Test func activeSetHonoursTheEnvironment() throws {
        if let requested = ProcessInfo.processInfo.environment["RESIN_ISA"], !requested.isEmpty {
            try #require(InstructionSet.requestError == nil, "RESIN_ISA=\(requested) was refused")
            #expect(InstructionSet.active.description == requested)
        } else {
            #expect(InstructionSet.requestError == nil)
            #expect(InstructionSet.active == InstructionSet.supported.max())
        }
    }

    @Test(arguments: [
        (nil, [InstructionSet.portable, .avx2], InstructionSet.avx2),
        ("", [.portable], .portable),
        ("portable", [.portable, .avx2, .avx512], .portable),
        ("avx2", [.portable, .avx2, .avx512], .avx2),
        ("avx512", [.portable, .avx2, .avx512], .avx512),
        (nil, [.portable, .avx2, .avx512], .avx512),
    ] as [(String?, [InstructionSet], InstructionSet)])
    func aValueTheProcessorRunsIsChosen(_ requested: String?, _ supported: [InstructionSet], _ expected: InstructionSet) throws {
        #expect(try InstructionSet.choose(requested: requested, supported: supported, processorName: "Test CPU") == expected)
    }

    /// A set above what the processor runs is refused, naming the processor and what it runs.
    @Test func aSetAboveTheProcessorIsRefused() {
        #expect(throws: InstructionSetError(requested: "avx512", isUnknown: false, supported: [.portable, .avx2],
                                            processorName: "AMD EPYC 7B13")) {
            try InstructionSet.choose(requested: "avx512", supported: [.portable, .avx2], processorName: "AMD EPYC 7B13")
        }
        #expect(throws: InstructionSetError.self) {
            try InstructionSet.choose(requested: "avx2", supported: [.portable], processorName: "Some ARM")
        }
        let error = InstructionSetError(requested: "avx512", isUnknown: false, supported: [.portable, .avx2], processorName: "AMD EPYC 7B13")
        #expect(error.description == "RESIN_ISA=avx512: this processor (AMD EPYC 7B13) supports portable, avx2")
    }

    /// Unknown names (including other spellings of known ones) are refused and the message lists the sets.
    @Test(arguments: ["bogus", "AVX2", "avx-512", " avx2", "neon"])
    func anUnknownValueIsRefused(_ requested: String) throws {
        do {
            _ = try InstructionSet.choose(requested: requested, supported: InstructionSet.allCases, processorName: "Test CPU")
            Issue.record("RESIN_ISA=\(requested) was accepted")
        } catch {
            #expect(error.isUnknown)
            #expect(error.description.hasPrefix("RESIN_ISA=\(requested): "))
            #expect(error.description.contains("portable, avx2, avx512"))
        }
    }

    /// Names round-trip through the table's spelling.
    @Test func namesAreTheEnvironmentSpelling() {
        #expect(InstructionSet.allCases.map(\.description) == ["portable", "avx2", "avx512"])
        #expect(!InstructionSet.processorName.isEmpty)
    }
}
