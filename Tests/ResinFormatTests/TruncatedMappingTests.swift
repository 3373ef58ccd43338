import Foundation
import Resin
import ResinIR
import ResinFormat
import Testing
import TestSupport

/// A `.resin` file is mapped, not read: if another program truncates it while a process uses the model,
/// Linux raises SIGBUS on the next touch of a page past the new end. With the report installed (as the
/// command-line tool does) the process prints one error line naming the file and exits 2 instead.
@Suite struct TruncatedMappingTests {
    @Test func aFileTruncatedWhileMappedEndsWithOneErrorLineAndExitCode2() async throws {
        let outcome = await #expect(processExitsWith: .exitCode(2), observing: [\.standardErrorContent]) {
            TruncatedMappingReport.install()
            let folder = try TemporaryFolder()
            let path = folder.file("truncated.resin")
            let model = try ModelLoader.load(path: TestPaths.model("quirk-sum")).model
            try NativeWriter.write(model, toPath: path)
            let (loaded, layout) = try NativeReader.read(path: path)
            // Plain float32 blobs are used in place: the last one lies in pages the truncation removes.
            guard let last = layout.blobs.last, last.offset >= 8192 else { exit(3) }
            #expect(truncate(path, 4096) == 0)
            // The mapping keeps the (now short) file alive; the folder can go before the process ends in the handler.
            try FileManager.default.removeItem(atPath: folder.path)
            var sum: UInt8 = 0
            for tensor in loaded.graph.initializers { for byte in tensor.storage.bytes { sum &+= byte } }
            // Reaching here means the touch did not fault: exit with a code the expectation refuses.
            print(sum)
            exit(0)
        }
        let result = try #require(outcome)
        let text = String(decoding: result.standardErrorContent, as: UTF8.self)
        #expect(text.contains("error: ") && text.contains("truncated.resin: the file was truncated while mapped"), "\(text)")
    }
}
