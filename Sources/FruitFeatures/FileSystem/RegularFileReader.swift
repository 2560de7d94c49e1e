import SystemPackage

/// A regular file opened for reading: the library's one way to read a file.
///
/// The path is checked with `stat` and the open descriptor again with `fstat` before anything is read, so a
/// FIFO, a device, a socket or a folder is refused at once instead of blocking the reader (it is opened with
/// `O_NONBLOCK`, which a FIFO without a writer would otherwise wait on, and `O_CLOEXEC`); a file over the
/// given limit is refused before any buffer is allocated. Reads are retried on `EINTR`.
///
/// The files of cgroupfs, sysfs and procfs are regular files whose `st_size` (4096, or 0) says nothing of their
/// contents; ``ReportedSize/ignored`` reads them to the end instead, holding the limit to the bytes read.
final class RegularFileReader: Sendable {
    /// Whether the size `fstat` reports is the size of the contents.
    enum ReportedSize {
        /// It is (an ordinary file): a file over the limit is refused at opening, and the buffer is sized by it.
        case trusted
        /// It is not (a pseudo-file of the kernel): the file is read until the end, and refused as soon as the
        /// bytes read pass the limit.
        case ignored
    }

    /// The path, as given.
    let path: String
    /// The size when opened (0 when the reported size is ignored).
    let size: Int
    private let descriptor: FileDescriptor

    /// Opens the regular file at `path`.
    ///
    /// - Parameter limit: the largest size accepted, or nil for any.
    /// - Parameter reportedSize: whether `st_size` is checked against `limit` (see ``ReportedSize``).
    /// - Throws: ``FileProblem`` when the path is missing or unreadable, is not a regular file, or is over `limit`.
    init(path: String, limit: Int?, reportedSize: ReportedSize = .trusted) throws(FileProblem) {
        self.path = path
        let limit = reportedSize == .trusted ? limit : nil
        // A device or FIFO is never opened: opening some devices has effects of its own.
        let found: FileStatus
        do {
            found = try SystemCalls.status(atPath: path, followingLinks: true)
        } catch {
            throw FileProblem(path, .system(error))
        }
        try Self.check(found, path: path, limit: limit)
        let descriptor: FileDescriptor
        do {
            descriptor = try FileDescriptor.open(FilePath(path), .readOnly, options: [.nonBlocking, .closeOnExec])
        } catch {
            throw FileProblem(path, .system(error as? Errno ?? .ioError))
        }
        do {
            // The path may have been swapped for something else between stat and open.
            let opened = try SystemCalls.status(of: descriptor)
            try Self.check(opened, path: path, limit: limit)
            size = reportedSize == .trusted ? opened.size : 0
        } catch let error as FileProblem {
            try? descriptor.close()
            throw error
        } catch {
            try? descriptor.close()
            throw FileProblem(path, .system(error as? Errno ?? .ioError))
        }
        self.descriptor = descriptor
    }

    deinit { try? descriptor.close() }

    private static func check(_ status: FileStatus, path: String, limit: Int?) throws(FileProblem) {
        guard status.kind == .regular else { throw FileProblem(path, .notRegular(status.kind)) }
        if let limit, status.size > limit { throw FileProblem(path, .tooLarge(size: status.size, limit: limit)) }
    }

    /// Reads up to `buffer.count` bytes at the current position; 0 at the end of the file.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws(FileProblem) -> Int {
        do {
            return try descriptor.read(into: buffer, retryOnInterrupt: true)
        } catch {
            throw FileProblem(path, .system(error as? Errno ?? .ioError))
        }
    }

    /// Reads up to `buffer.count` bytes at `offset` (`pread`: the current position does not move); 0 past the end.
    func read(atOffset offset: Int, into buffer: UnsafeMutableRawBufferPointer) throws(FileProblem) -> Int {
        do {
            return try descriptor.read(fromAbsoluteOffset: Int64(offset), into: buffer, retryOnInterrupt: true)
        } catch {
            throw FileProblem(path, .system(error as? Errno ?? .ioError))
        }
    }

    /// Fills `buffer` completely, unless the file ends first; returns the bytes read.
    func readFully(into buffer: UnsafeMutableRawBufferPointer) throws(FileProblem) -> Int {
        var filled = 0
        while filled < buffer.count {
            let count = try read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[filled...]))
            if count == 0 { break }
            filled += count
        }
        return filled
    }

    /// Reads the rest of the file, at most `limit` bytes in all, with room for `spareCapacity` more bytes
    /// (so that a caller appending a sentinel does not copy the whole buffer).
    ///
    /// - Throws: ``FileProblem/Reason/tooLarge(size:limit:)`` when the file grew past `limit` since it was opened.
    func readAll(limit: Int? = nil, spareCapacity: Int = 0) throws(FileProblem) -> [UInt8] {
        var failure: FileProblem?
        var bytes = [UInt8](unsafeUninitializedCapacity: size + spareCapacity) { buffer, initialized in
            do throws(FileProblem) {
                initialized = try readFully(into: UnsafeMutableRawBufferPointer(UnsafeMutableBufferPointer(rebasing: buffer[..<size])))
            } catch {
                initialized = 0
                failure = error
            }
        }
        if let failure { throw failure }
        // A file that grew meanwhile: take the rest too, within the limit.
        guard bytes.count == size else { return bytes }
        // One byte past a small limit is enough to see that it is passed.
        let chunkSize = limit.map { $0 < 1 << 16 ? $0 + 1 : 1 << 16 } ?? 1 << 16
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkSize, alignment: 16)
        defer { chunk.deallocate() }
        while true {
            let count = try read(into: chunk)
            if count == 0 { break }
            if let limit, bytes.count + count > limit {
                throw FileProblem(path, .tooLarge(size: bytes.count + count, limit: limit))
            }
            bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: chunk[..<count]))
        }
        return bytes
    }
}

/// The whole contents of the regular file at `path`, refusing anything else and anything over `limit` bytes.
///
/// - Parameter spareCapacity: room reserved after the contents (for a sentinel the caller appends).
/// - Parameter reportedSize: ``RegularFileReader/ReportedSize/ignored`` for a kernel pseudo-file (cgroupfs,
///   sysfs), which is read until the end whatever `st_size` says.
func readRegularFile(
    atPath path: String, limit: Int?, spareCapacity: Int = 0, reportedSize: RegularFileReader.ReportedSize = .trusted
) throws(FileProblem) -> [UInt8] {
    try RegularFileReader(path: path, limit: limit, reportedSize: reportedSize)
        .readAll(limit: limit, spareCapacity: spareCapacity)
}

/// Checks that `path` names a regular file within `limit` bytes, without reading it (for files that another
/// library, such as libhdf5, opens by name).
func checkRegularFile(atPath path: String, limit: Int?) throws(FileProblem) {
    _ = try RegularFileReader(path: path, limit: limit)
}

/// A file that one of the package's executables reads could not be read: the path and the reason in the user's terms.
package struct UnreadableFile: Error, CustomStringConvertible, Sendable {
    /// The file, as given.
    package var path: String
    /// Why it cannot be read ("not a regular file (a FIFO)", "file is 70000 bytes, larger than the 65536 bytes limit").
    package var reason: String

    package var description: String { "\(path): \(reason)" }
}

/// The whole contents of the regular file at `path`, at most `limit` bytes, for the package's executables (the
/// server's `--api-key-file`): the library's bounded reader, so a FIFO, a device or a socket is refused at once
/// instead of blocking the caller, and a file over `limit` before any of it is read.
package func readSmallRegularFile(atPath path: String, limit: Int) throws(UnreadableFile) -> [UInt8] {
    do {
        return try readRegularFile(atPath: path, limit: limit)
    } catch {
        throw UnreadableFile(path: path, reason: error.reasonText)
    }
}
