import Foundation
import ResinIR
import Testing
import TestSupport
@testable import ResinONNX

/// External data files that are not plain files inside the model's folder: each is refused with an error
/// naming the tensor, the location and why, and none makes the importer wait or read without end.
@Suite struct HostileExternalDataTests {
    /// The fixture with its first initializer marked as stored in `location`.
    func modelReferring(to location: String) throws -> (bytes: [UInt8], tensor: String) {
        let model = try ONNXImporter.importModel(atPath: MalformedInputTests.fixture)
        let bytes = try ExternalMarking.mark(bytes: ONNXExporter.encode(model), location: location)
        return (bytes, model.graph.initializers[0].name!)
    }

    func importBytes(_ bytes: [UInt8], folder: String) throws -> Model {
        try bytes.withUnsafeBytes { try ONNXImporter.importModel(bytes: $0, file: "hostile.onnx", folder: folder) }
    }

    @Test func aFIFOIsRefusedWithoutWaitingForAWriter() throws {
        let folder = try TemporaryFolder()
        #expect(mkfifo(folder.file("weights.fifo"), 0o600) == 0)
        let (bytes, tensor) = try modelReferring(to: "weights.fifo")
        // The import runs on its own thread so that a reader blocked in open(2) fails this test instead of
        // hanging it: after the deadline a writer opens and closes the FIFO, which releases the reader.
        let done = DispatchSemaphore(value: 0)
        let outcome = Outcome()
        Thread {
            do { _ = try importBytes(bytes, folder: folder.path); outcome.set("accepted") } catch { outcome.set("\(error)") }
            done.signal()
        }.start()
        let finished = done.wait(timeout: .now() + 10) == .success
        if !finished {
            let writer = open(folder.file("weights.fifo"), O_WRONLY | O_NONBLOCK)
            if writer >= 0 { close(writer) }
            done.wait()
        }
        #expect(finished, "the importer waited on the FIFO for 10 s")
        let text = outcome.get()
        #expect(text.contains("hostile.onnx") && text.contains("tensor '\(tensor)'") && text.contains("external data 'weights.fifo'"))
        #expect(text.contains("is a FIFO, not a regular file"), "\(text)")
    }

    @Test func aDeviceIsRefused() throws {
        // /dev/zero would never end; the model's folder is /dev so the location stays inside it.
        let (bytes, tensor) = try modelReferring(to: "zero")
        #expect { try importBytes(bytes, folder: "/dev") } throws: { error in
            let text = "\(error)"
            return text.contains("tensor '\(tensor)'") && text.contains("external data 'zero'") && text.contains("is a character device, not a regular file")
        }
    }

    @Test func aSymbolicLinkLeavingTheFolderIsRefused() throws {
        let outside = try TemporaryFolder()
        let folder = try TemporaryFolder()
        let (bytes, tensor) = try modelReferring(to: "weights.bin")
        // A file that would satisfy the read, but outside the model's folder.
        FileManager.default.createFile(atPath: outside.file("weights.bin"), contents: Data(count: 1 << 20))
        try FileManager.default.createSymbolicLink(atPath: folder.file("weights.bin"), withDestinationPath: outside.file("weights.bin"))
        #expect { try importBytes(bytes, folder: folder.path) } throws: { error in
            let text = "\(error)"
            return text.contains("tensor '\(tensor)'") && text.contains("external data 'weights.bin'") && text.contains("leaves the model's folder")
        }
    }

    @Test func aFileShorterThanTheTensorIsRefused() throws {
        let folder = try TemporaryFolder()
        let model = try ONNXImporter.importModel(atPath: MalformedInputTests.fixture)
        let needed = model.graph.initializers[0].storage.bytes.count
        let (bytes, tensor) = try modelReferring(to: "weights.bin")
        FileManager.default.createFile(atPath: folder.file("weights.bin"), contents: Data(count: needed - 1))
        #expect { try importBytes(bytes, folder: folder.path) } throws: { error in
            let text = "\(error)"
            return text.contains("tensor '\(tensor)'") && text.contains("has \(needed - 1) bytes, but \(needed) bytes at offset 0 were asked for")
        }
    }
}

/// A string set on one thread and read on another.
final class Outcome: @unchecked Sendable {
    private let lock = NSLock()
    private var text = ""
    func set(_ value: String) { lock.lock(); text = value; lock.unlock() }
    func get() -> String { lock.lock(); defer { lock.unlock() }; return text }
}
