import Foundation

/// A finished extraction's model — its MobileNetV2 weights and fitted PCA — loaded once to turn new
/// photos into the same PCA features (the mobile-app path: photo → 1280 features → K features).
public final class FittedPipeline: Sendable {
    /// The extraction's output folder.
    public let outputDirectory: String
    /// The extraction's summary.
    public let summary: ExtractionSummary
    /// The fitted PCA.
    public let pca: PCAModel
    /// The network, loaded from ``weightsPath``.
    public let extractor: MobileNetV2Extractor
    /// The weights file in use.
    public let weightsPath: String
    /// Turns encoded photos into network input.
    public let preprocessor: KerasPreprocessor

    /// Loads `outputDirectory`'s summary.json and pca.h5, and the weights it was made with.
    ///
    /// - Parameter weights: a weights file to use instead of the one named in summary.json; it must have
    ///   the same SHA-256, since other weights would give features the PCA was not fitted on.
    public init(outputDirectory: String, weights: String? = nil) throws(FittedPipelineError) {
        self.outputDirectory = outputDirectory
        let summaryPath = outputDirectory + "/" + ExtractionOutput.summary
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        do {
            summary = try decoder.decode(ExtractionSummary.self, from: Data(contentsOf: URL(fileURLWithPath: summaryPath)))
        } catch {
            throw FittedPipelineError(
                path: summaryPath, reason: "not the summary of a finished extraction: \(error.localizedDescription)")
        }
        do {
            pca = try PCAModel(contentsOf: URL(fileURLWithPath: outputDirectory + "/" + ExtractionOutput.pcaModel))
        } catch {
            let path = outputDirectory + "/" + ExtractionOutput.pcaModel
            throw FittedPipelineError(path: path, reason: error.description(omitting: path))
        }
        let candidate = weights ?? summary.weights.path
        guard FileManager.default.isReadableFile(atPath: candidate) else {
            throw FittedPipelineError(
                path: candidate, reason: "weights file not found (pass the file the extraction used with --weights)")
        }
        do {
            let digest = try SHA256.hexDigest(ofFileAt: candidate)
            if !summary.weights.sha256.isEmpty && digest != summary.weights.sha256 {
                throw FittedPipelineError(
                    path: candidate,
                    reason: "these weights (SHA-256 \(digest.prefix(12))…) are not those the PCA was fitted with (\(summary.weights.sha256.prefix(12))…)")
            }
            extractor = try MobileNetV2Extractor(weightsAt: URL(fileURLWithPath: candidate))
        } catch let error as FittedPipelineError {
            throw error
        } catch {
            throw FittedPipelineError(path: candidate, reason: "\(error)")
        }
        guard extractor.featureCount == pca.dimension else {
            throw FittedPipelineError(
                path: candidate, reason: "the network gives \(extractor.featureCount) features; the PCA takes \(pca.dimension)")
        }
        weightsPath = candidate
        preprocessor = KerasPreprocessor()
    }

    /// The raw network features of an encoded photo.
    public func rawFeatures(of encoded: [UInt8], path: String) throws(ImageError) -> [Float] {
        let input = try preprocessor.preprocess(encoded, path: path)
        do {
            return try extractor.features(of: input)
        } catch {
            throw ImageError(path: path, reason: .unsupported(error.description))
        }
    }

    /// The PCA features of an encoded photo.
    public func features(of encoded: [UInt8], path: String) throws(ImageError) -> [Float] {
        let raw = try rawFeatures(of: encoded, path: path)
        do {
            return try pca.project(raw, rowCount: 1)
        } catch {
            throw ImageError(path: path, reason: .unsupported(error.description))
        }
    }
}

/// A finished extraction's outputs could not be loaded.
public struct FittedPipelineError: Error, CustomStringConvertible, Sendable {
    /// The file concerned.
    public var path: String
    /// Why.
    public var reason: String
    public var description: String { "\(path): \(reason)" }
}
