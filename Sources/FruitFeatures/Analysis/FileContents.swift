#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The whole contents of the regular file at `path`, followed by `terminatorCount` zero bytes (not part of the
/// file: parsers use one as a sentinel).
///
/// - Throws: ``AnalysisError`` of kind ``AnalysisError/Kind/unreadable`` with the system's reason.
func readFileContents(atPath path: String, terminatorCount: Int = 0) throws(AnalysisError) -> [UInt8] {
    func failure(_ reason: String) -> AnalysisError { AnalysisError(.unreadable, path: path, reason: reason) }
    let descriptor = open(path, O_RDONLY | O_CLOEXEC)
    guard descriptor >= 0 else { throw failure(errnoText()) }
    defer { close(descriptor) }
    var info = stat()
    guard fstat(descriptor, &info) == 0 else { throw failure(errnoText()) }
    guard (info.st_mode & S_IFMT) == S_IFREG else {
        throw failure((info.st_mode & S_IFMT) == S_IFDIR ? "is a directory, not a file" : "not a regular file")
    }
    var bytes = [UInt8]()
    bytes.reserveCapacity(Int(info.st_size) + terminatorCount)
    var chunk = [UInt8](repeating: 0, count: 1 << 20)
    while true {
        let received = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
        if received < 0 {
            if errno == EINTR { continue }
            throw failure(errnoText())
        }
        if received == 0 { break }
        bytes.append(contentsOf: chunk[0..<received])
    }
    bytes.append(contentsOf: repeatElement(0, count: terminatorCount))
    return bytes
}

/// Whether something exists at `path` (a file, a folder, anything the system can stat).
func fileExists(atPath path: String) -> Bool {
    var info = stat()
    return stat(path, &info) == 0
}
