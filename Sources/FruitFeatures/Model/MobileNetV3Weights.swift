import Foundation

/// The weights of a MobileNetV3 backbone as Keras stores them (BatchNorms not yet folded).
package struct MobileNetV3Weights: Sendable {
    /// A convolution and the BatchNormalization after it (the same record as MobileNetV2's).
    package typealias Convolution = MobileNetV2Weights.Layer

    /// A squeeze-and-excite unit: pooled channels → 1×1 conv (bias) → ReLU → 1×1 conv (bias) → hard sigmoid.
    package struct SqueezeExcite: Sendable {
        /// The squeezing kernel, `(1, 1, channels, squeeze)`.
        package let squeezeKernel: [Float]
        /// Its bias, `(squeeze)`.
        package let squeezeBias: [Float]
        /// The exciting kernel, `(1, 1, squeeze, channels)`.
        package let exciteKernel: [Float]
        /// Its bias, `(channels)`.
        package let exciteBias: [Float]
    }

    /// One inverted-residual block's weights.
    package struct Block: Sendable {
        /// The 1×1 expansion (nil for block 0).
        package let expand: Convolution?
        /// The depthwise convolution, `(k, k, channels, 1)`.
        package let depthwise: Convolution
        /// The squeeze-and-excite unit, when the block has one.
        package let squeezeExcite: SqueezeExcite?
        /// The 1×1 projection.
        package let project: Convolution
    }

    /// The structure found in the file.
    package let architecture: MobileNetV3Architecture
    /// Whether the model rescales its [0, 255] input itself (`include_preprocessing=True`, Keras's default;
    /// legacy files cannot say and are assumed to).
    package let rescalesInput: Bool
    /// `conv` and `conv_bn`.
    package let stem: Convolution
    /// The inverted-residual blocks, in order.
    package let blocks: [Block]
    /// `conv_1` and `conv_1_bn`.
    package let head: Convolution
}

extension KerasWeightsFile {
    /// Reads the MobileNetV3 backbone: locates its layers (see `layerQueues`), infers the widths from the
    /// kernels in network order, and checks every shape and the block structure against Keras's plan.
    package func mobileNetV3Weights() throws(WeightsError) -> MobileNetV3Weights {
        let path = url.path
        let queues = try layerQueues()
        let variant: MobileNetV3Architecture.Variant
        switch try backboneArchitecture() {
        case .mobileNetV3(let found): variant = found
        case .mobileNetV2:
            throw WeightsError(file: path, reason: .notMobileNetV2("the file holds MobileNetV2"), network: "MobileNetV3")
        }
        let network = variant.kerasName
        let plan = MobileNetV3Architecture.plan(variant)
        var convolutionIndex = 0, depthwiseIndex = 0, normIndex = 0

        func fail(_ slot: KerasWeightsFile.Slot?, _ expected: String, _ reason: WeightsError.Reason) -> WeightsError {
            WeightsError(file: path, layer: slot?.fileName, expectedLayer: expected, reason: reason, network: network)
        }
        func next(_ queue: [KerasWeightsFile.Slot], _ index: inout Int, expected: String, weights: [Int]) throws(WeightsError) -> KerasWeightsFile.Slot {
            guard index < queue.count else {
                throw fail(nil, expected, .missingLayers(expected: index + 1, found: queue.count))
            }
            let slot = queue[index]
            index += 1
            guard weights.contains(slot.weights.count) else {
                throw fail(slot, expected, .weightCount(expected: weights[0], found: slot.weights.count))
            }
            return slot
        }
        func array(_ slot: KerasWeightsFile.Slot, _ index: Int, expected: String, _ wanted: ([Int]) -> [Int]) throws(WeightsError) -> HDF5Array<Float> {
            let weight = slot.weights[index]
            guard file.root.kindOfMember(weight.path) == .dataset else { throw fail(slot, expected, .missingWeight(weight.name)) }
            let dataset = HDF5Dataset(file: file, path: weight.path)
            do {
                let shape = try dataset.shape()
                let required = wanted(shape)
                guard shape == required else {
                    throw fail(slot, expected, .shape(weight: weight.name, expected: required, found: shape))
                }
                return try dataset.readFloats()
            } catch let error as WeightsError {
                throw error
            } catch let error as HDF5Error {
                throw fail(slot, expected, .hdf5(error))
            } catch {
                throw fail(slot, expected, .missingWeight(weight.name))
            }
        }
        /// A rank-4 shape with the listed extents fixed and the others as found.
        func shape(_ fixed: [Int?]) -> ([Int]) -> [Int] {
            { found in fixed.enumerated().map { index, extent in extent ?? (found.count == 4 ? max(found[index], 1) : 1) } }
        }
        func convolution(_ queue: [KerasWeightsFile.Slot], _ index: inout Int, name: String,
                         kernelShape: ([Int]) -> [Int], depthwise: Bool = false) throws(WeightsError) -> MobileNetV3Weights.Convolution {
            let slot = try next(queue, &index, expected: name, weights: [1])
            let kernel = try array(slot, 0, expected: name, kernelShape)
            let channels = depthwise ? kernel.shape[2] : kernel.shape[3]
            let normName = name + "_bn"
            let normSlot = try next(queues.norms, &normIndex, expected: normName, weights: [4])
            var norm: [[Float]] = []
            for index in 0..<4 { norm.append(try array(normSlot, index, expected: normName, { _ in [channels] }).values) }
            return .init(name: name, kernelShape: kernel.shape, kernel: kernel.values, gamma: norm[0], beta: norm[1],
                         movingMean: norm[2], movingVariance: norm[3])
        }

        let stem = try convolution(queues.convolutions, &convolutionIndex, name: "conv", kernelShape: shape([3, 3, 3, nil]))
        var channels = stem.kernelShape[3]
        var blocks: [MobileNetV3Weights.Block] = []
        var specs: [MobileNetV3Architecture.Block] = []
        for (index, step) in plan.enumerated() {
            let prefix = index == 0 ? "expanded_conv_" : "expanded_conv_\(index)_"
            var expand: MobileNetV3Weights.Convolution? = nil
            var expanded = channels
            if index != 0 {
                let wanted = MobileNetV3Architecture.depth(Double(channels) * step.expansion)
                let layer = try convolution(queues.convolutions, &convolutionIndex, name: prefix + "expand",
                                            kernelShape: shape([1, 1, channels, wanted]))
                expand = layer
                expanded = wanted
            }
            let depthwise = try convolution(queues.depthwise, &depthwiseIndex, name: prefix + "depthwise",
                                            kernelShape: { found in
                                                let size = found.count == 4 && [3, 5].contains(found[0]) ? found[0] : 3
                                                return [size, size, expanded, 1]
                                            }, depthwise: true)
            var squeezeExcite: MobileNetV3Weights.SqueezeExcite? = nil
            var squeeze: Int? = nil
            if convolutionIndex < queues.convolutions.count, queues.convolutions[convolutionIndex].weights.count == 2 {
                let wanted = MobileNetV3Architecture.depth(Double(expanded) * 0.25)
                let name = prefix + "squeeze_excite_conv"
                let first = try next(queues.convolutions, &convolutionIndex, expected: name, weights: [2])
                let squeezeKernel = try array(first, 0, expected: name, shape([1, 1, expanded, wanted]))
                let squeezeBias = try array(first, 1, expected: name, { _ in [wanted] })
                let second = try next(queues.convolutions, &convolutionIndex, expected: name + "_1", weights: [2])
                let exciteKernel = try array(second, 0, expected: name + "_1", shape([1, 1, wanted, expanded]))
                let exciteBias = try array(second, 1, expected: name + "_1", { _ in [expanded] })
                squeezeExcite = .init(squeezeKernel: squeezeKernel.values, squeezeBias: squeezeBias.values,
                                      exciteKernel: exciteKernel.values, exciteBias: exciteBias.values)
                squeeze = wanted
            }
            let project = try convolution(queues.convolutions, &convolutionIndex, name: prefix + "project",
                                          kernelShape: shape([1, 1, expanded, nil]))
            let output = project.kernelShape[3]
            blocks.append(.init(expand: expand, depthwise: depthwise, squeezeExcite: squeezeExcite, project: project))
            specs.append(.init(inputChannels: channels, expandedChannels: expanded, outputChannels: output,
                               kernelSize: depthwise.kernelShape[0], stride: step.stride, squeezeChannels: squeeze,
                               activation: .relu, expands: index != 0))
            channels = output
        }
        let head = try convolution(queues.convolutions, &convolutionIndex, name: "conv_1",
                                   kernelShape: shape([1, 1, channels, MobileNetV3Architecture.depth(Double(channels * 6))]))

        // The structure the file shows must be one of Keras's: the full model (5×5 kernels where the plan
        // says so, squeeze-and-excite) or the minimalistic one (3×3 everywhere, none).
        let minimalistic = specs.allSatisfy { $0.squeezeChannels == nil && $0.kernelSize == 3 }
        for (index, (spec, step)) in zip(specs, plan).enumerated() {
            let kernel = step.kernel != 0 ? step.kernel : (minimalistic ? 3 : 5)
            let squeezes = step.squeeze && !minimalistic
            guard spec.kernelSize == kernel, (spec.squeezeChannels != nil) == squeezes else {
                let found = "\(spec.kernelSize)×\(spec.kernelSize) depthwise, \(spec.squeezeChannels == nil ? "no " : "")squeeze-and-excite"
                let wanted = "\(kernel)×\(kernel) depthwise, \(squeezes ? "" : "no ")squeeze-and-excite"
                throw WeightsError(file: path, expectedLayer: "expanded_conv_\(index)", reason: .unsupportedVariant(
                    "block \(index) has \(found) where Keras's \(network)\(minimalistic ? " (minimalistic)" : "") has \(wanted)"),
                    network: network)
            }
        }
        let activations = plan.map { $0.modelActivation && !minimalistic ? MobileNetV3Architecture.Activation.hardSwish : .relu }
        let architecture = MobileNetV3Architecture(
            variant: variant, minimalistic: minimalistic, stemChannels: stem.kernelShape[3],
            blocks: zip(specs, activations).map { spec, activation in
                .init(inputChannels: spec.inputChannels, expandedChannels: spec.expandedChannels,
                      outputChannels: spec.outputChannels, kernelSize: spec.kernelSize, stride: spec.stride,
                      squeezeChannels: spec.squeezeChannels, activation: activation, expands: spec.expands)
            },
            lastChannels: head.kernelShape[3])
        // config.json says whether the model rescales its input (include_preprocessing); legacy files cannot.
        let rescales = config?.model(containing: "conv_bn")?.config.rescalesInput ?? true
        return MobileNetV3Weights(architecture: architecture, rescalesInput: rescales, stem: stem, blocks: blocks, head: head)
    }
}
