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
    /// The feature network, e.g. `MobileNetV2 alpha 1.0, 224×224` or `MobileNetV3Large alpha 0.75, 224×224` (the feature
    /// model's architecture by its Keras name, alpha and input size).
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
    /// The preprocessing and network, as in the extract command.
    public let model: any FeatureModel
    /// The PCA the features were reduced with.
    public let pca: PCAModel
    /// The labelled images and the vote.
    public let classifier: NearestNeighbourClassifier

    /// Assembles a recognizer from loaded parts.
    ///
    /// - Throws: ``AnalysisError/Kind/inconsistent`` when the parts do not fit: the model's feature count must
    ///   be the PCA's dimension, and the PCA's component count the classifier's feature count.
    public init(model: any FeatureModel, pca: PCAModel, classifier: NearestNeighbourClassifier) throws(AnalysisError) {
        guard model.featureCount == pca.dimension else {
            throw AnalysisError(.inconsistent,
                                reason: "the weights give \(model.featureCount) features but the PCA expects \(pca.dimension)")
        }
        guard pca.componentCount == classifier.training.featureCount else {
            throw AnalysisError(.inconsistent,
                                reason: "the PCA has \(pca.componentCount) components but the labelled features have \(classifier.training.featureCount)")
        }
        self.model = model
        self.pca = pca
        self.classifier = classifier
    }

    /// Loads a finished run: its PCA, `features.csv` and the feature model.
    ///
    /// The weights follow the one rule of ``ExtractionRun/loadFeatureModel(weights:environment:)``: `weights` when
    /// given (its SHA-256 must be the run's); else the first of summary.json's path, `$FRUITFEATURES_WEIGHTS` and
    /// the Keras cache with the run's SHA-256.
    ///
    /// - Parameter neighbourCount: k: how many nearest images vote.
    /// - Throws: ``AnalysisError`` naming the file at fault.
    public convenience init(
        run: ExtractionRun, weights: URL? = nil, neighbourCount: Int = 5,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(AnalysisError) {
        let fitted = try FittedPipeline(run: run, weights: weights?.path, environment: environment)
        let features = try run.readFeatures()
        try ExtractionRun.checkConsistency(features: features, pca: fitted.pca, directory: run.directory.path)
        let classifier = try NearestNeighbourClassifier(training: features, neighbourCount: neighbourCount)
        try self.init(model: fitted.model, pca: fitted.pca, classifier: classifier)
    }

    /// Opens the run in `directory` and loads it (see ``init(run:weights:neighbourCount:environment:)``).
    public convenience init(
        contentsOf directory: URL, weights: URL? = nil, neighbourCount: Int = 5,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(AnalysisError) {
        try self.init(run: ExtractionRun(directory: directory), weights: weights, neighbourCount: neighbourCount,
                      environment: environment)
    }

    /// Recognises the photo in the file at `path`.
    ///
    /// - Parameter labelCount: how many labels to return (the most likely first).
    /// - Throws: ``AnalysisError/Kind/image`` when the file cannot be read or decoded.
    public func recognize(photoAt path: String, labelCount: Int = 5) throws(AnalysisError) -> Recognition {
        let bytes: [UInt8]
        do {
            bytes = try DirectoryImageSource.contents(ofFileAt: path)
        } catch {
            throw AnalysisError(.image, path: path, reason: ImageError(readFailure: error).reasonDescription)
        }
        return try recognize(encodedPhoto: bytes, name: path, labelCount: labelCount)
    }

    /// Recognises a photo given as the bytes of its file (a JPEG), for callers that hold it in memory.
    ///
    /// - Parameter name: names the photo in the answer and in errors.
    public func recognize(encodedPhoto: some ContiguousBytes, name: String, labelCount: Int = 5) throws(AnalysisError) -> Recognition {
        try recognize(encodedPhotos: [encodedPhoto], names: [name], labelCount: labelCount)[0].get()
    }

    /// Recognises several photos given as the bytes of their files, through the network's grouped stage together
    /// (faster per photo than one at a time); answers in order.
    public func recognize<Bytes: ContiguousBytes>(
        encodedPhotos: [Bytes], names: [String], labelCount: Int = 5
    ) -> [Result<Recognition, AnalysisError>] {
        zip(model.features(ofEncoded: encodedPhotos, names: names), names).map { raw, name in
            switch raw {
            case .success(let features):
                Result { () throws(AnalysisError) in try recognize(rawFeatures: features, name: name, labelCount: labelCount) }
            case .failure(let error):
                .failure(AnalysisError(.image, path: name, reason: error.reasonDescription))
            }
        }
    }

    /// Recognises a photo from its raw features (``FeatureModel/featureCount`` values).
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
}
