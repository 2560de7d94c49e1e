import SystemPackage

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The system calls swift-system does not wrap (fstat, lstat, fsync, rename, readlink, symlink, flock, access,
/// realpath, mkdir, folder listings, the `*at` calls that work inside an open folder), with its `Errno` for failures.
///
/// swift-system (1.4 and later, the oldest this package accepts) opens, reads, writes and closes; everything
/// else the file layer needs is here, so that no other file of the library calls Glibc for file I/O.
enum SystemCalls {
    /// `fstat(2)`.
    static func status(of descriptor: FileDescriptor) throws(Errno) -> FileStatus {
        var info = stat()
        guard fstat(descriptor.rawValue, &info) == 0 else { throw Errno.latest }
        return FileStatus(info)
    }

    /// `stat(2)` (following symbolic links) or `lstat(2)` (not following the last one).
    static func status(atPath path: String, followingLinks: Bool) throws(Errno) -> FileStatus {
        var info = stat()
        let result = followingLinks ? stat(path, &info) : lstat(path, &info)
        guard result == 0 else { throw Errno.latest }
        return FileStatus(info)
    }

    /// `stat(2)` of a path given as bytes (a folder entry whose name is not UTF-8 has no `String` path).
    static func status(atPathBytes path: [UInt8]) throws(Errno) -> FileStatus {
        var info = stat()
        let result = withCString(path) { stat($0, &info) }
        guard result == 0 else { throw Errno.latest }
        return FileStatus(info)
    }

    /// The names in the folder at `path` (following symbolic links), as bytes, without `.` and `..`, in the
    /// folder's order.
    static func folderEntryNames(_ path: String) throws(Errno) -> [[UInt8]] {
        let folder = try openFolder(path, followingLinks: true)
        defer { try? folder.close() }
        return try folderEntryNames(of: folder)
    }

    /// The names in an open folder (`fdopendir(3)`, `readdir(3)`), as bytes, without `.` and `..`, in the
    /// folder's order. The descriptor stays open (the listing works on a duplicate).
    static func folderEntryNames(of folder: FileDescriptor) throws(Errno) -> [[UInt8]] {
        let duplicate = dup(folder.rawValue)
        guard duplicate >= 0 else { throw Errno.latest }
        guard let handle = fdopendir(duplicate) else {
            let error = Errno.latest
            close(duplicate)
            throw error
        }
        defer { closedir(handle) }
        rewinddir(handle)
        var names: [[UInt8]] = []
        while true {
            errno = 0
            guard let entry = readdir(handle) else {
                if errno != 0 { throw Errno.latest }
                break
            }
            let bytes = withUnsafeBytes(of: entry.pointee.d_name) { Array($0.prefix { $0 != 0 }) }
            if bytes == [UInt8(ascii: ".")] || bytes == [UInt8(ascii: "."), UInt8(ascii: ".")] { continue }
            names.append(bytes)
        }
        return names
    }

    /// Opens the folder at `path` for listing; with `followingLinks` false a symbolic link is refused (`ELOOP`)
    /// instead of followed.
    static func openFolder(_ path: String, followingLinks: Bool) throws(Errno) -> FileDescriptor {
        var options: FileDescriptor.OpenOptions = [.directory, .nonBlocking, .closeOnExec]
        if !followingLinks { options.insert(.noFollow) }
        do {
            return try FileDescriptor.open(FilePath(path), .readOnly, options: options)
        } catch {
            throw error as? Errno ?? .ioError
        }
    }

    /// Opens the entry `name` of the open folder `parent` as a folder (`openat(2)` with `O_NOFOLLOW`): a symbolic
    /// link is refused, never followed.
    static func openFolder(named name: [UInt8], in parent: FileDescriptor) throws(Errno) -> FileDescriptor {
        let descriptor = withCString(name) { openat(parent.rawValue, $0, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
        guard descriptor >= 0 else { throw Errno.latest }
        return FileDescriptor(rawValue: descriptor)
    }

    /// `fstatat(2)` of the entry `name` of the open folder `parent`, not following a symbolic link.
    static func status(ofEntry name: [UInt8], in parent: FileDescriptor) throws(Errno) -> FileStatus {
        var info = stat()
        let result = withCString(name) { fstatat(parent.rawValue, $0, &info, AT_SYMLINK_NOFOLLOW) }
        guard result == 0 else { throw Errno.latest }
        return FileStatus(info)
    }

    /// `unlinkat(2)`: removes the entry `name` of the open folder `parent`, an empty folder when `isFolder`.
    static func removeEntry(_ name: [UInt8], in parent: FileDescriptor, isFolder: Bool) throws(Errno) {
        let result = withCString(name) { unlinkat(parent.rawValue, $0, isFolder ? AT_REMOVEDIR : 0) }
        guard result == 0 else { throw Errno.latest }
    }

    /// Calls `body` with `bytes` as a NUL-terminated C string (a name that need not be UTF-8).
    private static func withCString<Result>(_ bytes: [UInt8], _ body: (UnsafePointer<CChar>) -> Result) -> Result {
        (bytes + [0]).withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { body($0.baseAddress!) }
        }
    }

    /// What `access(2)` checks.
    enum Access {
        case read
        case write
    }

    /// `access(2)`: whether this process may read or write `path` (by its real user, as the shell's `test -w`).
    static func checkAccess(_ path: String, for access: Access) throws(Errno) {
        #if canImport(Glibc)
        let result = Glibc.access(path, access == .read ? R_OK : W_OK)
        #else
        let result = Darwin.access(path, access == .read ? R_OK : W_OK)
        #endif
        guard result == 0 else { throw Errno.latest }
    }

    /// `realpath(3)`: `path` made absolute with every symbolic link resolved; nil when it cannot be resolved.
    static func resolvedPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// `flock(2)` with `LOCK_EX | LOCK_NB`: takes an exclusive lock on the open file, or returns false at once
    /// when another open file description holds one. The lock goes with the descriptor (closing it releases it).
    static func lockExclusively(_ descriptor: FileDescriptor) throws(Errno) -> Bool {
        while flock(descriptor.rawValue, LOCK_EX | LOCK_NB) != 0 {
            let error = Errno.latest
            if error == .wouldBlock { return false }
            if error != .interrupted { throw error }
        }
        return true
    }

    /// `fsync(2)`: the file's data and metadata reach the disk.
    static func sync(_ descriptor: FileDescriptor) throws(Errno) {
        while fsync(descriptor.rawValue) != 0 {
            let error = Errno.latest
            if error != .interrupted { throw error }
        }
    }

    /// `fdatasync(2)`: the file's data (and the size) reach the disk.
    static func syncData(_ descriptor: FileDescriptor) throws(Errno) {
        while fdatasync(descriptor.rawValue) != 0 {
            let error = Errno.latest
            if error != .interrupted { throw error }
        }
    }

    /// Makes the entries of a folder (a file just created or renamed in it) durable.
    static func syncFolder(_ path: String) throws(Errno) {
        let folder: FileDescriptor
        do {
            folder = try FileDescriptor.open(FilePath(path), .readOnly, options: [.directory, .closeOnExec])
        } catch {
            throw error as? Errno ?? .ioError
        }
        defer { try? folder.close() }
        try sync(folder)
    }

    /// `rename(2)`: atomically replaces `destination` by `source` (both in one file system).
    static func rename(_ source: String, to destination: String) throws(Errno) {
        #if canImport(Glibc)
        let result = Glibc.rename(source, destination)
        #else
        let result = Darwin.rename(source, destination)
        #endif
        guard result == 0 else { throw Errno.latest }
    }

    /// `unlink(2)`, or `rmdir(2)` for an empty folder.
    static func remove(_ path: String, isFolder: Bool) throws(Errno) {
        guard (isFolder ? rmdir(path) : unlink(path)) == 0 else { throw Errno.latest }
    }

    /// `unlink(2)`, ignoring failures (used to clean up temporaries).
    static func removeFile(_ path: String) {
        try? remove(path, isFolder: false)
    }

    /// `readlink(2)`: the text of a symbolic link.
    static func linkTarget(_ path: String) throws(Errno) -> String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = readlink(path, &buffer, buffer.count - 1)
        guard count >= 0 else { throw Errno.latest }
        return String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// `symlink(2)`: creates a symbolic link at `path` whose text is `target`.
    static func makeLink(at path: String, target: String) throws(Errno) {
        guard symlink(target, path) == 0 else { throw Errno.latest }
    }

    /// `mkdir(2)`; the default permissions are `mkdir(1)`'s, which the process's umask narrows.
    static func makeFolder(_ path: String, permissions: mode_t = 0o777) throws(Errno) {
        guard mkdir(path, permissions) == 0 else { throw Errno.latest }
    }

    /// `rmdir(2)`, ignoring failures.
    static func removeEmptyFolder(_ path: String) {
        try? remove(path, isFolder: true)
    }
}

/// What `stat` says about a file, in the terms the file layer needs.
struct FileStatus: Sendable, Equatable {
    /// The kind of file.
    var kind: FileKind
    /// The size in bytes (for a regular file).
    var size: Int
    /// The device and inode, which identify the file.
    var device: UInt64
    var inode: UInt64
    /// The modification time, in nanoseconds since 1970.
    var modificationTimeNanoseconds: Int64

    init(_ info: stat) {
        kind = FileKind(mode: info.st_mode)
        size = Int(info.st_size)
        device = UInt64(info.st_dev)
        inode = UInt64(info.st_ino)
        #if canImport(Darwin)
        let time = info.st_mtimespec
        #else
        let time = info.st_mtim
        #endif
        modificationTimeNanoseconds = Int64(time.tv_sec) * 1_000_000_000 + Int64(time.tv_nsec)
    }
}

/// The kinds of file a path can name.
enum FileKind: Sendable, Equatable {
    case regular
    case folder
    case symbolicLink
    case fifo
    case characterDevice
    case blockDevice
    case socket
    case unknown

    init(mode: mode_t) {
        switch mode & S_IFMT {
        case S_IFREG: self = .regular
        case S_IFDIR: self = .folder
        case S_IFLNK: self = .symbolicLink
        case S_IFIFO: self = .fifo
        case S_IFCHR: self = .characterDevice
        case S_IFBLK: self = .blockDevice
        case S_IFSOCK: self = .socket
        default: self = .unknown
        }
    }

    /// The kind with an article, for messages: "a FIFO", "a character device".
    var described: String {
        switch self {
        case .regular: "a regular file"
        case .folder: "a folder"
        case .symbolicLink: "a symbolic link"
        case .fifo: "a FIFO"
        case .characterDevice: "a character device"
        case .blockDevice: "a block device"
        case .socket: "a socket"
        case .unknown: "a special file"
        }
    }
}

extension Errno {
    /// The error of the system call that just failed (`errno`); its `description` is the library's one
    /// errno-to-text ("Permission denied", as `strerror` gives it).
    static var latest: Errno { Errno(rawValue: errno) }
}
