import Foundation
import FruitFeatures

/// One opened extract run, as the service answers from it.
///
/// This is the only file of the server that calls the library's run-opening and recognition API, so moving to
/// another way of opening a run touches this file alone.
public struct ServedModel: Sendable {
    /// The output folder the run was opened from, as given.
    public let directory: String
    /// What answers carry as `model`.
    public let identity: RecognitionModel
    /// What `GET /v1/model` shows.
    public let description: ModelDescription
    /// k when a request does not ask for another.
    public let defaultNeighbourCount: Int
    private let recognizer: FruitRecognizer
    /// The run's input folder with a trailing slash: stripped from every path an answer shows.
    private let inputPrefix: String

    /// Opens the extract run in `directory` (its summary.json, pca.h5, features.csv and weights).
    ///
    /// - Parameters:
    ///   - weights: the weights file; nil for the run's own rule (the recorded file, `$FRUITFEATURES_WEIGHTS`,
    ///     the Keras cache), always checked against the SHA-256 the run recorded.
    ///   - pixelLimit: photos with more pixels are refused before any pixel buffer exists.
    public static func open(directory: String, weights: String?, neighbourCount: Int, pixelLimit: Int) throws(ServedModelError) -> ServedModel {
        do {
            let run = try ExtractionRun(directory: URL(fileURLWithPath: directory))
            let loaded = try FruitRecognizer(run: run, weights: weights.map { URL(fileURLWithPath: $0) },
                                             neighbourCount: neighbourCount)
            let recognizer = try FruitRecognizer(
                model: try loaded.model.limitingPixels(to: pixelLimit), pca: loaded.pca, classifier: loaded.classifier)
            let summary = try run.requireSummary()
            let identity = RecognitionModel(architecture: loaded.model.identity.networkDescription,
                                            sha256: summary.weights.sha256)
            let made = run.summaryWrittenAt
            let table = loaded.classifier.training
            let description = ModelDescription(
                featureModel: identity, weightsFile: URL(fileURLWithPath: summary.weights.path).lastPathComponent,
                components: loaded.pca.componentCount, rows: table.rowCount,
                labels: table.labelCounts.map { ModelDescription.LabelCount(label: $0.label, count: $0.count) },
                made: made.map { ISO8601DateFormatter().string(from: $0) },
                explainedVarianceRatioTotal: summary.pca.explainedVarianceRatioTotal,
                version: summary.version)
            let input = summary.input.hasSuffix("/") ? summary.input : summary.input + "/"
            return ServedModel(directory: directory, identity: identity, description: description,
                               defaultNeighbourCount: neighbourCount, recognizer: recognizer, inputPrefix: input)
        } catch {
            throw ServedModelError(directory: directory, reason: String(describing: error))
        }
    }

    /// Recognises a photo given as its encoded bytes (a JPEG), exactly as `predict` would.
    ///
    /// Runs the network: call it off the event loops. Paths in the answer are relative to the run's input folder.
    func recognize(_ photo: UnsafeRawBufferPointer, name: String, labelCount: Int, neighbourCount: Int) throws(RecognitionFailure) -> Recognition {
        let raw: [Float]
        switch recognizer.model.features(ofEncoded: [photo], names: [name])[0] {
        case .success(let features):
            raw = features
        case .failure(let error):
            if case .tooLarge = error.reason { throw RecognitionFailure(.tooLarge, reason: error.reasonDescription) }
            throw RecognitionFailure(.unusableImage, reason: error.reasonDescription)
        }
        do {
            var answer: Recognition
            if neighbourCount == recognizer.classifier.neighbourCount {
                answer = try recognizer.recognize(rawFeatures: raw, name: name, labelCount: labelCount)
            } else {
                // Another k: a classifier over the same table (its set-up is one pass over the labels).
                let classifier = try NearestNeighbourClassifier(training: recognizer.classifier.training,
                                                                neighbourCount: neighbourCount)
                let projected = try recognizer.pca.project(raw, rowCount: 1)
                let prediction = try classifier.prediction(for: projected, labelCount: labelCount)
                answer = Recognition(photo: name, labels: prediction.ranking, neighbours: prediction.neighbours)
            }
            answer.labels = answer.labels.map { score in
                var score = score
                score.nearestPath = relative(score.nearestPath)
                return score
            }
            answer.neighbours = answer.neighbours.map { neighbour in
                var neighbour = neighbour
                neighbour.path = relative(neighbour.path)
                return neighbour
            }
            answer.model = identity
            return answer
        } catch {
            throw RecognitionFailure(.internalFailure, reason: "\(error)")
        }
    }

    /// A training path as the client may see it: relative to the run's input folder, else its last two parts
    /// (label folder and file), so no server path leaks.
    func relative(_ path: String) -> String {
        if path.hasPrefix(inputPrefix) { return String(path.dropFirst(inputPrefix.count)) }
        return path.split(separator: "/").suffix(2).joined(separator: "/")
    }
}

/// What `GET /v1/model` answers: the identity and contents of the run the service answers from.
public struct ModelDescription: Sendable, Equatable, Codable {
    /// A label and how many images of the run carry it.
    public struct LabelCount: Sendable, Equatable, Codable {
        public var label: String
        public var count: Int
    }
    /// The feature network and the SHA-256 of its weights.
    public var featureModel: RecognitionModel
    /// The weights file's name (never its folder).
    public var weightsFile: String
    /// PCA components: the length of the features compared.
    public var components: Int
    /// Labelled images the answers are drawn from.
    public var rows: Int
    /// Every label with its count, sorted by label.
    public var labels: [LabelCount]
    /// When the run was finished (summary.json's modification time, ISO 8601), if known.
    public var made: String?
    /// The share of the variance the components keep.
    public var explainedVarianceRatioTotal: Double
    /// The FruitFeatures version that made the run.
    public var version: String
}

/// A run that could not be opened: the folder and the reason.
public struct ServedModelError: Error, Sendable, CustomStringConvertible {
    /// The output folder.
    public var directory: String
    /// Why, naming the file at fault.
    public var reason: String
    public var description: String { "cannot open the run in \(directory): \(reason)" }
}

/// Why a photo got no answer, with the HTTP status class it maps to.
struct RecognitionFailure: Error, Sendable {
    enum Kind: Sendable {
        /// Not a usable JPEG (the reasons errors.csv gives): 400.
        case unusableImage
        /// More pixels than allowed: 422.
        case tooLarge
        /// Anything else (a bug): 500.
        case internalFailure
    }
    var kind: Kind
    var reason: String
    init(_ kind: Kind, reason: String) {
        self.kind = kind
        self.reason = reason
    }
}
