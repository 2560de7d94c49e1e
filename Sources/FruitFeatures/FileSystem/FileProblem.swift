import SystemPackage

/// Why a file could not be read or written, naming the file and the reason in the user's terms.
///
/// The file layer's one error; each domain (images, analysis, outputs, HDF5) wraps it in its own error type,
/// keeping ``reasonText`` as its reason.
struct FileProblem: Error, Sendable, Equatable, CustomStringConvertible {
    /// What is wrong.
    enum Reason: Sendable, Equatable {
        /// The path names something other than a regular file (a FIFO, a device, a socket, a folder).
        case notRegular(FileKind)
        /// The file is larger than the reader accepts.
        case tooLarge(size: Int, limit: Int)
        /// A system call failed.
        case system(Errno)
        /// A step of writing failed ("fsync failed", "cannot move … into place").
        case stepFailed(String, Errno)
        /// The file belongs to the run in `folder`, and the command writing is not the one that owns it.
        case belongsToRun(folder: String, owner: String)
        /// A chain of symbolic links that does not end (or is longer than the system allows).
        case linkLoop
        /// A symbolic link whose target (given) does not exist, where a folder is needed.
        case danglingLink(String)
        /// The folder the file would go in does not exist.
        case missingFolder(String)
    }

    /// The file concerned, as the caller named it.
    var path: String
    /// What is wrong.
    var reason: Reason

    init(_ path: String, _ reason: Reason) {
        self.path = path
        self.reason = reason
    }

    /// The reason alone, without the path.
    var reasonText: String {
        switch reason {
        case .notRegular(.folder): "is a folder, not a file"
        case .notRegular(let kind): "not a regular file (\(kind.described))"
        case .tooLarge(let size, let limit): "file is \(size) bytes, larger than the \(byteCountText(limit)) limit"
        case .system(let error): error.description
        case .stepFailed(let step, let error): "\(step): \(error.description)"
        case .belongsToRun(let folder, let owner):
            "is a file of the run in \(folder) (only `\(owner)` writes it); choose another output file"
        case .linkLoop: "too many levels of symbolic links"
        case .missingFolder(let folder): "the folder \(folder) does not exist"
        case .danglingLink(let target): "is a symbolic link to \(target), which does not exist"
        }
    }

    var description: String { "\(path): \(reasonText)" }
}

/// A byte count as people say it: "256 MiB" when it is a whole number of MiB (or GiB), else "N bytes".
func byteCountText(_ count: Int) -> String {
    if count > 0 && count % (1 << 30) == 0 { return "\(count >> 30) GiB" }
    if count > 0 && count % (1 << 20) == 0 { return "\(count >> 20) MiB" }
    return "\(count) bytes"
}

/// The size limits of the files the library reads whole: one constant per kind of file, the same in every command.
public enum FileSizeLimit {
    /// The largest photo file read (by extract, transform, predict and the C ABI alike): 256 MiB, far above any
    /// real JPEG. A larger file is refused, naming its size and this limit, before any of it is read.
    public static let photo = 256 << 20
    /// A JSON file of a run (evaluation.json, evaluation_heldout.json: they list every misclassified image).
    static let json = 256 << 20
    /// summary.json and the checkpoint manifest: a few kilobytes (a summary holds two values per PCA component),
    /// so a far smaller cap bounds what decoding a tampered one can allocate.
    static let summary = 16 << 20
    /// A CSV table of a run (features.csv, errors.csv): rows are held in memory anyway.
    static let table = 16 << 30
    /// An HDF5 file (weights, pca.h5), which is read whole to check it before libhdf5 opens it.
    static let hdf5 = 2 << 30
}
