import CHDF5
import CHDF5Shim
import Foundation

/// An open HDF5 file, closed when the last reference goes away.
///
/// Groups and datasets are addressed by path and opened only for the duration of each call, so the
/// file is the only long-lived libhdf5 identifier and the value is safe to share between tasks.
final class HDF5File: Sendable {
    /// Where the file is.
    let url: URL
    let id: hid_t

    /// Opens an existing HDF5 file read-only.
    init(readingFrom url: URL) throws(HDF5Error) {
        self.url = url
        let path = url.path
        // Read whole and checked before libhdf5 sees the path: a FIFO or a device is refused instead of
        // blocking H5Fopen, and libhdf5 1.10 crashes on damaged global heap objects.
        let contents: [UInt8]
        do {
            contents = try readRegularFile(atPath: path, limit: FileSizeLimit.hdf5)
        } catch {
            if case .system(.noSuchFileOrDirectory) = error.reason {
                throw HDF5Error(file: path, object: "/", reason: .fileNotFound)
            }
            throw HDF5Error(file: path, object: "/", reason: .unreadable(error.reasonText))
        }
        id = try HDF5Library.withLock { () throws(HDF5Error) -> hid_t in
            let check = ffh5_is_hdf5(path)
            if check == 0 {
                throw HDF5Error(file: path, object: "/", reason: .notHDF5)
            }
            try HDF5GlobalHeapCheck.check(contents, path: path)
            let id = ffh5_open_file(path, 0)
            guard id >= 0 else {
                throw HDF5Error(file: path, object: "/", reason: check > 0 ? .cannotOpen : .notHDF5,
                                libraryMessage: HDF5Library.takeErrorMessage())
            }
            // A link into another file would make this file's reader read that one (sized as that one
            // declares, from wherever it points): no file of ours has one, so such files are refused.
            var link = [CChar](repeating: 0, count: 512)
            var target = [CChar](repeating: 0, count: 1024)
            let outside = ffh5_find_outside_link(id, &link, link.count, &target, target.count)
            guard outside == 0 else {
                let message = HDF5Library.takeErrorMessage()
                _ = H5Fclose(id)
                let linkPath = "/" + hdf5CString(link)
                if outside < 0 {
                    throw HDF5Error(file: path, object: "/", reason: .readFailed, libraryMessage: message)
                }
                throw HDF5Error(file: path, object: linkPath, reason: .linkLeavesFile(
                    outside == 1 ? "an external link to \(hdf5CString(target))" : "a user-defined link"))
            }
            return id
        }
    }

    /// Opens an HDF5 file held in memory (such as the weights member of a `.keras` archive) read-only;
    /// `url` names it in errors. The bytes are copied, so the caller may release them.
    public init(image bytes: [UInt8], url: URL) throws(HDF5Error) {
        self.url = url
        let path = url.path
        // The superblock signature sits at byte 0, 512, 1024, 2048, … (HDF5 file format, "Superblock").
        let signature: [UInt8] = [0x89, 0x48, 0x44, 0x46, 0x0D, 0x0A, 0x1A, 0x0A]
        var offset = 0
        var superblock: Int? = nil
        while offset + 8 <= bytes.count, superblock == nil {
            if Array(bytes[offset..<(offset + 8)]) == signature { superblock = offset }
            offset = offset == 0 ? 512 : offset * 2
        }
        guard let superblock else { throw HDF5Error(file: path, object: "/", reason: .notHDF5) }
        // The core driver reads past the end of a short image as zeros: refuse an image shorter than the end of
        // file its superblock records (a truncated file) instead.
        if let end = Self.endOfFile(bytes, superblock: superblock), end > UInt64(bytes.count) {
            throw HDF5Error(file: path, object: "/", reason: .cannotOpen,
                            libraryMessage: "truncated: \(bytes.count) bytes where the superblock says \(end)")
        }
        if let damage = bytes.withUnsafeBytes({ HDF5GlobalHeapCheck.firstDamage(in: $0) }) {
            throw HDF5Error(file: path, object: "/", reason: .cannotOpen,
                            libraryMessage: "damaged global heap collection at byte \(damage.offset): \(damage.reason)")
        }
        id = try HDF5Library.withLock { () throws(HDF5Error) -> hid_t in
            let id = bytes.withUnsafeBytes { ffh5_open_image($0.baseAddress, $0.count) }
            guard id >= 0 else {
                throw HDF5Error(file: path, object: "/", reason: .cannotOpen, libraryMessage: HDF5Library.takeErrorMessage())
            }
            // As for files: a link into another file would make libhdf5 read that file from disk.
            var link = [CChar](repeating: 0, count: 512)
            var target = [CChar](repeating: 0, count: 1024)
            let outside = ffh5_find_outside_link(id, &link, link.count, &target, target.count)
            guard outside == 0 else {
                let message = HDF5Library.takeErrorMessage()
                _ = H5Fclose(id)
                if outside < 0 {
                    throw HDF5Error(file: path, object: "/", reason: .readFailed, libraryMessage: message)
                }
                throw HDF5Error(file: path, object: "/" + hdf5CString(link), reason: .linkLeavesFile(
                    outside == 1 ? "an external link to \(hdf5CString(target))" : "a user-defined link"))
            }
            return id
        }
    }

    /// The base address plus the end-of-file address recorded in the superblock at `superblock` (HDF5 file format,
    /// "Superblock": versions 0 and 1 keep the addresses after 24 or 28 bytes, versions 2 and 3 after 12), or nil
    /// when the superblock is not one of those or is cut short.
    static func endOfFile(_ bytes: [UInt8], superblock: Int) -> UInt64? {
        guard superblock + 16 <= bytes.count else { return nil }
        let version = bytes[superblock + 8]
        let offsetSize: Int
        let addresses: Int
        switch version {
        case 0, 1:
            offsetSize = Int(bytes[superblock + 13])
            addresses = superblock + (version == 0 ? 24 : 28)
        case 2, 3:
            offsetSize = Int(bytes[superblock + 9])
            addresses = superblock + 12
        default:
            return nil
        }
        guard [2, 4, 8].contains(offsetSize), addresses + 3 * offsetSize <= bytes.count else { return nil }
        func address(_ at: Int) -> UInt64 {
            (0..<offsetSize).reduce(UInt64(0)) { $0 | UInt64(bytes[at + $1]) << (8 * UInt64($1)) }
        }
        let undefined = offsetSize == 8 ? UInt64.max : (UInt64(1) << (8 * UInt64(offsetSize))) - 1
        let base = address(addresses)
        // Versions 0/1: base, free-space, end of file; 2/3: base, superblock extension, end of file.
        let end = address(addresses + 2 * offsetSize)
        guard base != undefined, end != undefined else { return nil }
        let (sum, overflow) = base.addingReportingOverflow(end)
        return overflow ? UInt64.max : sum
    }

    /// Creates an HDF5 file for writing, replacing any file already at `url`.
    init(creatingAt url: URL) throws(HDF5Error) {
        self.url = url
        let path = url.path
        id = try HDF5Library.withLock { () throws(HDF5Error) -> hid_t in
            let id = ffh5_open_file(path, 1)
            guard id >= 0 else {
                throw HDF5Error(file: path, object: "/", reason: .cannotCreate,
                                libraryMessage: HDF5Library.takeErrorMessage())
            }
            return id
        }
    }

    deinit {
        HDF5Library.withLock { _ = H5Fclose(id) }
    }

    /// The root group `/`.
    var root: HDF5Group { HDF5Group(file: self, path: "/") }

    /// Writes buffered data to disk (closing the file, by releasing it, also does).
    func flush() throws(HDF5Error) {
        try HDF5Library.withLock { () throws(HDF5Error) in
            guard H5Fflush(id, H5F_SCOPE_GLOBAL) >= 0 else {
                throw error(.writeFailed, at: "/")
            }
        }
    }

    /// An error about `object` in this file carrying libhdf5's latest message. Call holding the lock.
    func error(_ reason: HDF5Error.Reason, at object: String) -> HDF5Error {
        HDF5Error(file: url.path, object: object, reason: reason, libraryMessage: HDF5Library.takeErrorMessage())
    }

    /// Opens the object at `path` (any kind). Call holding the lock.
    func openObject(_ path: String) throws(HDF5Error) -> HDF5Handle {
        guard let handle = HDF5Handle(H5Oopen(id, path, ffh5_p_default()), kind: .object) else {
            throw error(.missingObject, at: path)
        }
        return handle
    }

    /// The kind of the object at `path`, or nil when there is none. Call holding the lock.
    func kindOfObject(_ path: String) -> HDF5ObjectKind? {
        if path == "/" { return .group }
        // H5Lexists fails (rather than answering no) when an intermediate group is missing,
        // so walk the path one component at a time.
        var prefix = ""
        for component in path.split(separator: "/") {
            prefix += "/" + component
            guard H5Lexists(id, prefix, ffh5_p_default()) > 0 else {
                H5Eclear2(ffh5_e_default())
                return nil
            }
        }
        guard let object = HDF5Handle(H5Oopen(id, path, ffh5_p_default()), kind: .object) else {
            H5Eclear2(ffh5_e_default())
            return nil
        }
        switch H5Iget_type(object.raw) {
        case H5I_GROUP: return .group
        case H5I_DATASET: return .dataset
        default: return .other
        }
    }
}

/// What an HDF5 path names.
enum HDF5ObjectKind: Sendable, Equatable {
    /// A group (a folder of named members).
    case group
    /// A dataset (an n-dimensional array).
    case dataset
    /// Anything else, such as a named datatype.
    case other
}

/// The text of a NUL-terminated C buffer (invalid UTF-8 repaired).
func hdf5CString(_ buffer: [CChar]) -> String {
    String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// Joins a group path and a member name.
func hdf5Join(_ parent: String, _ name: String) -> String {
    if name.hasPrefix("/") { return name }
    return parent == "/" ? "/" + name : parent + "/" + name
}
