import Foundation

/// A finished run of the extract command (an output folder), opened once.
///
/// Opening resolves which generation of the folder is current (see ``RunGenerations``: a run is replaced as a
/// whole) and reads `summary.json`; everything else is read from that same generation when asked for, so a
/// reader never mixes the files of two runs, even when the run is replaced meanwhile. The network weights are
/// loaded only by ``loadFeatureModel(weights:environment:)`` — `report` and `evaluate` never need them.
///
///     let run = try ExtractionRun(directory: URL(fileURLWithPath: "out"))
///     let pca = try run.readPCAModel()
///     let (model, _) = try run.loadFeatureModel()
///
/// Runs made before summary.json recorded the feature model open as MobileNetV2 with the Keras preprocessing,
/// which is what made them (``ExtractionSummary/featureModelIdentity``).
public struct ExtractionRun: Sendable {
    /// The output folder, as given.
    public let directory: URL
    /// The folder the run's files are read from: the current generation, or `directory` itself for a run
    /// written before generations existed.
    public let generationDirectory: URL
    /// summary.json, read at opening: nil when the folder has none, or the error that reading it gave.
    private let summaryContents: Result<(summary: ExtractionSummary, fields: [String: SummaryValue])?, AnalysisError>

    /// Opens an existing output folder: resolves its current generation and reads `summary.json` (when present).
    ///
    /// - Throws: ``AnalysisError/Kind/unreadable`` when `directory` is not an existing folder.
    public init(directory: URL) throws(AnalysisError) {
        guard folderExists(atPath: directory.path) else {
            throw AnalysisError(.unreadable, path: directory.path, reason: "not an existing folder")
        }
        self.directory = directory
        generationDirectory = URL(fileURLWithPath: RunGenerations(directory: directory.path).currentGeneration)
        let summaryFile = generationDirectory.appendingPathComponent(ExtractionOutput.summary)
        summaryContents = Result { () throws(AnalysisError) in try Self.readSummary(at: summaryFile) }
    }

    /// `features.csv`: path, label and the K PCA features of each image.
    public var featuresCSV: URL { file(ExtractionOutput.featuresCSV) }
    /// `features.parquet`: the same rows in Parquet.
    public var featuresParquet: URL { file(ExtractionOutput.featuresParquet) }
    /// `pca.h5`: the fitted PCA model.
    public var pcaModelFile: URL { file(ExtractionOutput.pcaModel) }
    /// `summary.json`: counts, speed, settings, weights and feature model of the run; written last.
    public var summaryFile: URL { file(ExtractionOutput.summary) }
    /// `errors.csv`: the images that could not be used.
    public var errorsCSV: URL { file(ExtractionOutput.errors) }
    /// `evaluation.json`: written by `fruitfeatures evaluate`, into the run's generation (it goes with the run).
    public var evaluationFile: URL { file(Evaluation.fileName) }
    /// `report.html`: written by `fruitfeatures report`, into the run's generation (it goes with the run).
    public var reportFile: URL { file(ReportPage.fileName) }

    private func file(_ name: String) -> URL { generationDirectory.appendingPathComponent(name) }

    /// When `summary.json` was last written, which is when the run finished; nil when it cannot be read.
    package var summaryWrittenAt: Date? {
        guard let status = try? SystemCalls.status(atPath: summaryFile.path, followingLinks: true) else { return nil }
        return Date(timeIntervalSince1970: Double(status.modificationTimeNanoseconds) / 1e9)
    }

    /// The run's summary; nil when the folder has none.
    ///
    /// - Throws: ``AnalysisError/Kind/malformed`` when `summary.json` is not the summary of a finished extraction.
    public func readSummary() throws(AnalysisError) -> ExtractionSummary? {
        try summaryContents.get()?.summary
    }

    /// The summary as the extract command's ``ExtractionSummary`` and as plain JSON (for the report, which shows
    /// every field, including any a newer version added); nil when the folder has none.
    func readSummaryFields() throws(AnalysisError) -> (summary: ExtractionSummary, fields: [String: SummaryValue])? {
        try summaryContents.get()
    }

    /// The run's summary, required: the folder must hold a finished run.
    ///
    /// - Throws: ``AnalysisError/Kind/unreadable`` when there is no `summary.json`, ``AnalysisError/Kind/malformed``
    ///   when it is not the summary of a finished extraction.
    public func requireSummary() throws(AnalysisError) -> ExtractionSummary {
        guard let summary = try readSummary() else {
            throw AnalysisError(.unreadable, path: summaryFile.path,
                                reason: "no such file: not the output folder of a finished extraction (summary.json is written last)")
        }
        return summary
    }

    private static func readSummary(at url: URL) throws(AnalysisError) -> (summary: ExtractionSummary, fields: [String: SummaryValue])? {
        guard fileExists(atPath: url.path) else { return nil }
        // The file is ours, but anyone can edit it: it is read as untrusted input, within a size that bounds
        // every array it can hold, and every field is checked before anything uses it.
        let data = Data(try readFileContents(atPath: url.path, limit: FileSizeLimit.summary))
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        func malformed(_ what: String) -> AnalysisError {
            AnalysisError(.malformed, path: url.path, reason: "not the summary of a finished extraction: \(what)")
        }
        let summary: ExtractionSummary
        let fields: [String: SummaryValue]
        do {
            summary = try decoder.decode(ExtractionSummary.self, from: data)
            fields = try JSONDecoder().decode([String: SummaryValue].self, from: data)
        } catch let error as DecodingError {
            throw malformed(misfitIntegerField(in: data, among: ExtractionSummary.integerFields) ?? error.fieldDescription())
        } catch {
            throw malformed("\(error)")
        }
        do throws(InvalidField) {
            try summary.validate()
        } catch {
            throw malformed(error.description)
        }
        return (summary, fields)
    }

    /// Reads `features.csv`.
    ///
    /// - Throws: ``AnalysisError``; when only `features.parquet` exists, the reason says to extract with CSV.
    public func readFeatures() throws(AnalysisError) -> FeatureTable {
        guard fileExists(atPath: featuresCSV.path) else {
            let hint = fileExists(atPath: featuresParquet.path)
                ? ": only features.parquet is there; run extract with --format parquet,csv (the default) to get it"
                : ": is this the output folder of fruitfeatures extract?"
            throw AnalysisError(.unreadable, path: featuresCSV.path, reason: "no such file" + hint)
        }
        return try FeatureTable(contentsOfCSV: featuresCSV)
    }

    /// Reads `pca.h5`, checking that it was fitted on the features summary.json says the run has.
    ///
    /// A pca.h5 that records no feature model was written before FruitFeatures recorded it, when every run was
    /// MobileNetV2 with the Keras preprocessing at 224 × 224 (``PCAModel/featureModel`` stays nil).
    ///
    /// - Throws: ``AnalysisError/Kind/malformed`` when the file is not a valid PCA model;
    ///   ``AnalysisError/Kind/inconsistent`` when its feature model is not summary.json's (both are named).
    public func readPCAModel() throws(AnalysisError) -> PCAModel {
        guard fileExists(atPath: pcaModelFile.path) else {
            throw AnalysisError(.unreadable, path: pcaModelFile.path, reason: "no such file")
        }
        let model: PCAModel
        do {
            model = try PCAModel(contentsOf: pcaModelFile)
        } catch {
            throw AnalysisError(.malformed, path: pcaModelFile.path, reason: error.description(omitting: pcaModelFile.path))
        }
        // A summary that cannot be read is reported by whoever needs it; without one there is nothing to compare.
        if let summary = try? readSummary() {
            let recorded = summary.featureModelIdentity
            var fitted = model.featureModel ?? FeatureModelIdentity.legacy(alpha: nil, weightsSHA256: "")
            fitted.featureCount = model.dimension
            if let mismatch = fitted.mismatch(with: recorded) {
                throw AnalysisError(
                    .inconsistent, path: directory.path,
                    reason: "pca.h5 and summary.json disagree on the feature model: pca.h5 was fitted on "
                        + "\(Self.describe(fitted, recorded: model.featureModel != nil)), summary.json records "
                        + "\(Self.describe(recorded, recorded: true)) (\(mismatch), pca.h5 first); "
                        + "these are not the files of one run: run fruitfeatures extract again")
            }
        }
        return model
    }

    /// An identity in a few words: `mobilenet_v2 alpha 1.0, 224 px, keras_mobilenet_v2, 1280 features`.
    private static func describe(_ identity: FeatureModelIdentity, recorded: Bool) -> String {
        var words = identity.architecture + (identity.alpha.map { " alpha \($0)" } ?? "")
        words += ", \(identity.inputSize) px, \(identity.preprocessing), \(identity.featureCount) features"
        return recorded ? words : words + " (it records none: written before pca.h5 recorded the feature model)"
    }

    /// Reads `errors.csv`; nil when the folder has none.
    public func readFailedImages() throws(AnalysisError) -> [FailedImage]? {
        guard fileExists(atPath: errorsCSV.path) else { return nil }
        return try FailedImage.records(contentsOfCSV: errorsCSV)
    }

    /// Reads `evaluation.json`; nil when the folder has none.
    public func readEvaluation() throws(AnalysisError) -> Evaluation? {
        guard fileExists(atPath: evaluationFile.path) else { return nil }
        return try Evaluation(contentsOf: evaluationFile)
    }

    /// Gives a derived file just written into the run's generation (`evaluation.json`, `report.html`) its stable
    /// name in the output folder, and returns the path to show the user.
    @discardableResult
    package func linkDerivedFile(_ name: String) throws(AnalysisError) -> URL {
        guard generationDirectory.path != directory.path else { return file(name) }
        do {
            try RunGenerations(directory: directory.path).linkPublishedFile(name)
        } catch {
            throw AnalysisError(.unreadable, path: error.path, reason: error.reason)
        }
        return directory.appendingPathComponent(name)
    }

    /// Loads the feature model that made the run's features: the weights by the one weights rule, checked
    /// against the run's identity.
    ///
    /// The weights are `weights` when given (its SHA-256 must be the run's); else the first of summary.json's
    /// path, `$FRUITFEATURES_WEIGHTS` and the Keras cache whose SHA-256 is the run's (``WeightsLocation``).
    ///
    /// - Returns: the model and the weights file it was loaded from.
    /// - Throws: ``AnalysisError/Kind/weights`` when no usable weights are found (naming every place tried and
    ///   why each was refused), or when the run was made with a model or preprocessing this version cannot run
    ///   or the weights do not give.
    public func loadFeatureModel(
        weights: String? = nil, environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(AnalysisError) -> (model: any FeatureModel, weightsPath: String) {
        let summary = try requireSummary()
        let identity = summary.featureModelIdentity
        guard Self.runnableModels.contains(where: { $0 == (identity.architecture, identity.preprocessing) }) else {
            throw AnalysisError(
                .weights, path: directory.path,
                reason: "the run was made with \(identity.architecture) and preprocessing \(identity.preprocessing), which this version of FruitFeatures cannot run")
        }
        let resolved: (path: String, sha256: String?)
        do {
            resolved = try WeightsLocation.resolve(
                explicit: weights, recorded: summary.weights.path, expectedSHA256: summary.weights.sha256,
                environment: environment)
        } catch {
            throw AnalysisError(.weights, reason: error.description)
        }
        let model: any FeatureModel
        do throws(WeightsError) {
            model = try FeatureModelLoader.load(weightsAt: resolved.path, sha256: resolved.sha256, inputSize: identity.inputSize)
        } catch {
            throw AnalysisError(.weights, path: resolved.path, reason: error.description)
        }
        if let mismatch = model.identity.mismatch(with: identity) {
            throw AnalysisError(
                .weights, path: resolved.path,
                reason: "these weights do not make the run's features (\(mismatch), the weights first)")
        }
        return (model, resolved.path)
    }

    /// The (architecture, preprocessing) pairs ``FeatureModelLoader`` can build.
    static let runnableModels: [(String, String)] = [
        (FeatureModelIdentity.mobileNetV2, FeatureModelIdentity.kerasMobileNetV2Preprocessing),
    ] + [MobileNetV3Architecture.Variant.large, .small].flatMap { variant in
        [false, true].map { minimalistic in
            (MobileNetV3FeatureModel.architectureName(MobileNetV3Architecture(variant, minimalistic: minimalistic)),
             MobileNetV3FeatureModel.preprocessingName)
        }
    }

    /// Checks that the features are the model's projections: as many features as components.
    package static func checkConsistency(features: FeatureTable, pca: PCAModel, directory: String) throws(AnalysisError) {
        guard features.featureCount == pca.componentCount else {
            throw AnalysisError(.inconsistent, path: directory,
                                reason: "features.csv has \(features.featureCount) features but pca.h5 has \(pca.componentCount) components")
        }
    }
}
