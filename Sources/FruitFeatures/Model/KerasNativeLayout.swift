import Foundation

/// The network a weights file holds.
public enum BackboneArchitecture: Sendable, Equatable {
    /// MobileNetV2 (Sandler et al. 2018).
    case mobileNetV2
    /// MobileNetV3 Large or Small (Howard et al. 2019).
    case mobileNetV3(MobileNetV3Architecture.Variant)

    /// Keras's name for it: `MobileNetV2`, `MobileNetV3Large`, `MobileNetV3Small`.
    public var name: String {
        switch self {
        case .mobileNetV2: return "MobileNetV2"
        case .mobileNetV3(let variant): return variant.kerasName
        }
    }
}

/// The backbone's layers that carry weights, by kind, each in model order: where Keras 3's native layout
/// keeps them (it numbers layers per class), and what the legacy layouts' order gives once split by kind.
struct KerasLayerQueues {
    /// `Conv2D` layers: a kernel, and a bias when the layer has one (squeeze-and-excite, the top).
    var convolutions: [KerasWeightsFile.Slot] = []
    /// `DepthwiseConv2D` layers.
    var depthwise: [KerasWeightsFile.Slot] = []
    /// `BatchNormalization` layers: gamma, beta, moving mean, moving variance.
    var norms: [KerasWeightsFile.Slot] = []
}

extension KerasWeightsFile {
    /// Keras's `naming.to_snake_case` of a class name: `DepthwiseConv2D` → `depthwise_conv2d`.
    static func snakeCase(_ name: String) -> String {
        let characters = Array(name.filter { $0.isLetter || $0.isNumber || $0 == "_" })
        var result = ""
        for (index, character) in characters.enumerated() {
            if index > 0, character.isUppercase {
                let previous = characters[index - 1]
                let next = index + 1 < characters.count ? characters[index + 1] : nil
                // "(.)([A-Z][a-z]+)" then "([a-z])([A-Z])": an underscore before an upper-case letter that
                // starts a capitalised word, or that follows a lower-case letter.
                if (next?.isLowercase ?? false) || previous.isLowercase, previous != "_" { result.append("_") }
            }
            result.append(character)
        }
        return result.lowercased()
    }

    /// The key Keras 3's native layout stores each layer under, by layer name: its class in snake case,
    /// numbered from the second layer of that class on (`conv2d`, `conv2d_1`, …), in model order.
    static func storageKeys(of layers: [KerasModelConfig.Layer]) -> [String: String] {
        var used: [String: Int] = [:]
        var keys: [String: String] = [:]
        for layer in layers {
            let base = snakeCase(layer.className)
            if let count = used[base] {
                used[base] = count + 1
                keys[layer.name] = "\(base)_\(count + 1)"
            } else {
                used[base] = 0
                keys[layer.name] = base
            }
        }
        return keys
    }

    /// Splits a native key into its class part and its number (`conv2d_12` → ("conv2d", 12)).
    static func splitKey(_ key: String) -> (base: String, number: Int) {
        if let underscore = key.lastIndex(of: "_"), let number = Int(key[key.index(after: underscore)...]) {
            return (String(key[..<underscore]), number)
        }
        return (key, 0)
    }

    /// The native `layers` group holding the backbone: the root's, or a nested model's
    /// (`/layers/<key>/layers`, depth first), whichever holds the most depthwise convolutions.
    static func findBackboneRoot(_ file: HDF5File) throws(HDF5Error) -> String {
        var best = (path: "/layers", count: -1)
        func visit(_ path: String, depth: Int) throws(HDF5Error) {
            let keys = try HDF5Group(file: file, path: path).memberNames()
            let count = keys.filter { splitKey($0).base == "depthwise_conv2d" }.count
            if count > best.count { best = (path, count) }
            guard depth < 4 else { return }
            for key in keys where file.root.kindOfMember(hdf5Join(hdf5Join(path, key), "layers")) == .group {
                try visit(hdf5Join(hdf5Join(path, key), "layers"), depth: depth + 1)
            }
        }
        try visit("/layers", depth: 0)
        return best.path
    }

    /// The variable paths of the layer stored at `path` (`vars/0`, `vars/1`, … in index order).
    static func variablePaths(_ file: HDF5File, _ path: String) throws(HDF5Error) -> [String] {
        let vars = hdf5Join(path, "vars")
        guard file.root.kindOfMember(vars) == .group else { return [] }
        let names = try HDF5Group(file: file, path: vars).memberNames()
        return names.compactMap(Int.init).sorted().map { hdf5Join(vars, String($0)) }
    }

    /// The native layout's top-level layers with weights (a nested model lists every variable inside it),
    /// in `config.json`'s order when there is one, else by key.
    static func nativeLayers(_ file: HDF5File, config: KerasModelConfig?) throws(HDF5Error) -> [Layer] {
        func allVariables(_ path: String) throws(HDF5Error) -> [String] {
            var found = try variablePaths(file, path)
            let nested = hdf5Join(path, "layers")
            if file.root.kindOfMember(nested) == .group {
                for key in try HDF5Group(file: file, path: nested).memberNames() {
                    found += try allVariables(hdf5Join(nested, key))
                }
            }
            return found
        }
        var keys = try HDF5Group(file: file, path: "/layers").memberNames()
        var names: [String: String] = [:]
        if let config {
            let storage = storageKeys(of: config.layers)
            let order = config.layers.compactMap { storage[$0.name] }
            if Set(order) == Set(keys) {
                keys = order
                for (name, key) in storage { names[key] = name }
            }
        }
        var layers: [Layer] = []
        for key in keys {
            let prefix = "/layers/\(key)/"
            let variables = try allVariables("/layers/\(key)").map { String($0.dropFirst(prefix.count)) }
            if !variables.isEmpty { layers.append(Layer(name: names[key] ?? key, weightNames: variables)) }
        }
        return layers
    }

    /// The `config.json` model whose layers are stored at `root` (`/layers`, `/layers/<key>/layers`, …).
    private func configModel(at root: String) -> KerasModelConfig? {
        guard var model = config else { return nil }
        let parts = root.split(separator: "/").map(String.init)
        var index = 1
        while index + 1 < parts.count {
            let keys = Self.storageKeys(of: model.layers)
            guard let layer = model.layers.first(where: { keys[$0.name] == parts[index] }), let nested = layer.nested else {
                return nil
            }
            model = nested
            index += 2
        }
        return model
    }

    /// The backbone's convolutions, depthwise convolutions and BatchNorms, each in model order.
    func layerQueues() throws(WeightsError) -> KerasLayerQueues {
        let path = url.path
        func wrap<T>(_ body: () throws(HDF5Error) -> T) throws(WeightsError) -> T {
            do { return try body() } catch { throw WeightsError(file: path, reason: .hdf5(error)) }
        }
        var queues = KerasLayerQueues()
        if isNativeLayout {
            let root = nativeBackboneRoot ?? "/layers"
            var names: [String: String] = [:]
            if let model = configModel(at: root) {
                for (name, key) in Self.storageKeys(of: model.layers) { names[key] = name }
            }
            let keys = try wrap { () throws(HDF5Error) in try HDF5Group(file: file, path: root).memberNames() }
            var found: [(base: String, number: Int, slot: Slot)] = []
            for key in keys {
                let (base, number) = Self.splitKey(key)
                guard ["conv2d", "depthwise_conv2d", "batch_normalization"].contains(base) else { continue }
                let layerPath = hdf5Join(root, key)
                let variables = try wrap { () throws(HDF5Error) in try Self.variablePaths(file, layerPath) }
                let slot = Slot(fileName: names[key] ?? key,
                                weights: variables.map { (name: "\(names[key] ?? key)/\($0.split(separator: "/").suffix(2).joined(separator: "/"))", path: $0) })
                found.append((base, number, slot))
            }
            found.sort { $0.number < $1.number }
            queues.convolutions = found.filter { $0.base == "conv2d" }.map(\.slot)
            queues.depthwise = found.filter { $0.base == "depthwise_conv2d" }.map(\.slot)
            queues.norms = found.filter { $0.base == "batch_normalization" }.map(\.slot)
            return queues
        }
        // Legacy: the top-level layers in file order, each classified by its weights' shapes.
        for layer in layers {
            let slot = Slot(fileName: layer.name, weights: layer.weightNames.map {
                (name: $0, path: hdf5Join(hdf5Join(weightsRoot.path, layer.name), $0))
            })
            let shapes = try slot.weights.map { (weight) throws(WeightsError) -> [Int] in
                guard file.root.kindOfMember(weight.path) == .dataset else {
                    throw WeightsError(file: path, layer: layer.name, reason: .missingWeight(weight.name))
                }
                return try wrap { () throws(HDF5Error) in try HDF5Dataset(file: file, path: weight.path).shape() }
            }
            if shapes.count == 4, shapes.allSatisfy({ $0.count == 1 }) {
                queues.norms.append(slot)
            } else if let kernel = shapes.first, kernel.count == 4 {
                if kernel[3] == 1 && kernel[0] > 1 && shapes.count == 1 {
                    queues.depthwise.append(slot)
                } else {
                    queues.convolutions.append(slot)
                }
            }
        }
        return queues
    }

    /// MobileNetV2's 52 layers located in the native layout, in network order (see `mobileNetV2Weights`).
    func nativeMobileNetV2Slots(expectedNames: [String]) throws(WeightsError) -> [Slot] {
        let queues = try layerQueues()
        var slots: [Slot] = []
        var convolution = queues.convolutions.makeIterator()
        var depthwise = queues.depthwise.makeIterator()
        var norm = queues.norms.makeIterator()
        // Conv1, then per block [expand], depthwise, project, then Conv_1 — each followed by its BatchNorm.
        // A queue running dry ends the list early: `read` reports the missing layer by its MobileNetV2 name.
        func take(_ next: Slot?) -> Bool {
            guard let next else { return false }
            slots.append(next)
            return true
        }
        var complete = take(convolution.next()) && take(norm.next())
        for index in 0..<MobileNetV2Architecture.plan.count where complete {
            if index != 0 { complete = take(convolution.next()) && take(norm.next()) }
            complete = complete && take(depthwise.next()) && take(norm.next())
            complete = complete && take(convolution.next()) && take(norm.next())
        }
        if complete { _ = take(convolution.next()) && take(norm.next()) }
        return slots
    }

    /// Which network the file holds: from `config.json` when there is one, else from the layers found
    /// (17 depthwise convolutions: MobileNetV2; 15: MobileNetV3Large; 11: MobileNetV3Small).
    public func backboneArchitecture() throws(WeightsError) -> BackboneArchitecture {
        let path = url.path
        if let config {
            if config.model(containing: "Conv1") != nil, config.model(containing: "expanded_conv_depthwise") != nil {
                return .mobileNetV2
            }
            if let found = config.model(containing: "expanded_conv_depthwise"), found.config.model(containing: "conv_bn") != nil {
                let depthwise = found.config.layers.filter { $0.className == "DepthwiseConv2D" }.count
                if found.config.name.contains("Small") || depthwise == 11 { return .mobileNetV3(.small) }
                if found.config.name.contains("Large") || depthwise == 15 { return .mobileNetV3(.large) }
            }
            let classes = Set(config.layers.map(\.className)).sorted().prefix(8).joined(separator: ", ")
            throw WeightsError(file: path, reason: .unknownArchitecture(
                "config.json describes \(config.className) '\(config.modelNames.joined(separator: "' > '"))' with layers of \(classes)"))
        }
        if !isNativeLayout, nestedBackbone != nil { return .mobileNetV2 }
        let queues = try layerQueues()
        switch queues.depthwise.count {
        case 17: return .mobileNetV2
        case 15: return .mobileNetV3(.large)
        case 11: return .mobileNetV3(.small)
        default:
            // Legacy files keep MobileNetV2's detailed errors (a missing or misshapen layer) when they look like one.
            if !isNativeLayout, layers.first?.name == "Conv1" { return .mobileNetV2 }
            let names = layers.prefix(4).map(\.name).joined(separator: ", ")
            throw WeightsError(file: path, reason: .unknownArchitecture(
                "\(layers.count) layers with weights (\(names)\(layers.count > 4 ? ", …" : "")), "
                    + "\(queues.depthwise.count) depthwise convolutions where MobileNetV2 has 17 and MobileNetV3 15 or 11"))
        }
    }
}
