/// An error while writing an output file, naming the file and the reason.
public struct OutputError: Error, CustomStringConvertible, Sendable, Equatable {
    /// What went wrong.
    public enum Kind: Sendable, Equatable {
        /// The file (or its temporary sibling) could not be created.
        case create
        /// Writing, flushing or syncing failed (for example, the disk is full).
        case write
        /// The finished temporary file could not be moved into place.
        case rename
        /// A row does not fit the file (for example, a wrong feature count).
        case invalidRow
        /// The compressor failed.
        case compression
        /// The writer was used after ``ResultWriter/finish()`` or ``ResultWriter/discard()``.
        case closed
    }

    /// What went wrong.
    public var kind: Kind
    /// The file concerned.
    public var path: String
    /// A human-readable reason.
    public var reason: String

    /// Creates an error.
    public init(_ kind: Kind, path: String, reason: String) {
        self.kind = kind
        self.path = path
        self.reason = reason
    }

    /// "path: reason".
    public var description: String { "\(path): \(reason)" }
}
