import SystemPackage

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A new version of an output file, written under a temporary name beside it and moved into place whole: the
/// library's one atomic replace.
///
/// The temporary name, `.NAME.partial-PID-RANDOM`, is created exclusively (`O_EXCL`), so it is unique to this
/// write: two tasks (or processes) writing the same destination never share or remove each other's temporary,
/// and whichever commits last wins with a complete file. ``commit()`` syncs the file, renames it over the
/// destination and syncs the folder, so after a crash the destination holds either the old or the new bytes.
/// Until then the destination is untouched; ``discard()`` (or deinitialisation without a commit) removes the
/// temporary. The destination must pass ``OutputTarget``'s rule; a symbolic link's target is replaced.
final class FileReplacement {
    /// The destination, as given.
    let destination: String
    /// Where the bytes go: ``destination``, or the end of its chain of symbolic links.
    let target: String
    /// The temporary file.
    let temporaryPath: String
    private var descriptor: FileDescriptor?
    private var finished = false

    /// Creates the temporary file beside `destination`'s target.
    ///
    /// - Throws: ``FileProblem`` when ``OutputTarget`` refuses the destination or the temporary cannot be created.
    init(destination: String, owner: OutputOwner = .anyWriter) throws(FileProblem) {
        self.destination = destination
        target = try OutputTarget.resolve(destination, owner: owner)
        let folder = OutputTarget.folderPart(of: target)
        let name = OutputTarget.namePart(of: target)
        var generator = SystemRandomNumberGenerator()
        var attempt = 0
        while true {
            let suffix = String(generator.next() as UInt64, radix: 16)
            let candidate = "\(folder)/.\(name).partial-\(getpid())-\(suffix)"
            do {
                descriptor = try FileDescriptor.open(
                    FilePath(candidate), .writeOnly, options: [.create, .exclusiveCreate, .closeOnExec],
                    permissions: [.ownerReadWrite, .groupRead, .otherRead])
                temporaryPath = candidate
                break
            } catch {
                let failure = error as? Errno ?? .ioError
                // Another write chose the same name (one chance in 2^64): draw again.
                guard failure == .fileExists, attempt < 16 else { throw FileProblem(destination, .system(failure)) }
                attempt += 1
            }
        }
    }

    deinit {
        if !finished {
            try? descriptor?.close()
            SystemCalls.removeFile(temporaryPath)
        }
    }

    /// Appends bytes to the temporary file.
    func write(_ bytes: UnsafeRawBufferPointer) throws(FileProblem) {
        guard let descriptor else { throw FileProblem(destination, .system(.badFileDescriptor)) }
        try writeAll(bytes, to: descriptor, path: destination)
    }

    /// Closes the library's descriptor, for a writer that fills ``temporaryPath`` by name (libhdf5).
    func closeForWriterByName() {
        try? descriptor?.close()
        descriptor = nil
    }

    /// Syncs the temporary file, renames it over the target and syncs the folder.
    ///
    /// On failure the temporary is removed and the destination keeps its old contents.
    func commit() throws(FileProblem) {
        guard !finished else { throw FileProblem(destination, .system(.badFileDescriptor)) }
        defer {
            finished = true
        }
        func fail(_ step: String, _ error: any Error) -> FileProblem {
            try? descriptor?.close()
            descriptor = nil
            SystemCalls.removeFile(temporaryPath)
            return FileProblem(destination, .stepFailed(step, error as? Errno ?? .ioError))
        }
        do {
            if let descriptor {
                try SystemCalls.sync(descriptor)
                self.descriptor = nil
                try descriptor.close()
            } else {
                // Written by name by another library: reopen to sync what it wrote.
                let reopened = try FileDescriptor.open(FilePath(temporaryPath), .readOnly, options: [.closeOnExec])
                defer { try? reopened.close() }
                try SystemCalls.sync(reopened)
            }
        } catch {
            throw fail("fsync failed", error)
        }
        do {
            try SystemCalls.rename(temporaryPath, to: target)
        } catch {
            throw fail("cannot move \(temporaryPath) into place", error)
        }
        // The rename is done; syncing the folder makes it survive a power cut. A failure here (a file system
        // that cannot sync folders) does not undo it.
        try? SystemCalls.syncFolder(OutputTarget.folderPart(of: target))
    }

    /// Abandons the new version: the temporary is removed, the destination untouched.
    func discard() {
        guard !finished else { return }
        finished = true
        try? descriptor?.close()
        descriptor = nil
        SystemCalls.removeFile(temporaryPath)
    }

    /// Sends further writes to another file (such as `/dev/full`) to exercise write failures in tests.
    func redirectForTesting(to path: String) throws(FileProblem) {
        do {
            let replacement = try FileDescriptor.open(FilePath(path), .writeOnly, options: [.closeOnExec])
            try? descriptor?.close()
            descriptor = replacement
        } catch {
            throw FileProblem(path, .system(error as? Errno ?? .ioError))
        }
    }
}

/// Writes every byte of `bytes` to `descriptor`, retrying on `EINTR` and after short writes: the library's one write-all.
///
/// - Parameter path: names the file in errors.
func writeAll(_ bytes: UnsafeRawBufferPointer, to descriptor: FileDescriptor, path: String) throws(FileProblem) {
    do {
        try descriptor.writeAll(bytes)
    } catch {
        throw FileProblem(path, .system(error as? Errno ?? .ioError))
    }
}
