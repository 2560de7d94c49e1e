import Foundation

/// The weights of a MobileNetV2 backbone as Keras stores them: for each convolution, its kernel and
/// the parameters of the BatchNormalization that follows it (not yet folded together).
package struct MobileNetV2Weights: Sendable {
    /// A convolution (regular or depthwise) and its BatchNormalization.
    package struct Layer: Sendable {
        /// The convolution's Keras name (`Conv1`, `block_3_expand`, …), whatever the file called it.
        package let name: String
        /// The kernel's shape: `[kh, kw, in, out]`, or `[3, 3, channels, 1]` for a depthwise kernel.
        package let kernelShape: [Int]
        /// The kernel, row-major in `kernelShape`.
        package let kernel: [Float]
        /// BatchNorm scale, one per output channel.
        package let gamma: [Float]
        /// BatchNorm offset, one per output channel.
        package let beta: [Float]
        /// BatchNorm moving mean, one per output channel.
        package let movingMean: [Float]
        /// BatchNorm moving variance, one per output channel.
        package let movingVariance: [Float]
    }

    /// The widths found in the file.
    package let architecture: MobileNetV2Architecture
    /// The 52 convolutions in network order: `Conv1`, the blocks' expand/depthwise/project, `Conv_1`.
    package let layers: [Layer]
}

/// A Keras weights file and the backbone in it: the legacy HDF5 layouts (`save_weights('x.h5')` of Keras 2
/// or 3, a whole `model.save('x.h5')`), Keras 3's native `.weights.h5`, or a `.keras` archive.
///
/// Legacy top-level layers are matched to MobileNetV2's as Keras matches them: by the order of the layers
/// that carry weights, checking every shape (published files use older layer names, such as `Logits`).
/// A MobileNetV2 nested as one layer of a larger model (the usual fine-tuned classifier) is matched by
/// the layer names inside its weight names instead: Keras stores a nested model's trainable weights
/// before its non-trainable ones, so their positions depend on what was frozen when it was saved.
///
/// Keras 3's native layout does not store layer names: each layer's variables are at
/// `layers/<key>/vars/<index>`, where the key is the layer's class in snake case numbered by position
/// among the layers of that class (`conv2d`, `conv2d_1`, …, `batch_normalization_7`), and a nested model's
/// layers are under its own key (`layers/functional/layers/…`). The convolutions, depthwise convolutions
/// and BatchNorms are therefore each in model order, which with the network's structure locates every layer;
/// `config.json` (in a `.keras` archive) supplies the layers' real names for messages and the architecture.
package struct KerasWeightsFile: Sendable {
    /// A top-level layer of the file that carries weights.
    package struct Layer: Sendable, Equatable {
        /// The layer's name in the file.
        package let name: String
        /// Its weight names, in stored order (`Conv1/kernel:0`, `bn_Conv1/gamma:0`, …; `vars/0`, … in Keras 3's layout).
        package let weightNames: [String]
    }

    /// How the weights were saved.
    package enum Container: Sendable, Equatable {
        /// `save_weights` (Keras 2) or the legacy `.h5` weights of Keras 3: layers at the file's root.
        case weights
        /// `model.save('x.h5')`: the whole model, weights under the group `model_weights`.
        case wholeModel
        /// Keras 3's `save_weights('x.weights.h5')`: `layers/<key>/vars/<index>`.
        case kerasWeights
        /// Keras 3's `model.save('x.keras')`: a zip of `config.json`, `metadata.json` and `model.weights.h5`
        /// (the native layout).
        case kerasArchive
    }

    /// Where the file is.
    package let url: URL
    /// The top-level layers with weights: legacy files in the order of `layer_names`; the native layout by key.
    package let layers: [Layer]
    /// How the weights were saved.
    package let container: Container
    /// The model's `config.json`, for `.keras` archives.
    package let config: KerasModelConfig?
    /// Weight names carry TensorFlow's `:0` suffix (Keras 2) rather than none (Keras 3).
    package var hasKeras2WeightNames: Bool { layers.contains { $0.weightNames.contains { $0.hasSuffix(":0") } } }
    /// Whether the weights are in Keras 3's native layout (`.weights.h5` or inside a `.keras` archive).
    package var isNativeLayout: Bool { container == .kerasWeights || container == .kerasArchive }
    /// The top-level layer holding the backbone as a nested model (a fine-tuned classifier),
    /// or nil when the backbone's layers are the file's own top-level layers.
    package var nestedBackbone: String? {
        if isNativeLayout {
            guard let root = nativeBackboneRoot, root != "/layers" else { return nil }
            let key = String(root.dropFirst("/layers/".count).prefix { $0 != "/" })
            return config?.layers.first { Self.storageKeys(of: config?.layers ?? [])[$0.name] == key }?.name ?? key
        }
        return layers.first { $0.weightNames.count >= MobileNetV2Architecture.layerNames().count }?.name
    }
    /// A one-line description of the format, for `inspect`.
    public var formatDescription: String {
        switch container {
        case .weights, .wholeModel:
            var text = hasKeras2WeightNames ? "Keras 2 HDF5 (weight names with ':0')" : "Keras 3 legacy HDF5"
            text += container == .wholeModel ? ", whole model (model_weights)" : ", weights only"
            return text
        case .kerasWeights: return "Keras 3 weights (.weights.h5, layers/<key>/vars)"
        case .kerasArchive: return "Keras 3 model archive (.keras: config.json + model.weights.h5)"
        }
    }
    let file: HDF5File
    let weightsRoot: HDF5Group
    /// Native layout: the path of the `layers` group holding the backbone's layers.
    let nativeBackboneRoot: String?

    /// Opens a Keras weights file (any of the layouts above) and lists its layers.
    package init(contentsOf url: URL) throws(WeightsError) {
        self.url = url
        let path = url.path
        func wrap<T>(_ body: () throws(HDF5Error) -> T) throws(WeightsError) -> T {
            do { return try body() } catch { throw WeightsError(file: path, reason: .hdf5(error)) }
        }
        let file: HDF5File
        var parsedConfig: KerasModelConfig? = nil
        if url.pathExtension.lowercased() == "keras" || ZipArchive.looksLikeZip(Self.prefix(of: url)) {
            let archive: ZipArchive
            let weights: [UInt8]
            do throws(ZipError) {
                archive = try ZipArchive(contentsOf: url)
                if archive.member(named: "config.json") != nil {
                    parsedConfig = KerasModelConfig(json: try archive.contents(of: "config.json"))
                }
                guard archive.member(named: "model.weights.h5") != nil else {
                    let found = archive.members.map(\.name).joined(separator: ", ")
                    throw ZipError(file: path, reason: .missingMember("model.weights.h5 (found: \(found.isEmpty ? "nothing" : found))"))
                }
                weights = try archive.contents(of: "model.weights.h5")
            } catch {
                throw WeightsError(file: path, reason: .archive(error))
            }
            file = try wrap { () throws(HDF5Error) in
                try HDF5File(image: weights, url: URL(fileURLWithPath: path + "/model.weights.h5"))
            }
            container = .kerasArchive
        } else {
            file = try wrap { () throws(HDF5Error) in try HDF5File(readingFrom: url) }
            let root = file.root
            if root.kindOfMember("model_weights") == .group {
                container = .wholeModel
            } else if try wrap({ () throws(HDF5Error) in try Self.chunkedStrings(root, "layer_names") }) == nil,
                      root.kindOfMember("layers") == .group {
                container = .kerasWeights
            } else {
                container = .weights
            }
        }
        self.file = file
        config = parsedConfig
        let root = file.root
        if container == .kerasWeights || container == .kerasArchive {
            guard root.kindOfMember("layers") == .group else { throw WeightsError(file: path, reason: .noKerasWeights) }
            self.weightsRoot = root
            let backboneRoot = try wrap { () throws(HDF5Error) in try Self.findBackboneRoot(file) }
            nativeBackboneRoot = backboneRoot
            layers = try wrap { () throws(HDF5Error) in try Self.nativeLayers(file, config: parsedConfig) }
            return
        }
        nativeBackboneRoot = nil
        // model.save('x.h5') puts the weights under /model_weights; save_weights at the root.
        var weightsRoot = root
        if container == .wholeModel {
            weightsRoot = try wrap { () throws(HDF5Error) in try root.group("model_weights") }
        }
        self.weightsRoot = weightsRoot
        let group = weightsRoot
        let layerNames = try wrap { () throws(HDF5Error) in try Self.chunkedStrings(group, "layer_names") }
        guard let layerNames else { throw WeightsError(file: path, reason: .noKerasWeights) }
        var layers: [Layer] = []
        for name in layerNames {
            guard group.kindOfMember(name) == .group else {
                throw WeightsError(file: path, layer: name, reason: .hdf5(
                    HDF5Error(file: path, object: hdf5Join(group.path, name), reason: .missingObject)))
            }
            let weightNames = try wrap { () throws(HDF5Error) in
                try Self.chunkedStrings(group.group(name), "weight_names") ?? []
            }
            if !weightNames.isEmpty { layers.append(Layer(name: name, weightNames: weightNames)) }
        }
        self.layers = layers
    }

    /// The first bytes of the file (empty when it cannot be read; the HDF5 layer then names the problem).
    private static func prefix(of url: URL) -> [UInt8] {
        // Only a regular file is opened here (opening a FIFO would block); the readers below name any other.
        guard (try? checkRegularFile(atPath: url.path, limit: nil)) != nil,
              let handle = try? FileHandle(forReadingFrom: url) else { return [] }
        defer { try? handle.close() }
        return [UInt8]((try? handle.read(upToCount: 8)) ?? Data())
    }

    /// Reads attribute `name`, or Keras's chunks `name0`, `name1`, … of it; nil when neither exists.
    static func chunkedStrings(_ object: some HDF5Object, _ name: String) throws(HDF5Error) -> [String]? {
        if try object.hasAttribute(name) { return try object.stringsAttribute(name) }
        var strings: [String]? = nil
        var chunk = 0
        while try object.hasAttribute("\(name)\(chunk)") {
            strings = (strings ?? []) + (try object.stringsAttribute("\(name)\(chunk)"))
            chunk += 1
        }
        return strings
    }

    /// One MobileNetV2 layer's weights located in the file: the file's name for it and its datasets.
    struct Slot {
        let fileName: String
        let weights: [(name: String, path: String)]
    }

    /// Finds the MobileNetV2 backbone, checks every shape against the widths it implies, and reads it.
    package func mobileNetV2Weights() throws(WeightsError) -> MobileNetV2Weights {
        let expectedNames = MobileNetV2Architecture.layerNames()
        let slots: [Slot]
        if isNativeLayout {
            slots = try nativeMobileNetV2Slots(expectedNames: expectedNames)
        } else if let nestedName = nestedBackbone, let nested = layers.first(where: { $0.name == nestedName }) {
            slots = try nestedSlots(nested, expectedNames: expectedNames)
        } else {
            slots = layers.prefix(expectedNames.count).map { layer in
                Slot(fileName: layer.name, weights: layer.weightNames.map {
                    (name: $0, path: hdf5Join(hdf5Join(weightsRoot.path, layer.name), $0))
                })
            }
        }
        return try read(slots, expectedNames: expectedNames)
    }

    /// Locates each MobileNetV2 layer inside a nested model's group by the layer names in its weight names.
    private func nestedSlots(_ nested: Layer, expectedNames: [String]) throws(WeightsError) -> [Slot] {
        var byLayer: [String: [String: String]] = [:]
        for weightName in nested.weightNames {
            var trimmed = Substring(weightName)
            if let colon = trimmed.lastIndex(of: ":"), trimmed[trimmed.index(after: colon)...].allSatisfy(\.isNumber) {
                trimmed = trimmed[..<colon]
            }
            let parts = trimmed.split(separator: "/")
            guard parts.count >= 2 else { continue }
            byLayer[String(parts[parts.count - 2]), default: [:]][String(parts[parts.count - 1])] = weightName
        }
        let groupPath = hdf5Join(weightsRoot.path, nested.name)
        return try expectedNames.map { (layerName) throws(WeightsError) -> Slot in
            let isBatchNorm = layerName.hasSuffix("_BN") || layerName.hasSuffix("_bn") || layerName.hasPrefix("bn_")
            let kinds = isBatchNorm ? [["gamma"], ["beta"], ["moving_mean"], ["moving_variance"]]
                : [["kernel", "depthwise_kernel"]]
            let stored = byLayer[layerName] ?? [:]
            var weights: [(name: String, path: String)] = []
            for alternatives in kinds {
                guard let weightName = alternatives.lazy.compactMap({ stored[$0] }).first else {
                    throw WeightsError(file: url.path, layer: nested.name, expectedLayer: layerName,
                                       reason: .missingWeight("\(layerName)/\(alternatives[0])"))
                }
                weights.append((name: weightName, path: hdf5Join(groupPath, weightName)))
            }
            return Slot(fileName: "\(nested.name)/\(layerName)", weights: weights)
        }
    }

    /// Walks the slots in network order, inferring the widths from the first shapes and checking the rest.
    private func read(_ slots: [Slot], expectedNames: [String]) throws(WeightsError) -> MobileNetV2Weights {
        let path = url.path
        var position = 0
        var layers: [MobileNetV2Weights.Layer] = []

        func values(_ slot: Slot, _ index: Int, expected: (([Int]) -> [Int])) throws(WeightsError) -> HDF5Array<Float> {
            let weight = slot.weights[index]
            let expectedName = expectedNames[position]
            guard file.root.kindOfMember(weight.path) == .dataset else {
                throw WeightsError(file: path, layer: slot.fileName, expectedLayer: expectedName,
                                   reason: .missingWeight(weight.name))
            }
            let dataset = HDF5Dataset(file: file, path: weight.path)
            let shape: [Int]
            do {
                shape = try dataset.shape()
            } catch {
                throw WeightsError(file: path, layer: slot.fileName, expectedLayer: expectedName, reason: .hdf5(error))
            }
            let wanted = expected(shape)
            guard shape == wanted else {
                throw WeightsError(file: path, layer: slot.fileName, expectedLayer: expectedName,
                                   reason: .shape(weight: weight.name, expected: wanted, found: shape))
            }
            do {
                return try dataset.readFloats()
            } catch {
                throw WeightsError(file: path, layer: slot.fileName, expectedLayer: expectedName, reason: .hdf5(error))
            }
        }

        func nextSlot(weights count: Int) throws(WeightsError) -> Slot {
            guard position < slots.count else {
                throw WeightsError(file: path, expectedLayer: expectedNames[position],
                                   reason: .missingLayers(expected: expectedNames.count, found: slots.count))
            }
            let slot = slots[position]
            guard slot.weights.count == count else {
                throw WeightsError(file: path, layer: slot.fileName, expectedLayer: expectedNames[position],
                                   reason: .weightCount(expected: count, found: slot.weights.count))
            }
            return slot
        }

        /// Reads a convolution and its BatchNorm; `kernelShape` maps the found shape to the one required.
        func convolution(depthwise: Bool = false, kernelShape: ([Int]) -> [Int]) throws(WeightsError) -> Int {
            let convolutionSlot = try nextSlot(weights: 1)
            let kernel = try values(convolutionSlot, 0, expected: kernelShape)
            let channels = depthwise ? kernel.shape[2] : kernel.shape[3]
            let name = expectedNames[position]
            position += 1
            let normSlot = try nextSlot(weights: 4)
            var norm: [[Float]] = []
            for index in 0..<4 {
                norm.append(try values(normSlot, index, expected: { _ in [channels] }).values)
            }
            position += 1
            layers.append(MobileNetV2Weights.Layer(
                name: name, kernelShape: kernel.shape, kernel: kernel.values,
                gamma: norm[0], beta: norm[1], movingMean: norm[2], movingVariance: norm[3]))
            return channels
        }

        /// A shape of the given rank with the listed extents fixed and the others as found (at least 1).
        func shape(_ fixed: [Int?]) -> ([Int]) -> [Int] {
            { found in
                fixed.enumerated().map { index, extent in
                    extent ?? (found.count == fixed.count ? max(found[index], 1) : 1)
                }
            }
        }

        let first = try convolution(kernelShape: shape([3, 3, 3, nil]))
        var channels = first
        var blocks: [MobileNetV2Architecture.Block] = []
        for (index, step) in MobileNetV2Architecture.plan.enumerated() {
            let input = channels
            var expanded = input
            if index != 0 {
                expanded = try convolution(kernelShape: shape([1, 1, input, input * step.expansion]))
            }
            _ = try convolution(depthwise: true, kernelShape: shape([3, 3, expanded, 1]))
            let output = try convolution(kernelShape: shape([1, 1, expanded, nil]))
            blocks.append(.init(inputChannels: input, expandedChannels: expanded, outputChannels: output,
                                stride: step.stride, expands: index != 0))
            channels = output
        }
        let last = try convolution(kernelShape: shape([1, 1, channels, nil]))
        let architecture = MobileNetV2Architecture(firstChannels: first, blocks: blocks, lastChannels: last)
        return MobileNetV2Weights(architecture: architecture, layers: layers)
    }
}
