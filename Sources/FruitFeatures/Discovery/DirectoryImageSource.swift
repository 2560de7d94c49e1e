import SystemPackage

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
        let found: FileStatus
        do {
            found = try SystemCalls.status(atPath: root, followingLinks: true)
        } catch {
            throw DiscoveryError(path: root, reason: .unreadableDirectory(error.description))
        }
        guard found.kind == .folder else {
            throw DiscoveryError(path: root, reason: .notADirectory)
        }
        self.root = root
        self.pattern = pattern
        self.maximumFileSize = maximumFileSize
    }

    /// A walk over the folder tree, yielding images and per-entry problems in a stable order.
    public func makeIterator() -> Iterator {
        Iterator(root: root, pattern: pattern)
    }

    /// The bytes of `image`, refused when the file is larger than ``maximumFileSize``.
    public func contents(of image: ImageFile) throws(DiscoveryError) -> [UInt8] {
        try Self.contents(ofFileAt: image.path, maximumSize: maximumFileSize)
    }

    /// The file's size and modification time from `stat` (links followed, as the listing does).
    public func stamp(of image: ImageFile) -> FileStamp? {
        guard let found = try? SystemCalls.status(atPath: image.path, followingLinks: true) else { return nil }
        return FileStamp(size: Int64(found.size), modificationTimeNanoseconds: found.modificationTimeNanoseconds)
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

        /// The next image or problem, or nil when the walk is over.
        public mutating func next() -> DiscoveredEntry? {
            while true {
                // A walk inside a cancelled task ends here: entries that match nothing never return to the
                // caller, so a caller's own check between entries could wait for the whole tree.
                if Task.isCancelled { return nil }
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
            if !entry.isValidUTF8 {
                // Such a name cannot be carried into the outputs faithfully: report what would have been used.
                let rawPath = Array(frame.path.utf8) + [UInt8(ascii: "/")] + entry.bytes
                let isFolder = (try? SystemCalls.status(atPathBytes: rawPath))?.kind == .folder
                guard isFolder || pattern.matches(name) else { return nil }
                return .problem(DiscoveryError(path: path, reason: .nameNotUTF8))
            }
            let info: FileStatus
            do {
                info = try SystemCalls.status(atPath: path, followingLinks: true)
            } catch {
                if (try? SystemCalls.status(atPath: path, followingLinks: false))?.kind == .symbolicLink {
                    if error == .tooManySymbolicLinkLevels { return .problem(DiscoveryError(path: path, reason: .linkCycle)) }
                    return pattern.matches(name) ? .problem(DiscoveryError(path: path, reason: .brokenLink)) : nil
                }
                return .problem(DiscoveryError(path: path, reason: .unreadableFile(error.description)))
            }
            switch info.kind {
            case .folder:
                let identity = FileIdentity(device: info.device, inode: info.inode)
                if visited.contains(identity) {
                    return .problem(DiscoveryError(path: path, reason: .linkCycle))
                }
                enter(directory: path, label: name)
                return nil
            case .regular:
                guard pattern.matches(name) else { return nil }
                return .image(ImageFile(path: path, label: frame.label))
            default:
                return nil  // Sockets, fifos, devices: not images.
            }
        }

        private mutating func enter(directory path: String, label: String) {
            if let found = try? SystemCalls.status(atPath: path, followingLinks: true) {
                visited.insert(FileIdentity(device: found.device, inode: found.inode))
            }
            let entries: [[UInt8]]
            do {
                entries = try SystemCalls.folderEntryNames(path)
            } catch {
                pending.append(.problem(DiscoveryError(path: path, reason: .unreadableDirectory(error.description))))
                return
            }
            var names: [Name] = []
            for bytes in entries {
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
                if let resolved = SystemCalls.resolvedPath(path) {
                    name = resolved.split(separator: "/").last.map(String.init) ?? name
                }
            }
            return name
        }
    }
}
