/// Why an extraction output could not be read, analysed or queried, naming the file concerned.
public struct AnalysisError: Error, CustomStringConvertible, Sendable, Equatable {
    /// What kind of failure it is.
    public enum Kind: Sendable, Equatable {
        /// A file or folder is missing or cannot be read.
        case unreadable
        /// A file's contents do not follow its format (CSV layout, JSON, numbers).
        case malformed
        /// Files of one output folder disagree (feature counts, PCA dimension, weights).
        case inconsistent
        /// A parameter is out of range (for example fewer than 1 neighbour or 2 folds).
        case invalidArgument
        /// There are too few rows or labels for what was asked.
        case insufficientData
        /// A result could not be written.
        case unwritable
        /// A photo could not be read or decoded.
        case image
        /// The MobileNetV2 weights could not be found or loaded.
        case weights
        /// The run's PCA could not be applied to a photo's features (for example, the network gave a
        /// non-finite value).
        case pca
    }

    /// What kind of failure it is.
    public var kind: Kind
    /// The file concerned, when there is one.
    public var path: String?
    /// A human-readable reason.
    public var reason: String

    /// Creates an error.
    public init(_ kind: Kind, path: String? = nil, reason: String) {
        self.kind = kind
        self.path = path
        self.reason = reason
    }

    /// "path: reason", or the reason alone.
    public var description: String {
        guard let path else { return reason }
        return "\(path): \(reason)"
    }
}
