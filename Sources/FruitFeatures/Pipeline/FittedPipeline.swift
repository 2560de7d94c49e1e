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
        // The weights first: when the run names a model this version cannot run, or weights that do not make its
        // features, that is what to say (before pca.h5's own check against summary.json).
        (model, weightsPath) = try run.loadFeatureModel(weights: weights, environment: environment)
        pca = try run.readPCAModel()
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
    ///
    /// - Throws: ``AnalysisError`` of kind ``AnalysisError/Kind/image`` when the photo cannot be used, or
    ///   ``AnalysisError/Kind/pca`` when the run's PCA cannot be applied to its features.
    public func features(of encoded: [UInt8], path: String) throws(AnalysisError) -> [Float] {
        let raw: [Float]
        do {
            raw = try rawFeatures(of: encoded, path: path)
        } catch {
            throw AnalysisError(.image, path: error.path, reason: error.reasonDescription)
        }
        return try project(raw, path: path)
    }

    /// The PCA features of the image files at `paths`, in order, on `jobs` cores: each K floats or the reason the
    /// file could not be used (``AnalysisError/Kind/image``) or its features projected (``AnalysisError/Kind/pca``).
    public func features(
        ofFilesAt paths: [String], jobs: Int = ProcessInfo.processInfo.activeProcessorCount
    ) async -> [Result<[Float], AnalysisError>] {
        await FeatureBatchRunner.features(ofFilesAt: paths, model: model, jobs: jobs).enumerated().map { index, raw in
            switch raw {
            case .success(let features):
                Result { () throws(AnalysisError) in try project(features, path: paths[index]) }
            case .failure(let error):
                .failure(AnalysisError(.image, path: error.path, reason: error.reasonDescription))
            }
        }
    }

    /// One row's projection (row by row, so a photo's PCA features never depend on the others).
    /// A failure is the PCA's, not the photo's: it names the photo and keeps the PCA's own explanation.
    private func project(_ raw: [Float], path: String) throws(AnalysisError) -> [Float] {
        do {
            return try pca.project(raw, rowCount: 1)
        } catch {
            throw AnalysisError(.pca, path: path, reason: error.description)
        }
    }
}
