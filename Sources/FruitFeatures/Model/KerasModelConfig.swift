import Foundation

/// What a `.keras` archive's `config.json` says about the model: its class and name, its input shape, and
/// the layers (with the models nested in it), as far as FruitFeatures needs them.
///
/// Keras 3 writes `{"class_name": "Functional", "config": {"name": …, "layers": [{"class_name": …,
/// "config": {"name": …, …}, "name": …}, …]}, "build_config": {"input_shape": [null, 224, 224, 3]}}`; a nested
/// model appears as one of the layers with its own `config.layers`.
package struct KerasModelConfig: Sendable, Equatable {
    /// One layer of the model.
    package struct Layer: Sendable, Equatable {
        /// The layer's name (the key of its weights: `layers/<name>/…` in `model.weights.h5`).
        package let name: String
        /// Its class (`Conv2D`, `BatchNormalization`, `Rescaling`, `Functional`, …).
        package let className: String
        /// For an `Activation` layer, its function (`hard_swish`, `relu`, …).
        package let activation: String?
        /// For a nested model, its own configuration.
        package let nested: KerasModelConfig?
    }

    /// The model's class (`Functional`, `Sequential`).
    package let className: String
    /// The model's name (`MobileNetV3Large`, `mobilenetv2_1.00_224`, …).
    package let name: String
    /// The input's height and width, when fixed.
    package let inputSize: (height: Int, width: Int)?
    /// The layers, in model order.
    package let layers: [Layer]

    /// Equal when class, name, input size and layers are.
    package static func == (lhs: KerasModelConfig, rhs: KerasModelConfig) -> Bool {
        lhs.className == rhs.className && lhs.name == rhs.name && lhs.layers == rhs.layers
            && lhs.inputSize?.height == rhs.inputSize?.height && lhs.inputSize?.width == rhs.inputSize?.width
    }

    /// Parses `config.json`; nil when it is not a JSON object describing a model.
    package init?(json: [UInt8]) {
        guard let object = try? JSONSerialization.jsonObject(with: Data(json)) as? [String: Any] else { return nil }
        self.init(object: object)
    }

    init?(object: [String: Any]) {
        guard let className = object["class_name"] as? String,
              let config = object["config"] as? [String: Any] else { return nil }
        self.className = className
        name = config["name"] as? String ?? object["name"] as? String ?? ""
        var layers: [Layer] = []
        for case let layer as [String: Any] in config["layers"] as? [Any] ?? [] {
            let layerConfig = layer["config"] as? [String: Any] ?? [:]
            guard let layerName = layerConfig["name"] as? String ?? layer["name"] as? String,
                  let layerClass = layer["class_name"] as? String else { continue }
            let nested = layerConfig["layers"] != nil ? KerasModelConfig(object: layer) : nil
            layers.append(Layer(name: layerName, className: layerClass,
                                activation: Self.activationName(layerConfig["activation"]), nested: nested))
        }
        self.layers = layers
        inputSize = Self.inputSize(object: object, config: config)
    }

    /// The activation's name: a string, or a serialized function `{"config": {"name": …}}` in some versions.
    private static func activationName(_ value: Any?) -> String? {
        if let name = value as? String { return name }
        if let object = value as? [String: Any] {
            return (object["config"] as? [String: Any])?["name"] as? String ?? object["class_name"] as? String
        }
        return nil
    }

    /// From `build_config.input_shape`, else the InputLayer's `batch_shape` / `batch_input_shape`.
    private static func inputSize(object: [String: Any], config: [String: Any]) -> (height: Int, width: Int)? {
        func size(_ shape: Any?) -> (height: Int, width: Int)? {
            guard let shape = shape as? [Any], shape.count == 4,
                  let height = shape[1] as? Int, let width = shape[2] as? Int else { return nil }
            return (height, width)
        }
        if let build = object["build_config"] as? [String: Any], let found = size(build["input_shape"]) { return found }
        for case let layer as [String: Any] in config["layers"] as? [Any] ?? [] where layer["class_name"] as? String == "InputLayer" {
            let layerConfig = layer["config"] as? [String: Any] ?? [:]
            if let found = size(layerConfig["batch_shape"] ?? layerConfig["batch_input_shape"]) { return found }
        }
        return nil
    }

    /// The model itself or the first model nested in it (depth first) whose layers include `layerName`,
    /// with the path of layer names leading to it (empty for the model itself).
    package func model(containing layerName: String) -> (config: KerasModelConfig, path: [String])? {
        if layers.contains(where: { $0.name == layerName }) { return (self, []) }
        for layer in layers {
            if let nested = layer.nested, let found = nested.model(containing: layerName) {
                return (found.config, [layer.name] + found.path)
            }
        }
        return nil
    }

    /// Whether the model starts by rescaling its input itself (`Rescaling`, as MobileNetV3's `include_preprocessing`).
    package var rescalesInput: Bool { layers.contains { $0.className == "Rescaling" } }

    /// The model's name and those of the models nested in it (for error messages).
    package var modelNames: [String] { [name] + layers.compactMap(\.nested).flatMap(\.modelNames) }
}
