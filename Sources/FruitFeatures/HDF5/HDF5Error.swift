/// A failure reading or writing an HDF5 file, naming the file and the object inside it.
public struct HDF5Error: Error, CustomStringConvertible, Sendable, Equatable {
    /// What went wrong.
    public enum Reason: Sendable, Equatable {
        /// No file exists at the path.
        case fileNotFound
        /// The file exists but is not an HDF5 file.
        case notHDF5
        /// The file could not be opened (permissions, corruption, …).
        case cannotOpen
        /// The path is not a regular file, is too large or cannot be read; checked before libhdf5 opens it.
        case unreadable(String)
        /// The file could not be created.
        case cannotCreate
        /// No group, dataset or attribute of that name exists.
        case missingObject
        /// The object exists but is not of the expected kind (`"group"`, `"dataset"`).
        case notA(String)
        /// The stored element type cannot be read as the requested type.
        case unsupportedType(String)
        /// The number of values does not match the shape.
        case sizeMismatch(expected: Int, actual: Int)
        /// The shape is not usable (negative or overflowing extents).
        case invalidShape([Int])
        /// The dataset or attribute declares more data than a reader may allocate for it: its `shape`
        /// (a dataset's own, or its chunk's) needs `bytes` (nil when the count overflows), above `limit`.
        case tooLarge(shape: [Int], bytes: Int?, limit: Int)
        /// A link that leaves the file (what it is, e.g. `an external link to other.h5:/x`): not followed.
        case linkLeavesFile(String)
        /// libhdf5 failed while reading.
        case readFailed
        /// libhdf5 failed while writing or creating an object.
        case writeFailed
    }

    /// The path of the HDF5 file.
    public let file: String
    /// The object inside the file: a path such as `/Conv1/Conv1/kernel:0`, attributes as `/Conv1@weight_names`.
    public let object: String
    /// What went wrong.
    public let reason: Reason
    /// The most specific message from libhdf5's error stack, or empty when libhdf5 reported nothing.
    public let libraryMessage: String

    /// Creates an error for `object` in `file`.
    public init(file: String, object: String, reason: Reason, libraryMessage: String = "") {
        self.file = file
        self.object = object
        self.reason = reason
        self.libraryMessage = libraryMessage
    }

    /// A one-line explanation naming the file, the object and the reason.
    public var description: String { "\(file): \(detail)" }

    /// The explanation without the file's path (the object and the reason), for callers that name the file themselves.
    public var detail: String {
        let what: String
        switch reason {
        case .fileNotFound: what = "no such file"
        case .notHDF5: what = "not an HDF5 file"
        case .cannotOpen: what = "cannot open the file"
        case .unreadable(let why): what = why
        case .cannotCreate: what = "cannot create the file"
        case .missingObject: what = "no such object"
        case .notA(let kind): what = "not a \(kind)"
        case .unsupportedType(let type): what = "unsupported element type (\(type))"
        case .sizeMismatch(let expected, let actual): what = "\(actual) values given where the shape holds \(expected)"
        case .invalidShape(let shape): what = "invalid shape \(shape)"
        case .tooLarge(let shape, let bytes, let limit):
            let size = bytes.map { "\($0) bytes" } ?? "more bytes than can be counted"
            what = "declares shape \(shape) (\(size)), above the limit of \(limit) bytes"
        case .linkLeavesFile(let link): what = "\(link): links out of the file are not followed"
        case .readFailed: what = "read failed"
        case .writeFailed: what = "write failed"
        }
        let located = object.isEmpty || object == "/" ? what : "\(object): \(what)"
        return libraryMessage.isEmpty ? located : "\(located) (HDF5: \(libraryMessage))"
    }

    /// The description without the leading file path, for callers that name the file themselves.
    var descriptionWithoutFile: String {
        let text = description
        return text.hasPrefix(file + ": ") ? String(text.dropFirst(file.count + 2)) : text
    }
}
