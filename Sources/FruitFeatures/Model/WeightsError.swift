/// A weights file that cannot be used as MobileNetV2 weights, naming the file and, when one is at fault, the layer.
public struct WeightsError: Error, CustomStringConvertible, Sendable, Equatable {
    /// What is wrong with the file.
    public enum Reason: Sendable, Equatable {
        /// The file could not be read as HDF5 (missing, not HDF5, truncated, unreadable object).
        case hdf5(HDF5Error)
        /// The file is HDF5 but holds no Keras weights (no `layer_names` attribute).
        case noKerasWeights
        /// The Keras weights in the file are not those of a MobileNetV2 (detail says why).
        case notMobileNetV2(String)
        /// The file ends before all MobileNetV2 layers are found.
        case missingLayers(expected: Int, found: Int)
        /// A layer has a different number of weights than the MobileNetV2 layer at its position.
        case weightCount(expected: Int, found: Int)
        /// A weight of the layer has a shape MobileNetV2 cannot have there.
        case shape(weight: String, expected: [Int], found: [Int])
        /// A weight the layer needs is not in the file.
        case missingWeight(String)
        /// The requested input size is outside 32…2048 pixels (too small for the network, or unreasonably large).
        case unsupportedInputSize(Int)
        /// The file could not be read to the end (to hash it); the system's reason.
        case unreadable(String)
    }

    /// The path of the weights file.
    public let file: String
    /// The layer at fault as the file names it (`nil` when the file as a whole is at fault).
    public let layer: String?
    /// The MobileNetV2 layer (today's Keras name) expected at that position, when known.
    public let expectedLayer: String?
    /// What is wrong.
    public let reason: Reason

    /// Creates an error about `file`, and optionally one of its layers.
    public init(file: String, layer: String? = nil, expectedLayer: String? = nil, reason: Reason) {
        self.file = file
        self.layer = layer
        self.expectedLayer = expectedLayer
        self.reason = reason
    }

    /// A one-line explanation naming the file, the layer and the reason.
    public var description: String {
        let what: String
        switch reason {
        case .hdf5(let error): return "cannot read weights: \(error)"
        case .noKerasWeights: what = "no Keras weights (no layer_names attribute)"
        case .notMobileNetV2(let detail): what = "not MobileNetV2 weights: \(detail)"
        case .missingLayers(let expected, let found):
            what = "only \(found) of MobileNetV2's \(expected) layers with weights are in the file"
        case .weightCount(let expected, let found): what = "has \(found) weights where MobileNetV2 has \(expected)"
        case .shape(let weight, let expected, let found):
            what = "weight \(weight) has shape \(found) where MobileNetV2 needs \(expected)"
        case .missingWeight(let weight): what = "weight \(weight) is missing"
        case .unsupportedInputSize(let size): what = "input size \(size) is outside 32…2048"
        case .unreadable(let reason): what = "cannot read the file: \(reason)"
        }
        var location = file
        if let layer {
            location += ": layer \(layer)"
            if let expectedLayer, expectedLayer != layer { location += " (MobileNetV2's \(expectedLayer))" }
        } else if let expectedLayer {
            location += ": at MobileNetV2's \(expectedLayer)"
        }
        return "\(location): \(what)"
    }
}
