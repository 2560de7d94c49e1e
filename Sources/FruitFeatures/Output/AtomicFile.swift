#if canImport(Glibc)
import Glibc
private let posixWrite = Glibc.write
#elseif canImport(Darwin)
import Darwin
private let posixWrite = Darwin.write
#endif

/// A file written under a temporary name beside its destination and renamed into place when committed.
///
/// Readers never see a partial file at the destination: until ``commit()`` the bytes live in a hidden
/// `.<name>.partial-<pid>` sibling, which ``discard()`` (or deinitialisation without commit) removes.
/// Writes are buffered; every failure — a full disk included — is reported as an ``OutputError``.
public final class AtomicFile {
    /// The final path.
    public let destination: String
    /// The temporary path the bytes go to until ``commit()``.
    public let temporaryPath: String
    private var descriptor: Int32
    private var buffer: [UInt8] = []
    private let bufferLimit = 1 << 20
    /// Bytes written so far, buffered ones included.
    public private(set) var offset: Int = 0

    /// Creates the temporary file beside `destination`.
    public init(destination: String) throws(OutputError) {
        self.destination = destination
        let slash = destination.lastIndex(of: "/")
        let directory = slash.map { String(destination[..<$0]) } ?? "."
        let name = slash.map { String(destination[destination.index(after: $0)...]) } ?? destination
        temporaryPath = "\(directory)/.\(name).partial-\(getpid())"
        descriptor = open(temporaryPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        if descriptor < 0 {
            throw OutputError(.create, path: destination, reason: "cannot create \(temporaryPath): \(errnoText())")
        }
        buffer.reserveCapacity(bufferLimit)
    }

    deinit {
        if descriptor >= 0 {
            close(descriptor)
            unlink(temporaryPath)
        }
    }

    /// Appends bytes.
    public func write(_ bytes: some Collection<UInt8>) throws(OutputError) {
        guard descriptor >= 0 else { throw OutputError(.closed, path: destination, reason: "file already closed") }
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
        var start = 0
        while start < buffer.count {
            let written = buffer.withUnsafeBytes { raw in
                posixWrite(descriptor, raw.baseAddress! + start, raw.count - start)
            }
            if written < 0 {
                if errno == EINTR { continue }
                throw OutputError(.write, path: destination, reason: "write failed: \(errnoText())")
            }
            start += written
        }
        buffer.removeAll(keepingCapacity: true)
    }

    /// Flushes, syncs and renames the temporary file to the destination.
    public func commit() throws(OutputError) {
        guard descriptor >= 0 else { throw OutputError(.closed, path: destination, reason: "file already closed") }
        do throws(OutputError) {
            try flush()
            if fsync(descriptor) != 0 {
                throw OutputError(.write, path: destination, reason: "fsync failed: \(errnoText())")
            }
        } catch {
            discard()
            throw error
        }
        let closed = close(descriptor)
        descriptor = -1
        if closed != 0 {
            unlink(temporaryPath)
            throw OutputError(.write, path: destination, reason: "close failed: \(errnoText())")
        }
        if rename(temporaryPath, destination) != 0 {
            let reason = errnoText()
            unlink(temporaryPath)
            throw OutputError(.rename, path: destination, reason: "cannot move \(temporaryPath) into place: \(reason)")
        }
    }

    /// Abandons the file and removes the temporary.
    public func discard() {
        guard descriptor >= 0 else { return }
        close(descriptor)
        descriptor = -1
        unlink(temporaryPath)
        buffer.removeAll()
    }

    /// Sends further writes to another path (such as `/dev/full`) to exercise write failures in tests.
    func redirectForTesting(to path: String) throws(OutputError) {
        let replacement = open(path, O_WRONLY | O_CLOEXEC)
        guard replacement >= 0 else {
            throw OutputError(.create, path: path, reason: errnoText())
        }
        close(descriptor)
        unlink(temporaryPath)
        descriptor = replacement
    }
}
