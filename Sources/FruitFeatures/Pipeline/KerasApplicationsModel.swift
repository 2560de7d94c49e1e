import Foundation

/// A network whose ImageNet weights keras-applications publishes, and the file Keras downloads for it
/// (alpha 1.0, 224, with top — what `weights="imagenet"` fetches; its backbone is what FruitFeatures reads).
public enum KerasApplicationsModel: String, CaseIterable, Sendable {
    /// `MobileNetV2(alpha=1.0)`.
    case mobileNetV2 = "mobilenet_v2"
    /// `MobileNetV3Large(alpha=1.0)`.
    case mobileNetV3Large = "mobilenet_v3_large"
    /// `MobileNetV3Small(alpha=1.0)`.
    case mobileNetV3Small = "mobilenet_v3_small"
    /// `MobileNetV3Large(minimalistic=True)`.
    case mobileNetV3LargeMinimalistic = "mobilenet_v3_large_minimalistic"
    /// `MobileNetV3Small(minimalistic=True)`.
    case mobileNetV3SmallMinimalistic = "mobilenet_v3_small_minimalistic"

    /// The file name Keras gives the weights and caches them under (keras.applications' `mobilenet_v2.py`,
    /// `mobilenet_v3.py`: `weights_mobilenet_v3_{large|small}[_minimalistic]_224_1.0_float.h5`).
    public var fileName: String {
        switch self {
        case .mobileNetV2: return WeightsLocation.kerasFileName
        case .mobileNetV3Large: return "weights_mobilenet_v3_large_224_1.0_float.h5"
        case .mobileNetV3Small: return "weights_mobilenet_v3_small_224_1.0_float.h5"
        case .mobileNetV3LargeMinimalistic: return "weights_mobilenet_v3_large_minimalistic_224_1.0_float.h5"
        case .mobileNetV3SmallMinimalistic: return "weights_mobilenet_v3_small_minimalistic_224_1.0_float.h5"
        }
    }

    /// Where Keras downloads the file from.
    public var url: URL {
        if self == .mobileNetV2 { return WeightsLocation.kerasURL }
        return URL(string: "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v3/" + fileName)!
    }

    /// The file's place in the Keras cache: `$KERAS_HOME/models/…` or `~/.keras/models/…`.
    public func kerasCachePath(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        let kerasHome = environment["KERAS_HOME"] ?? ((environment["HOME"] ?? NSHomeDirectory()) + "/.keras")
        return kerasHome + "/models/" + fileName
    }
}
