/// A file written under a temporary name beside its destination and renamed into place when committed.
///
/// Readers never see a partial file at the destination: until ``commit()`` the bytes live in a hidden
/// `.<name>.partial-<pid>-<random>` sibling, unique to this file, which ``discard()`` (or deinitialisation
/// without commit) removes. Writes are buffered; every failure — a full disk included — is reported as an
/// ``OutputError``. The destination must be missing or a regular file (a symbolic link's target is replaced),
/// and not a file of a finished run that another command owns (see the library's output rule in
/// `FileSystem/OutputTarget.swift`).
public final class AtomicFile {
    /// The final path.
    public let destination: String
    /// The temporary path the bytes go to until ``commit()``.
    public var temporaryPath: String { replacement.temporaryPath }
    private let replacement: FileReplacement
    private var isOpen = true
    private var buffer: [UInt8] = []
    private let bufferLimit = 1 << 20
    /// Bytes written so far, buffered ones included.
    public private(set) var offset: Int = 0

    /// Creates the temporary file beside `destination`.
    public convenience init(destination: String) throws(OutputError) {
        try self.init(destination: destination, owner: .anyWriter)
    }

    /// Creates the temporary file beside `destination`, written by `owner` (see ``OutputOwner``).
    init(destination: String, owner: OutputOwner) throws(OutputError) {
        self.destination = destination
        do {
            replacement = try FileReplacement(destination: destination, owner: owner)
        } catch {
            throw OutputError(.create, path: destination, reason: error.reasonText)
        }
        buffer.reserveCapacity(bufferLimit)
    }

    /// Appends bytes.
    public func write(_ bytes: some Collection<UInt8>) throws(OutputError) {
        guard isOpen else { throw OutputError(.closed, path: destination, reason: "file already closed") }
        buffer.append(contentsOf: bytes)
        offset += bytes.count
        if buffer.count >= bufferLimit { try flush() }
    }

    /// Appends a string as UTF-8.
    public func write(_ text: String) throws(OutputError) {
        try write(text.utf8)
    }

    /// Writes buffered bytes to the temporary file.
    public func flush() throws(OutputError) {
        guard isOpen else { throw OutputError(.closed, path: destination, reason: "file already closed") }
        let failure = buffer.withUnsafeBytes { raw -> FileProblem? in
            do throws(FileProblem) {
                try replacement.write(raw)
                return nil
            } catch {
                return error
            }
        }
        if let failure {
            throw OutputError(.write, path: destination, reason: "write failed: \(failure.reasonText)")
        }
        buffer.removeAll(keepingCapacity: true)
    }

    /// Flushes, syncs and renames the temporary file to the destination.
    public func commit() throws(OutputError) {
        guard isOpen else { throw OutputError(.closed, path: destination, reason: "file already closed") }
        do throws(OutputError) {
            try flush()
        } catch {
            discard()
            throw error
        }
        isOpen = false
        do {
            try replacement.commit()
        } catch {
            throw OutputError(.write, path: destination, reason: error.reasonText)
        }
    }

    /// Abandons the file and removes the temporary.
    public func discard() {
        isOpen = false
        replacement.discard()
        buffer.removeAll()
    }

    /// Sends further writes to another path (such as `/dev/full`) to exercise write failures in tests.
    func redirectForTesting(to path: String) throws(OutputError) {
        do {
            try replacement.redirectForTesting(to: path)
        } catch {
            throw OutputError(.create, path: path, reason: error.reasonText)
        }
    }
}
