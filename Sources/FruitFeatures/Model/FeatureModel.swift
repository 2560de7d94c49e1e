import CKernels
import Foundation

/// A network together with the preprocessing that feeds it: encoded photos in, feature vectors out.
///
/// This is the seam every feature path goes through (`extract`, `transform`, ``FittedPipeline``,
/// ``FruitRecognizer``, the C ABI): they call ``features(ofEncoded:names:)`` (or the package-level batch
/// functions built on the same core) and never name a concrete network. ``MobileNetV2FeatureModel`` is the
/// first implementation; ``FeatureModelLoader`` picks one from a weights file. Docs/model.md says how a new
/// backbone plugs in.
///
/// Implementations are immutable and safe to use from many tasks at once.
public protocol FeatureModel: Sendable {
    /// What makes this model's features: recorded in summary.json and compared when a run is opened.
    var identity: FeatureModelIdentity { get }

    /// The shape of one preprocessed image, (height, width, channels), stored HWC.
    var inputShape: TensorShape { get }

    /// Floats per feature vector.
    var featureCount: Int { get }

    /// Decodes and prepares one encoded image (a whole file) into `output` (`inputShape.count` floats).
    ///
    /// `path` only names the image in errors.
    func preprocess(_ encoded: UnsafeRawBufferPointer, path: String,
                    into output: UnsafeMutableBufferPointer<Float>) throws(ImageError)

    /// Runs the network over `count` preprocessed images stored one after another in `input`, writing
    /// `count · featureCount` floats to `output`. An image's features never depend on the other images of
    /// the call, nor on `count`.
    func features(batch input: UnsafeBufferPointer<Float>, count: Int,
                  into output: UnsafeMutableBufferPointer<Float>) throws(FeatureExtractionError)

    /// The same model refusing photos of more than `pixelLimit` pixels before decoding them (a service's
    /// limit); features of the photos it accepts are unchanged.
    func limitingPixels(to pixelLimit: Int) -> any FeatureModel
}

/// What made a run's features, as summary.json records it under `feature_model` (Docs/model.md lists the keys).
///
/// Two runs' features are comparable only when everything here but ``kernelLevel`` is equal; the kernel level
/// says which CPU kernels ran (features agree across levels within the stated tolerance, not bit for bit).
public struct FeatureModelIdentity: Codable, Sendable, Equatable {
    /// The backbone, e.g. `"mobilenet_v2"`.
    public var architecture: String
    /// The width multiplier, when the architecture has one and it is a published value.
    public var alpha: Double?
    /// Height and width, in pixels, of the square network input the photos are resized to.
    public var inputSize: Int
    /// The preprocessing, e.g. `"keras_mobilenet_v2"` (Pillow decode, bicubic resize, `x / 127.5 − 1`).
    public var preprocessing: String
    /// Floats per raw feature vector.
    public var featureCount: Int
    /// Hexadecimal SHA-256 of the weights file.
    public var weightsSHA256: String
    /// The CPU kernels that ran (``FeatureModelIdentity/currentKernelLevel()``): `"avx512"`, `"avx2"` or `"portable"`.
    public var kernelLevel: String

    /// Creates an identity.
    public init(architecture: String, alpha: Double?, inputSize: Int, preprocessing: String, featureCount: Int,
                weightsSHA256: String, kernelLevel: String = FeatureModelIdentity.currentKernelLevel()) {
        self.architecture = architecture
        self.alpha = alpha
        self.inputSize = inputSize
        self.preprocessing = preprocessing
        self.featureCount = featureCount
        self.weightsSHA256 = weightsSHA256
        self.kernelLevel = kernelLevel
    }

    // Spelled so that summary.json's snake_case strategy gives `weights_sha256` both ways.
    private enum CodingKeys: String, CodingKey {
        case architecture, alpha, inputSize, preprocessing, featureCount, kernelLevel
        case weightsSHA256 = "weightsSha256"
    }

    /// The name of the kernel level this process runs (`"avx512"`, `"avx2"` or `"portable"`): the CPU's best,
    /// lowered by `FRUITFEATURES_KERNEL_LEVEL` (``KernelLevel/active``).
    public static func currentKernelLevel() -> String {
        KernelLevel.active.name
    }

    /// The architecture name of MobileNetV2.
    public static let mobileNetV2 = "mobilenet_v2"
    /// The preprocessing name of ``KerasPreprocessor``: what `tf.keras.applications.mobilenet_v2.preprocess_input` does.
    public static let kerasMobileNetV2Preprocessing = "keras_mobilenet_v2"

    /// What made the features of a file written before FruitFeatures recorded the feature model: MobileNetV2 with
    /// the Keras preprocessing at 224 × 224, the only model there was; `alpha` as recorded (nil: unknown).
    static func legacy(alpha: Double?, weightsSHA256: String) -> FeatureModelIdentity {
        // Widths come from alpha only when it is a sane multiplier: a hand-edited file can hold anything.
        let featureCount = if let alpha, alpha.isFinite, alpha > 1, alpha <= SummaryLimits.alpha {
            MobileNetV2Architecture(alpha: alpha).lastChannels
        } else {
            1280
        }
        return FeatureModelIdentity(
            architecture: mobileNetV2, alpha: alpha, inputSize: 224, preprocessing: kerasMobileNetV2Preprocessing,
            featureCount: featureCount, weightsSHA256: weightsSHA256, kernelLevel: "unknown")
    }

    /// The network as people name it, with its alpha and input size: `MobileNetV2 alpha 1.0, 224×224`,
    /// `MobileNetV3Large (minimalistic) alpha 0.75, 224×224` (Keras's application names; the form the server
    /// answers with). An architecture this version does not know keeps its identifier.
    package var networkDescription: String {
        var name = architecture
        if architecture == Self.mobileNetV2 {
            name = "MobileNetV2"
        } else {
            for variant in MobileNetV3Architecture.Variant.allCases {
                for minimalistic in [false, true]
                where MobileNetV3FeatureModel.architectureName(MobileNetV3Architecture(variant, minimalistic: minimalistic)) == architecture {
                    name = variant.kerasName + (minimalistic ? " (minimalistic)" : "")
                }
            }
        }
        let alphaText = alpha.map { " alpha \($0)," } ?? ""
        return "\(name)\(alphaText) \(inputSize)×\(inputSize)"
    }

    /// Why features made by `self` cannot be used where `other`'s are expected, or nil when they can.
    ///
    /// The kernel level is not compared; the weights' SHA-256 is compared only when both are known.
    public func mismatch(with other: FeatureModelIdentity) -> String? {
        var differences: [String] = []
        if architecture != other.architecture { differences.append("architecture \(architecture) vs \(other.architecture)") }
        if let a = alpha, let b = other.alpha, a != b { differences.append("alpha \(a) vs \(b)") }
        if inputSize != other.inputSize { differences.append("input size \(inputSize) vs \(other.inputSize)") }
        if preprocessing != other.preprocessing { differences.append("preprocessing \(preprocessing) vs \(other.preprocessing)") }
        if featureCount != other.featureCount { differences.append("\(featureCount) features vs \(other.featureCount)") }
        if !weightsSHA256.isEmpty, !other.weightsSHA256.isEmpty, weightsSHA256 != other.weightsSHA256 {
            differences.append("weights SHA-256 \(weightsSHA256.prefix(12))… vs \(other.weightsSHA256.prefix(12))…")
        }
        return differences.isEmpty ? nil : differences.joined(separator: ", ")
    }
}

/// Turns a weights file into a ``FeatureModel``: recognises the architecture and builds its network.
///
/// One case per backbone: a new architecture adds its recognition and construction here.
public enum FeatureModelLoader {
    /// Loads the weights at `path` (hashing the file for the model's identity).
    ///
    /// - Parameter inputSize: the square input size the photos are resized to (the notebook's 224).
    public static func load(weightsAt path: String, inputSize: Int = 224) throws(WeightsError) -> any FeatureModel {
        try load(weightsAt: path, sha256: nil, inputSize: inputSize)
    }

    /// Loads the weights at `path` whose SHA-256 the caller has already computed.
    /// (nil: hashed here, once the file has proved to be weights).
    static func load(weightsAt path: String, sha256: String?, inputSize: Int = 224) throws(WeightsError) -> any FeatureModel {
        // The file says which network it holds (KerasWeightsFile refuses others, naming what it found).
        let file = try KerasWeightsFile(contentsOf: URL(fileURLWithPath: path))
        let architecture = try file.backboneArchitecture()
        guard (32...2048).contains(inputSize), let resampler = BicubicResampler(width: inputSize, height: inputSize) else {
            throw WeightsError(file: path, reason: .unsupportedInputSize(inputSize))
        }
        let preprocessor = KerasPreprocessor(resampler: resampler)
        let sha256 = if let sha256 { sha256 } else { try WeightsLocation.digest(ofFileAt: path) }
        switch architecture {
        case .mobileNetV2:
            let extractor = try MobileNetV2Extractor(weights: try file.mobileNetV2Weights(), inputSize: inputSize, source: path)
            do {
                return try MobileNetV2FeatureModel(extractor: extractor, preprocessor: preprocessor, weightsSHA256: sha256)
            } catch {
                throw WeightsError(file: path, reason: error.reason)
            }
        case .mobileNetV3:
            let extractor = try MobileNetV3Extractor(weights: try file.mobileNetV3Weights(), inputSize: inputSize, source: path)
            do {
                return try MobileNetV3FeatureModel(extractor: extractor, preprocessor: preprocessor, weightsSHA256: sha256)
            } catch {
                throw WeightsError(file: path, reason: error.reason)
            }
        }
    }
}
