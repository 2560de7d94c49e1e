#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The images in a folder tree, one sub-folder per label, as Spark's `binaryFile` reader lists them
/// with `recursiveFileLookup` and `pathGlobFilter`.
///
/// - Files whose name matches ``pattern`` (default `*.jpg`, case-sensitive) are images; their label is
///   the name of their parent folder.
/// - Names starting with `.` or `_` are skipped, as Spark's file index skips hidden and metadata files.
/// - Order is deterministic: each folder's entries are sorted by the bytes of their names and walked
///   depth-first, so paths come out sorted component by component.
/// - Symbolic links are followed; a folder reached a second time (a link cycle) is reported and not
///   walked again.
public struct DirectoryImageSource: ImageSource {
    /// The folder to walk, as given.
    public let root: String
    /// The file-name filter.
    public let pattern: GlobPattern
    /// Files larger than this are reported instead of read (default ``FileSizeLimit/photo``, 256 MiB).
    public var maximumFileSize: Int

    /// Creates a source over `root`.
    /// - Throws: ``DiscoveryError`` when `root` is not a readable folder.
    public init(root: String, pattern: GlobPattern = .jpeg, maximumFileSize: Int = FileSizeLimit.photo) throws(DiscoveryError) {
        var info = stat()
        guard stat(root, &info) == 0 else {
            throw DiscoveryError(path: root, reason: .unreadableDirectory(errnoText()))
        }
        guard info.st_mode & S_IFMT == S_IFDIR else {
            throw DiscoveryError(path: root, reason: .notADirectory)
        }
        self.root = root
        self.pattern = pattern
        self.maximumFileSize = maximumFileSize
    }

    public func makeIterator() -> Iterator {
        Iterator(root: root, pattern: pattern)
    }

    public func contents(of image: ImageFile) throws(DiscoveryError) -> [UInt8] {
        try Self.contents(ofFileAt: image.path, maximumSize: maximumFileSize)
    }

    /// Reads a whole file, refusing anything but a regular file and files larger than `maximumSize`.
    public static func contents(ofFileAt path: String, maximumSize: Int = FileSizeLimit.photo) throws(DiscoveryError) -> [UInt8] {
        do {
            return try readRegularFile(atPath: path, limit: maximumSize)
        } catch {
            if case .tooLarge(let size, let limit) = error.reason {
                throw DiscoveryError(path: path, reason: .fileTooLarge(size: size, limit: limit))
            }
            throw DiscoveryError(path: path, reason: .unreadableFile(error.reasonText))
        }
    }

    /// Walks the tree depth-first, one sorted folder listing per level of the current path.
    public struct Iterator: IteratorProtocol {
        private struct Frame {
            var path: String
            var label: String
            var names: [Name]
            var next = 0
        }

        /// A folder entry's name: its bytes (the sort key), and its text, repaired if not valid UTF-8.
        private struct Name {
            var bytes: [UInt8]
            var text: String
            var isValidUTF8: Bool
        }

        private struct FileIdentity: Hashable {
            var device: UInt64
            var inode: UInt64
        }

        private let pattern: GlobPattern
        private var stack: [Frame] = []
        private var pending: [DiscoveredEntry] = []
        private var visited: Set<FileIdentity> = []

        init(root: String, pattern: GlobPattern) {
            self.pattern = pattern
            var trimmed = root
            while trimmed.count > 1, trimmed.hasSuffix("/") { trimmed.removeLast() }
            enter(directory: trimmed, label: Iterator.folderName(of: trimmed))
        }

        public mutating func next() -> DiscoveredEntry? {
            while true {
                if !pending.isEmpty { return pending.removeFirst() }
                guard var frame = stack.popLast() else { return nil }
                guard frame.next < frame.names.count else { continue }
                let name = frame.names[frame.next]
                frame.next += 1
                stack.append(frame)
                if let entry = visit(name: name, in: frame) { return entry }
            }
        }

        private mutating func visit(name entry: Name, in frame: Frame) -> DiscoveredEntry? {
            let name = entry.text
            let path = frame.path == "/" ? "/" + name : frame.path + "/" + name
            var info = stat()
            if !entry.isValidUTF8 {
                // Such a name cannot be carried into the outputs faithfully: report what would have been used.
                let rawPath = Array(frame.path.utf8) + [UInt8(ascii: "/")] + entry.bytes + [0]
                let found = rawPath.withUnsafeBufferPointer { buffer in
                    buffer.withMemoryRebound(to: CChar.self) { stat($0.baseAddress!, &info) == 0 }
                }
                let isFolder = found && info.st_mode & S_IFMT == S_IFDIR
                guard isFolder || pattern.matches(name) else { return nil }
                return .problem(DiscoveryError(path: path, reason: .nameNotUTF8))
            }
            if stat(path, &info) != 0 {
                let failure = errno
                var linkInfo = stat()
                if lstat(path, &linkInfo) == 0, linkInfo.st_mode & S_IFMT == S_IFLNK {
                    if failure == ELOOP { return .problem(DiscoveryError(path: path, reason: .linkCycle)) }
                    return pattern.matches(name) ? .problem(DiscoveryError(path: path, reason: .brokenLink)) : nil
                }
                return .problem(DiscoveryError(path: path, reason: .unreadableFile(errnoText(failure))))
            }
            switch info.st_mode & S_IFMT {
            case S_IFDIR:
                let identity = FileIdentity(device: UInt64(info.st_dev), inode: UInt64(info.st_ino))
                if visited.contains(identity) {
                    return .problem(DiscoveryError(path: path, reason: .linkCycle))
                }
                enter(directory: path, label: name)
                return nil
            case S_IFREG:
                guard pattern.matches(name) else { return nil }
                return .image(ImageFile(path: path, label: frame.label))
            default:
                return nil  // Sockets, fifos, devices: not images.
            }
        }

        private mutating func enter(directory path: String, label: String) {
            var info = stat()
            if stat(path, &info) == 0 {
                visited.insert(FileIdentity(device: UInt64(info.st_dev), inode: UInt64(info.st_ino)))
            }
            guard let handle = opendir(path) else {
                pending.append(.problem(DiscoveryError(path: path, reason: .unreadableDirectory(errnoText()))))
                return
            }
            defer { closedir(handle) }
            var names: [Name] = []
            while let entry = readdir(handle) {
                let bytes = withUnsafeBytes(of: entry.pointee.d_name) { Array($0.prefix { $0 != 0 }) }
                guard let first = bytes.first, first != UInt8(ascii: "."), first != UInt8(ascii: "_") else { continue }
                let text = String(validating: bytes, as: UTF8.self)
                names.append(Name(bytes: bytes, text: text ?? String(decoding: bytes, as: UTF8.self), isValidUTF8: text != nil))
            }
            names.sort { $0.bytes.lexicographicallyPrecedes($1.bytes) }
            stack.append(Frame(path: path, label: label, names: names))
        }

        private static func folderName(of path: String) -> String {
            var name = path.split(separator: "/").last.map(String.init) ?? path
            if name == "." || name == ".." || name.isEmpty {
                if let resolved = realpath(path, nil) {
                    defer { free(resolved) }
                    name = String(cString: resolved).split(separator: "/").last.map(String.init) ?? name
                }
            }
            return name
        }
    }
}
