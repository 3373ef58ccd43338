import CResinKernels
import ResinIR

#if canImport(Glibc)
import Glibc
#endif

/// A mapped native file whose pieces a session's runs read move onto transparent huge pages, on a thread of
/// their own (`resin_move_to_huge_pages`: the same addresses and bytes, so runs go on meanwhile).
///
/// At batch 1 every inference streams its weights from memory, and from the page cache's 4 KiB pages they
/// came about half as fast as from huge pages on a KVM guest (Docs/PERFORMANCE.md). A session starts the move
/// after its first run, not at load: the copy takes tens of milliseconds, which a load of a few must not pay,
/// nor a process that runs once; and after that run the pieces no step reads are known (never mapped), and
/// stay in the file.
final class HugePageMove: @unchecked Sendable {
    let file: MappedFile

    private init(file: MappedFile) { self.file = file }

    /// One move per mapped file the storages borrow from.
    static func moves(for storages: [TensorStorage]) -> [HugePageMove] {
        var files: [ObjectIdentifier: MappedFile] = [:]
        for storage in storages {
            if let file = storage.borrowedFrom as? MappedFile { files[ObjectIdentifier(file)] = file }
        }
        return files.values.map(HugePageMove.init(file:))
    }

    /// Starts the move on a detached thread, once per file (`MappedFile.claimHugePageMove`); the thread keeps
    /// the file mapped until it is done.
    func start() {
        guard file.claimHugePageMove() else { return }
        let context = Unmanaged.passRetained(self).toOpaque()
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
        var thread = pthread_t()
        let status = pthread_create(&thread, &attributes, { context in
            let move = Unmanaged<HugePageMove>.fromOpaque(context!).takeRetainedValue()
            if let base = move.file.bytes.baseAddress { _ = resin_move_to_huge_pages(base, move.file.bytes.count) }
            return nil
        }, context)
        pthread_attr_destroy(&attributes)
        if status != 0 { Unmanaged<HugePageMove>.fromOpaque(context).release() }
    }
}
