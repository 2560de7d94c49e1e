import Foundation

/// The fitted PCA as one HDF5 file, readable with h5py under obvious names:
///
///     /mean                       float64 (d)       the training mean
///     /components                 float64 (k, d)    principal axes as rows (scikit-learn's components_)
///     /explained_variance         float64 (k)
///     /explained_variance_ratio   float64 (k)
///     attributes on /: format = "FruitFeatures PCA", format_version = 1, k, dimension, n_samples,
///                      centred (1: project x − mean, 0: project x, as pyspark.ml)
///     and, when the model knows what made its features (``featureModel``; Docs/model.md §6):
///                      feature_model_architecture, feature_model_alpha (absent when unknown),
///                      feature_model_input_size, feature_model_preprocessing, feature_model_feature_count
///                      (= dimension), feature_model_weights_sha256, feature_model_kernel_level
///
/// A file without the feature_model_* attributes (written before FruitFeatures recorded them, or by a model
/// fitted from bare rows) reads with ``featureModel`` nil.
extension PCAModel {
    /// The value of the root attribute `format` that marks a FruitFeatures PCA file.
    public static let fileFormat = "FruitFeatures PCA"
    /// The layout version written by ``write(to:)``; ``init(contentsOf:)`` reads this version and older.
    public static let fileFormatVersion = 1

    /// Writes the model to an HDF5 file at `url`, atomically: under a temporary name unique to this write
    /// first, renamed into place once complete and read back (see the library's one atomic replace,
    /// `FileReplacement`). The destination must be missing or a regular file, and not the `pca.h5` of a
    /// finished run.
    public func write(to url: URL) throws(PCAError) {
        let destination = url.path
        let replacement: FileReplacement
        do {
            replacement = try FileReplacement(destination: destination)
        } catch {
            throw .file(path: destination, reason: "cannot write the PCA model: \(error.reasonText)")
        }
        // libhdf5 writes the file by name.
        replacement.closeForWriterByName()
        let temporary = replacement.temporaryPath
        do {
            try writeContents(to: URL(fileURLWithPath: temporary))
        } catch {
            replacement.discard()
            throw .file(path: destination, reason: "cannot write the PCA model: \(error)")
        }
        // libhdf5 writes part of the data when the file closes and cannot report failures there (a full
        // disk leaves zeros behind): read the model back, and publish only an exact copy.
        let written: PCAModel
        do {
            written = try PCAModel(contentsOf: URL(fileURLWithPath: temporary))
        } catch {
            replacement.discard()
            throw .file(path: destination, reason: "cannot write the PCA model: cannot read it back: \(error)")
        }
        func same(_ a: [Double], _ b: [Double]) -> Bool { a.map(\.bitPattern) == b.map(\.bitPattern) }
        guard same(written.mean, mean), same(written.components, components),
              same(written.explainedVariance, explainedVariance),
              same(written.explainedVarianceRatio, explainedVarianceRatio),
              written.centring == centring, written.sampleCount == sampleCount, written.featureModel == featureModel else {
            replacement.discard()
            throw .file(path: destination, reason: "cannot write the PCA model: the file read back differs (is the disk full?)")
        }
        // The HDF5 file is closed by now (its last reference is gone): sync its bytes, then publish it.
        do {
            try replacement.commit()
        } catch {
            throw .file(path: destination, reason: error.reasonText)
        }
    }

    private func writeContents(to url: URL) throws(HDF5Error) {
        let file = try HDF5File(creatingAt: url)
        let root = file.root
        try root.setAttribute("format", to: Self.fileFormat)
        try root.setAttribute("format_version", to: Self.fileFormatVersion)
        try root.setAttribute("k", to: componentCount)
        try root.setAttribute("dimension", to: dimension)
        try root.setAttribute("n_samples", to: sampleCount)
        try root.setAttribute("centred", to: centring == .centred ? 1 : 0)
        if let identity = featureModel {
            try root.setAttribute(FeatureModelAttribute.architecture, to: identity.architecture)
            if let alpha = identity.alpha { try root.setAttribute(FeatureModelAttribute.alpha, to: alpha) }
            try root.setAttribute(FeatureModelAttribute.inputSize, to: identity.inputSize)
            try root.setAttribute(FeatureModelAttribute.preprocessing, to: identity.preprocessing)
            try root.setAttribute(FeatureModelAttribute.featureCount, to: identity.featureCount)
            try root.setAttribute(FeatureModelAttribute.weightsSHA256, to: identity.weightsSHA256)
            try root.setAttribute(FeatureModelAttribute.kernelLevel, to: identity.kernelLevel)
        }
        try root.writeDataset("mean", shape: [dimension], values: mean)
        try root.writeDataset("components", shape: [componentCount, dimension], values: components)
        try root.writeDataset("explained_variance", shape: [componentCount], values: explainedVariance)
        try root.writeDataset("explained_variance_ratio", shape: [componentCount], values: explainedVarianceRatio)
        try file.flush()
    }

    /// Reads a model written by ``write(to:)`` (or by any tool using the same names and shapes).
    ///
    /// - Throws: ``PCAError/file(path:reason:)`` when the file is missing, not HDF5, not a PCA file,
    ///   of a newer format version or lacks a part; ``PCAError/invalidModel(_:)`` when the parts do not fit together.
    public init(contentsOf url: URL) throws(PCAError) {
        let path = url.path
        let parts: (k: Int, d: Int, samples: Int, centred: Int64, mean: HDF5Array<Double>, components: HDF5Array<Double>,
                    variance: HDF5Array<Double>, ratio: HDF5Array<Double>, featureModel: FeatureModelIdentity?)
        do {
            let root = try HDF5File(readingFrom: url).root
            let format = try root.stringAttribute("format")
            guard format == Self.fileFormat else {
                throw PCAError.file(path: path, reason: "not a FruitFeatures PCA file (format \"\(format)\")")
            }
            let version = try root.integerAttribute("format_version")
            guard version >= 1, version <= Self.fileFormatVersion else {
                throw PCAError.file(path: path, reason: "PCA file format version \(version) is not supported (this build reads 1…\(Self.fileFormatVersion))")
            }
            let (k, d) = (try root.integerAttribute("k"), try root.integerAttribute("dimension"))
            // Sizes come from the file: check them against what a PCA can be, and every dataset's shape
            // against them, before reading anything (each read is also capped in bytes).
            guard d >= 1, d <= Int64(PCAAccumulator.maximumDimension), k >= 1, k <= d else {
                throw PCAError.invalidModel(
                    "\(path): k = \(k) components of dimension \(d) (a PCA has 1 ≤ k ≤ dimension ≤ \(PCAAccumulator.maximumDimension))")
            }
            let (kk, dd) = (Int(k), Int(d))
            let expected: [(String, [Int])] = [
                ("mean", [dd]), ("components", [kk, dd]), ("explained_variance", [kk]), ("explained_variance_ratio", [kk]),
            ]
            for (name, wanted) in expected {
                let shape = try root.dataset(name).shape()
                guard shape == wanted else {
                    throw PCAError.invalidModel("\(path): \(name) has shape \(shape), expected \(wanted) (k = \(k), dimension = \(d))")
                }
            }
            parts = (
                kk, dd, Int(clamping: try root.integerAttribute("n_samples")), try root.integerAttribute("centred"),
                try root.dataset("mean").readDoubles(), try root.dataset("components").readDoubles(),
                try root.dataset("explained_variance").readDoubles(), try root.dataset("explained_variance_ratio").readDoubles(),
                try Self.readFeatureModel(of: root, dimension: dd, path: path))
        } catch let error as PCAError {
            throw error
        } catch let error as HDF5Error {
            throw .file(path: path, reason: "cannot read the PCA model: \(error.detail)")
        } catch {
            throw .file(path: path, reason: "cannot read the PCA model: \(error)")
        }
        let (k, d) = (parts.k, parts.d)
        // The shapes were checked before reading; a file changed in between is caught here.
        let expected: [(String, [Int], [Int])] = [
            ("mean", parts.mean.shape, [d]), ("components", parts.components.shape, [k, d]),
            ("explained_variance", parts.variance.shape, [k]), ("explained_variance_ratio", parts.ratio.shape, [k]),
        ]
        for (name, shape, wanted) in expected where shape != wanted {
            throw .invalidModel("\(path): \(name) has shape \(shape), expected \(wanted) (k = \(k), dimension = \(d))")
        }
        guard parts.centred == 0 || parts.centred == 1 else {
            throw .invalidModel("\(path): attribute centred is \(parts.centred), expected 0 or 1")
        }
        let model: PCAModel
        do throws(PCAError) {
            model = try PCAModel(
                mean: parts.mean.values, components: parts.components.values, explainedVariance: parts.variance.values,
                explainedVarianceRatio: parts.ratio.values, sampleCount: parts.samples,
                centring: parts.centred == 1 ? .centred : .uncentred)
        } catch .invalidModel(let reason) {
            throw .invalidModel("\(path): \(reason)")
        } catch {
            throw .invalidModel("\(path): \(error.description)")
        }
        self = model
        // Readers turn the variances into chart heights and percentages: a hand-edited file must not feed
        // them values no fit can give (a fit's variances are ≥ 0, its kept ratios shares adding up to at most 1).
        if let problem = Self.varianceProblem(variance: explainedVariance, ratio: explainedVarianceRatio) {
            throw .invalidModel("\(path): \(problem)")
        }
        featureModel = parts.featureModel
    }

    /// Why explained variances read from a file are not what a fit gives, or nil: each variance ≥ 0, each ratio
    /// in [0, 1] and the ratios adding up to at most 1, both within rounding (``SummaryLimits/shareTolerance``).
    static func varianceProblem(variance: [Double], ratio: [Double]) -> String? {
        if let index = variance.firstIndex(where: { $0 < 0 }) {
            return "explained_variance[\(index)] is \(variance[index]), a negative variance"
        }
        var total = 0.0
        for (index, value) in ratio.enumerated() {
            // A fit's ratio can round above 1 (one component of two images: 1.0000000000000024).
            guard value >= 0, value <= 1 + SummaryLimits.shareTolerance else {
                return "explained_variance_ratio[\(index)] is \(value), not a share in [0, 1]"
            }
            total += value
        }
        guard total <= 1 + SummaryLimits.shareTolerance else {
            return "explained_variance_ratio adds up to \(total), more than 1"
        }
        return nil
    }

    /// The names of the root attributes recording ``featureModel``.
    enum FeatureModelAttribute {
        static let architecture = "feature_model_architecture"
        static let alpha = "feature_model_alpha"
        static let inputSize = "feature_model_input_size"
        static let preprocessing = "feature_model_preprocessing"
        static let featureCount = "feature_model_feature_count"
        static let weightsSHA256 = "feature_model_weights_sha256"
        static let kernelLevel = "feature_model_kernel_level"
    }

    /// The feature model recorded on `root`, checked like summary.json's; nil when the file records none (no
    /// `feature_model_architecture`).
    private static func readFeatureModel(of root: HDF5Group, dimension: Int, path: String) throws -> FeatureModelIdentity? {
        guard try root.hasAttribute(FeatureModelAttribute.architecture) else { return nil }
        func invalid(_ name: String, _ reason: String) -> PCAError { .invalidModel("\(path): attribute \(name) \(reason)") }
        func name(_ attribute: String) throws -> String {
            let value = try root.stringAttribute(attribute)
            guard !value.isEmpty, value.utf8.count <= SummaryLimits.nameBytes, !value.utf8.contains(0) else {
                throw invalid(attribute, "is not a name of 1…\(SummaryLimits.nameBytes) bytes")
            }
            return value
        }
        var alpha: Double?
        if try root.hasAttribute(FeatureModelAttribute.alpha) {
            let value = try root.doubleAttribute(FeatureModelAttribute.alpha)
            guard value.isFinite, value > 0, value <= SummaryLimits.alpha else {
                throw invalid(FeatureModelAttribute.alpha, "is \(value), not a width multiplier in (0, \(SummaryLimits.alpha)]")
            }
            alpha = value
        }
        let inputSize = try root.integerAttribute(FeatureModelAttribute.inputSize)
        guard SummaryLimits.inputSizes.contains(Int(clamping: inputSize)) else {
            throw invalid(FeatureModelAttribute.inputSize,
                          "is \(inputSize), not in \(SummaryLimits.inputSizes.lowerBound)…\(SummaryLimits.inputSizes.upperBound)")
        }
        // The PCA was fitted on these features: one input per feature.
        let featureCount = try root.integerAttribute(FeatureModelAttribute.featureCount)
        guard featureCount == Int64(dimension) else {
            throw invalid(FeatureModelAttribute.featureCount, "is \(featureCount), but the PCA takes \(dimension) features")
        }
        let sha256 = try root.stringAttribute(FeatureModelAttribute.weightsSHA256)
        guard sha256.utf8.count == 64, sha256.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }) else {
            throw invalid(FeatureModelAttribute.weightsSHA256, "is not a SHA-256 (64 lowercase hexadecimal digits)")
        }
        return FeatureModelIdentity(
            architecture: try name(FeatureModelAttribute.architecture), alpha: alpha, inputSize: Int(inputSize),
            preprocessing: try name(FeatureModelAttribute.preprocessing), featureCount: dimension,
            weightsSHA256: sha256, kernelLevel: try name(FeatureModelAttribute.kernelLevel))
    }
}
