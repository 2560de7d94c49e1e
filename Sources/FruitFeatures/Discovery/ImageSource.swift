/// An image file found by an ``ImageSource``: where it is and which label it carries.
public struct ImageFile: Sendable, Hashable {
    /// The path as found under the source's root (the root as given, then the folders and the file name).
    public var path: String
    /// The label: the name of the file's parent folder.
    public var label: String

    /// Creates an image file entry.
    public init(path: String, label: String) {
        self.path = path
        self.label = label
    }
}

/// One step of a walk over an ``ImageSource``: an image, or a problem with an entry that is skipped.
public enum DiscoveredEntry: Sendable, Equatable {
    /// An image file to process.
    case image(ImageFile)
    /// An entry that cannot be used; the walk goes on.
    case problem(DiscoveryError)
}

/// A source of labelled images, walked in a deterministic order.
///
/// A source is a `Sequence` that streams its entries: it never holds the whole listing, so it
/// serves a million files as well as ten. Problems (unreadable folders, broken links, link cycles)
/// are entries too, so that the walk goes on and nothing is silently dropped.
public protocol ImageSource: Sequence, Sendable where Element == DiscoveredEntry {
    /// Reads an image's encoded bytes.
    func contents(of image: ImageFile) throws(DiscoveryError) -> [UInt8]

    /// The file's size and modification time now, or nil when the source cannot tell (then
    /// `extract --update` reads and hashes the image to know whether it changed).
    func stamp(of image: ImageFile) -> FileStamp?
}

extension ImageSource {
    /// Sources without file metadata have no stamps.
    public func stamp(of image: ImageFile) -> FileStamp? { nil }
}

/// A file's size and modification time: what `extract --update` compares, as rsync does, to decide
/// that a file has not changed without reading it.
public struct FileStamp: Sendable, Hashable {
    /// Size in bytes.
    public var size: Int64
    /// Modification time, nanoseconds since 1970-01-01 UTC.
    public var modificationTimeNanoseconds: Int64

    /// Creates a stamp.
    public init(size: Int64, modificationTimeNanoseconds: Int64) {
        self.size = size
        self.modificationTimeNanoseconds = modificationTimeNanoseconds
    }
}
