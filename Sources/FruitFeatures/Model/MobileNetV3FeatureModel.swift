import Foundation

/// MobileNetV3 (``MobileNetV3Extractor``) fed by the Keras preprocessing (``KerasPreprocessor``): Pillow's
/// decode and bicubic resize, then `x / 127.5 − 1` — the values Keras's MobileNetV3 computes from the resized
/// [0, 255] image with its own `Rescaling` layer (or expects, without it).
public struct MobileNetV3FeatureModel: FeatureModel {
    /// The network.
    public let extractor: MobileNetV3Extractor
    /// Decoding, resizing and scaling.
    public private(set) var preprocessor: KerasPreprocessor
    /// Architecture (`mobilenet_v3_large`, `mobilenet_v3_small`, `…_minimalistic`), alpha, input size, preprocessing
    /// (`keras_mobilenet_v3`), feature count, weights SHA-256 and kernel level.
    public let identity: FeatureModelIdentity

    /// The preprocessing name of MobileNetV3's: the Keras image rescaled to [-1, 1] (by the model's layer in Keras).
    public static let preprocessingName = "keras_mobilenet_v3"

    /// The identity's architecture name of `architecture`.
    public static func architectureName(_ architecture: MobileNetV3Architecture) -> String {
        "mobilenet_v3_\(architecture.variant.rawValue)\(architecture.minimalistic ? "_minimalistic" : "")"
    }

    /// Bundles a loaded network with its preprocessing.
    ///
    /// - Parameter weightsSHA256: the SHA-256 of the weights file the network was loaded from.
    /// - Throws: ``WeightsError/Reason/unsupportedInputSize(_:)`` when the preprocessor's output is not the
    ///   network's input.
    public init(extractor: MobileNetV3Extractor, preprocessor: KerasPreprocessor = KerasPreprocessor(),
                weightsSHA256: String) throws(WeightsError) {
        guard preprocessor.outputShape == TensorShape(height: extractor.inputSize, width: extractor.inputSize, channels: 3)
        else {
            throw WeightsError(file: "", reason: .unsupportedInputSize(preprocessor.outputShape.height))
        }
        self.extractor = extractor
        self.preprocessor = preprocessor
        identity = FeatureModelIdentity(
            architecture: Self.architectureName(extractor.architecture), alpha: extractor.architecture.alpha,
            inputSize: extractor.inputSize, preprocessing: Self.preprocessingName,
            featureCount: extractor.featureCount, weightsSHA256: weightsSHA256)
    }

    /// (inputSize, inputSize, 3).
    public var inputShape: TensorShape { preprocessor.outputShape }
    /// 960 for Large, 576 for Small at alpha 1.
    public var featureCount: Int { extractor.featureCount }

    /// Decodes, resizes and scales one encoded image.
    public func preprocess(_ encoded: UnsafeRawBufferPointer, path: String,
                           into output: UnsafeMutableBufferPointer<Float>) throws(ImageError) {
        try preprocessor.preprocess(encoded, path: path, into: output)
    }

    /// Runs MobileNetV3 over `count` preprocessed images.
    public func features(batch input: UnsafeBufferPointer<Float>, count: Int,
                         into output: UnsafeMutableBufferPointer<Float>) throws(FeatureExtractionError) {
        try extractor.features(batch: input, count: count, into: output)
    }

    /// The same network and preprocessing, decoding at most `pixelLimit` pixels per photo.
    public func limitingPixels(to pixelLimit: Int) -> any FeatureModel {
        var limited = self
        limited.preprocessor.decoder = JPEGDecoder(pixelLimit: pixelLimit)
        return limited
    }
}
