import CHDF5
import CHDF5Shim
import Foundation

/// Serialises every call into libhdf5 and keeps its error reporting quiet.
///
/// Debian's libhdf5 is built thread-safe, but other builds are not; one process-wide lock makes
/// the wrapper safe either way at no cost that matters (weights are read once).
enum HDF5Library {
    private static let lock = NSRecursiveLock()

    /// libhdf5 registers an exit handler that closes what is still open; after a failed close (a
    /// full disk) that handler crashes the process on its way out (libhdf5 1.10). Everything the
    /// wrapper opens is closed by its owner, so the handler is not needed: turned off before the
    /// library starts.
    private static let exitHandlerDisabled: Void = { _ = H5dont_atexit() }()

    /// Runs `body` holding the library lock, with automatic error printing off and an empty error stack.
    static func withLock<T: ~Copyable, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        lock.lock()
        defer { lock.unlock() }
        _ = exitHandlerDisabled
        _ = H5open()
        // The automatic printer is per-thread in thread-safe builds, so silence it on every entry.
        ffh5_silence_errors()
        H5Eclear2(ffh5_e_default())
        return try body()
    }

    /// The most specific message on the current error stack (clearing it).
    static func takeErrorMessage() -> String {
        var buffer = [CChar](repeating: 0, count: 512)
        _ = ffh5_take_error_message(&buffer, buffer.count)
        let bytes = buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        // Some messages span lines (a write failure carries a ctime() stamp): errors are one line.
        return String(decoding: bytes, as: UTF8.self).split(whereSeparator: \.isNewline).joined(separator: " ")
    }
}

/// An open libhdf5 identifier that is closed when it goes out of scope.
struct HDF5Handle: ~Copyable {
    /// Which close function releases the identifier.
    enum Kind {
        case file, group, dataset, attribute, dataspace, datatype, object, propertyList
    }

    let raw: hid_t
    let kind: Kind

    /// Wraps `raw`, or returns nil when libhdf5 reported failure with a negative identifier.
    init?(_ raw: hid_t, kind: Kind) {
        guard raw >= 0 else { return nil }
        self.raw = raw
        self.kind = kind
    }

    deinit {
        switch kind {
        case .file: H5Fclose(raw)
        case .group: H5Gclose(raw)
        case .dataset: H5Dclose(raw)
        case .attribute: H5Aclose(raw)
        case .dataspace: H5Sclose(raw)
        case .datatype: H5Tclose(raw)
        case .object: H5Oclose(raw)
        case .propertyList: H5Pclose(raw)
        }
    }
}

/// The shape of a dataspace; `[]` for a scalar.
func hdf5Shape(ofSpace space: hid_t) -> [Int]? {
    let rank = H5Sget_simple_extent_ndims(space)
    guard rank >= 0 else { return nil }
    if rank == 0 { return [] }
    var dims = [hsize_t](repeating: 0, count: Int(rank))
    guard H5Sget_simple_extent_dims(space, &dims, nil) == rank else { return nil }
    return dims.map { Int(clamping: $0) }
}

/// The number of elements of `shape`, or nil when it is negative or overflows.
func hdf5ElementCount(_ shape: [Int]) -> Int? {
    var count = 1
    for extent in shape {
        guard extent >= 0 else { return nil }
        let (product, overflow) = count.multipliedReportingOverflow(by: extent)
        guard !overflow else { return nil }
        count = product
    }
    return count
}

/// A readable name for an HDF5 type class, for error messages.
func hdf5ClassName(_ typeClass: H5T_class_t) -> String {
    switch typeClass {
    case H5T_INTEGER: return "integer"
    case H5T_FLOAT: return "float"
    case H5T_STRING: return "string"
    case H5T_COMPOUND: return "compound"
    case H5T_ARRAY: return "array"
    case H5T_VLEN: return "variable-length sequence"
    case H5T_ENUM: return "enum"
    case H5T_OPAQUE: return "opaque"
    case H5T_BITFIELD: return "bitfield"
    case H5T_REFERENCE: return "reference"
    case H5T_TIME: return "time"
    default: return "unknown"
    }
}
