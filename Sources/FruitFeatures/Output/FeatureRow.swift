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

    /// Creates a row.
    public init(path: String, label: String, features: [Float]) {
        self.path = path
        self.label = label
        self.features = features
    }
}
