import Foundation

/// A finished extraction's model — its feature model and fitted PCA — loaded once to turn new photos into the
/// same PCA features (the mobile-app path: photo → raw features → K features).
public final class FittedPipeline: Sendable {
    /// The run the model comes from.
    public let run: ExtractionRun
    /// The run's summary.
    public let summary: ExtractionSummary
    /// The fitted PCA.
    public let pca: PCAModel
    /// The preprocessing and network that made the run's features.
    public let model: any FeatureModel
    /// The weights file in use.
    public let weightsPath: String

    /// Loads a run's PCA and its feature model (weights by the one rule of
    /// ``ExtractionRun/loadFeatureModel(weights:environment:)``).
    ///
    /// - Throws: ``AnalysisError`` naming the file at fault.
    public init(
        run: ExtractionRun, weights: String? = nil, environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(AnalysisError) {
        self.run = run
        summary = try run.requireSummary()
        pca = try run.readPCAModel()
        (model, weightsPath) = try run.loadFeatureModel(weights: weights, environment: environment)
        guard model.featureCount == pca.dimension else {
            throw AnalysisError(.inconsistent, path: run.pcaModelFile.path,
                                reason: "the network gives \(model.featureCount) features; the PCA takes \(pca.dimension)")
        }
    }

    /// Opens the run in `outputDirectory` and loads its model (see ``init(run:weights:environment:)``).
    public convenience init(outputDirectory: String, weights: String? = nil) throws(AnalysisError) {
        try self.init(run: ExtractionRun(directory: URL(fileURLWithPath: outputDirectory)), weights: weights)
    }

    /// The raw network features of an encoded photo.
    public func rawFeatures(of encoded: [UInt8], path: String) throws(ImageError) -> [Float] {
        try model.features(ofEncoded: [encoded], names: [path])[0].get()
    }

    /// The PCA features of an encoded photo.
    public func features(of encoded: [UInt8], path: String) throws(ImageError) -> [Float] {
        try project(rawFeatures(of: encoded, path: path), path: path)
    }

    /// The PCA features of the image files at `paths`, in order, on `jobs` cores: each K floats or the reason the
    /// file could not be used.
    public func features(
        ofFilesAt paths: [String], jobs: Int = ProcessInfo.processInfo.activeProcessorCount
    ) async -> [Result<[Float], ImageError>] {
        await FeatureBatchRunner.features(ofFilesAt: paths, model: model, jobs: jobs).enumerated().map { index, raw in
            raw.flatMap { features in Result { () throws(ImageError) in try project(features, path: paths[index]) } }
        }
    }

    /// One row's projection (row by row, so a photo's PCA features never depend on the others).
    private func project(_ raw: [Float], path: String) throws(ImageError) -> [Float] {
        do {
            return try pca.project(raw, rowCount: 1)
        } catch {
            throw ImageError(path: path, reason: .unsupported(error.description))
        }
    }
}
