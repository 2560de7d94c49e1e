import Foundation

/// What a ``FruitRecognizer`` says about one photo.
public struct Recognition: Sendable, Equatable, Codable {
    /// The photo's path or name.
    public var photo: String
    /// The most likely labels, most likely first (see ``NearestNeighbourClassifier`` for the order).
    public var labels: [LabelScore]
    /// The nearest images of the output folder, nearest first, with their distances in PCA space.
    public var neighbours: [Neighbour]
    /// The model that answered, when the answer leaves the process (the HTTP service sets it; nil otherwise and
    /// then absent from the JSON).
    public var model: RecognitionModel?
    /// Seconds spent answering, when measured (the HTTP service sets it).
    public var seconds: Double?

    /// The most likely label.
    public var label: String { labels.first?.label ?? "" }

    /// Creates a recognition.
    public init(photo: String, labels: [LabelScore], neighbours: [Neighbour], model: RecognitionModel? = nil,
                seconds: Double? = nil) {
        self.photo = photo
        self.labels = labels
        self.neighbours = neighbours
        self.model = model
        self.seconds = seconds
    }
}

/// Which model gave a ``Recognition``: its feature network and the SHA-256 of its weights.
public struct RecognitionModel: Sendable, Equatable, Codable {
    /// The feature network, e.g. `MobileNetV2 alpha 1.0, 224×224`.
    public var architecture: String
    /// The SHA-256 of the weights file, in hexadecimal (as summary.json records it).
    public var sha256: String

    /// Creates a model identity.
    public init(architecture: String, sha256: String) {
        self.architecture = architecture
        self.sha256 = sha256
    }
}

/// Recognises fruit in photos with what an extract run saved: photo → MobileNetV2 features → the saved PCA →
/// nearest labelled images of `features.csv`.
///
/// Load an output folder once, then ask about as many photos as needed, from any number of tasks at once:
///
///     let recognizer = try FruitRecognizer(contentsOf: URL(fileURLWithPath: "out"))
///     let answer = try recognizer.recognize(photoAt: "photo.jpg")
///     print(answer.label, answer.neighbours.first?.distance ?? 0)
///
/// The photo goes through exactly the preprocessing of the extract command (``KerasPreprocessor``), so a photo
/// that is in the folder's input comes back at distance 0 from itself.
public final class FruitRecognizer: Sendable {
    /// The MobileNetV2 feature extractor.
    public let extractor: MobileNetV2Extractor
    /// Decoding, resizing and scaling, as in the extract command.
    public let preprocessor: KerasPreprocessor
    /// The PCA the features were reduced with.
    public let pca: PCAModel
    /// The labelled images and the vote.
    public let classifier: NearestNeighbourClassifier

    /// Assembles a recognizer from loaded parts.
    ///
    /// - Throws: ``AnalysisError/Kind/inconsistent`` when the parts do not fit: the extractor's feature count must
    ///   be the PCA's dimension, the PCA's component count the classifier's feature count, and the preprocessor's
    ///   output the extractor's input.
    public init(
        extractor: MobileNetV2Extractor, preprocessor: KerasPreprocessor = KerasPreprocessor(), pca: PCAModel,
        classifier: NearestNeighbourClassifier
    ) throws(AnalysisError) {
        guard extractor.featureCount == pca.dimension else {
            throw AnalysisError(.inconsistent,
                                reason: "the weights give \(extractor.featureCount) features but the PCA expects \(pca.dimension)")
        }
        guard pca.componentCount == classifier.training.featureCount else {
            throw AnalysisError(.inconsistent,
                                reason: "the PCA has \(pca.componentCount) components but the labelled features have \(classifier.training.featureCount)")
        }
        guard preprocessor.outputShape.count == extractor.inputCount else {
            throw AnalysisError(.inconsistent,
                                reason: "the preprocessor makes \(preprocessor.outputShape) images, the extractor takes \(extractor.inputSize)×\(extractor.inputSize)×3")
        }
        self.extractor = extractor
        self.preprocessor = preprocessor
        self.pca = pca
        self.classifier = classifier
    }

    /// Loads an extract output folder: `summary.json`, `pca.h5`, `features.csv` and the weights.
    ///
    /// The weights are `weights` when given; else the file `summary.json` names, when it is readable here; else the
    /// usual places (``WeightsLocation/resolve(explicit:environment:)``: `$FRUITFEATURES_WEIGHTS`, the Keras
    /// cache). Whichever it is, its SHA-256 must be the one `summary.json` records (``FittedPipeline`` checks it):
    /// other weights would give features the PCA was not fitted on.
    ///
    /// - Parameter neighbourCount: k: how many nearest images vote.
    /// - Throws: ``AnalysisError`` naming the file at fault.
    public convenience init(
        contentsOf directory: URL, weights: URL? = nil, neighbourCount: Int = 5,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(AnalysisError) {
        let folder = try ExtractionFolder(directory: directory)
        guard let summary = try folder.readSummary() else {
            throw AnalysisError(.unreadable, path: folder.summaryFile.path,
                                reason: "no such file: not the output folder of a finished extraction (summary.json is written last)")
        }
        let weightsPath = try Self.weightsPath(explicit: weights, recorded: summary.weights.path, environment: environment)
        let fitted: FittedPipeline
        do {
            fitted = try FittedPipeline(outputDirectory: directory.path, weights: weightsPath)
        } catch {
            throw AnalysisError(error.path == weightsPath ? .weights : .malformed, path: error.path, reason: error.reason)
        }
        let features = try folder.readFeatures()
        try ExtractionFolder.checkConsistency(features: features, pca: fitted.pca, directory: directory.path)
        let classifier = try NearestNeighbourClassifier(training: features, neighbourCount: neighbourCount)
        try self.init(extractor: fitted.extractor, preprocessor: fitted.preprocessor, pca: fitted.pca, classifier: classifier)
    }

    /// The weights file to load: explicit, else the one the summary records (when readable), else the usual places.
    static func weightsPath(explicit: URL?, recorded: String?, environment: [String: String]) throws(AnalysisError) -> String {
        if let explicit {
            guard FileManager.default.isReadableFile(atPath: explicit.path) else {
                throw AnalysisError(.weights, path: explicit.path, reason: "weights file does not exist or is not readable")
            }
            return explicit.path
        }
        if let recorded, FileManager.default.isReadableFile(atPath: recorded) {
            return recorded
        }
        do {
            return try WeightsLocation.resolve(explicit: nil, environment: environment)
        } catch {
            let named = recorded.map { "summary.json names \($0), which is not readable; " } ?? ""
            throw AnalysisError(.weights, reason: named + error.description)
        }
    }

    /// Recognises the photo in the file at `path`.
    ///
    /// - Parameter labelCount: how many labels to return (the most likely first).
    /// - Throws: ``AnalysisError/Kind/image`` when the file cannot be read or decoded.
    public func recognize(photoAt path: String, labelCount: Int = 5) throws(AnalysisError) -> Recognition {
        let input: [Float]
        do {
            input = try preprocessor.preprocessFile(atPath: path)
        } catch {
            throw AnalysisError(.image, path: path, reason: error.reasonDescription)
        }
        return try recognize(preprocessed: input, name: path, labelCount: labelCount)
    }

    /// Recognises a photo given as the bytes of its file (a JPEG), for callers that hold it in memory.
    ///
    /// - Parameter name: names the photo in the answer and in errors.
    public func recognize(encodedPhoto: some ContiguousBytes, name: String, labelCount: Int = 5) throws(AnalysisError) -> Recognition {
        let input: [Float]
        do {
            input = try preprocessor.preprocess(encodedPhoto, path: name)
        } catch {
            throw AnalysisError(.image, path: name, reason: error.reasonDescription)
        }
        return try recognize(preprocessed: input, name: name, labelCount: labelCount)
    }

    /// Recognises a photo from its raw MobileNetV2 features (``MobileNetV2Extractor/featureCount`` values).
    public func recognize(rawFeatures: [Float], name: String, labelCount: Int = 5) throws(AnalysisError) -> Recognition {
        let projected: [Float]
        do {
            projected = try pca.project(rawFeatures, rowCount: 1)
        } catch {
            throw AnalysisError(.invalidArgument, path: name, reason: error.description)
        }
        let prediction = try classifier.prediction(for: projected, labelCount: labelCount)
        return Recognition(photo: name, labels: prediction.ranking, neighbours: prediction.neighbours)
    }

    private func recognize(preprocessed input: [Float], name: String, labelCount: Int) throws(AnalysisError) -> Recognition {
        let raw: [Float]
        do {
            raw = try extractor.features(of: input)
        } catch {
            throw AnalysisError(.invalidArgument, path: name, reason: error.description)
        }
        return try recognize(rawFeatures: raw, name: name, labelCount: labelCount)
    }
}
