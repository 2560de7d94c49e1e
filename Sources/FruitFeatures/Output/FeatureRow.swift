/// One output row: an image's path, its label and its feature vector.
///
/// The same shape as the reference notebook's Parquet rows (`path`, `label`, `features array<float>`).
public struct FeatureRow: Sendable, Equatable {
    /// The image's path as found under the input folder.
    public var path: String
    /// The label: the name of the image's parent folder.
    public var label: String
    /// The feature vector (1280 raw MobileNetV2 features, or K PCA components).
    public var features: [Float]
    /// What the image's bytes were: their SHA-256, and the file's size and modification time when read;
    /// required by writers made with identity columns (``ParquetIdentityColumns``), ignored by others.
    public var identity: ImageIdentity?

    /// Creates a row.
    public init(path: String, label: String, features: [Float], identity: ImageIdentity? = nil) {
        self.path = path
        self.label = label
        self.features = features
        self.identity = identity
    }
}

/// The content identity of an image file: the SHA-256 of its bytes, and the size and modification time
/// the file had when it was read (what `extract --update` compares to decide whether to read it again).
public struct ImageIdentity: Sendable, Hashable, Codable {
    /// Lower-case hexadecimal SHA-256 of the file's bytes.
    public var sha256: String
    /// The file's size in bytes.
    public var size: Int64
    /// The file's modification time, nanoseconds since 1970-01-01 UTC.
    public var modificationTimeNanoseconds: Int64

    /// Creates an identity.
    public init(sha256: String, size: Int64, modificationTimeNanoseconds: Int64) {
        self.sha256 = sha256
        self.size = size
        self.modificationTimeNanoseconds = modificationTimeNanoseconds
    }
}
