import CKernels
import Foundation

/// MobileNetV3 (Large or Small) without its classifier: preprocessed images in, the global-average-pooled
/// output of the last convolutional stage out — what tf.keras returns for
/// `MobileNetV3Large/Small(include_top=False, pooling="avg")` (960 / 576 floats at alpha 1).
///
/// Images are NHWC float32, `inputSize × inputSize × 3`, preprocessed exactly as for `MobileNetV2Extractor`
/// (`x / 127.5 − 1`, `KerasPreprocessor`), so both backbones share one pipeline: Keras's MobileNetV3 rescales
/// its [0, 255] input with `x · (1/127.5) − 1` itself (`include_preprocessing=True`), which is the same up to
/// float32 rounding (≤ 1.2e-7), and a model saved without that layer expects [-1, 1] input (Keras's documentation).
/// Immutable and safe to share between tasks: each call borrows scratch memory from a pool.
public final class MobileNetV3Extractor: FeatureNetwork {
    /// The structure, read from the weights.
    public let architecture: MobileNetV3Architecture
    /// Height and width of the square input images.
    public let inputSize: Int
    /// Whether the Keras model rescales its [0, 255] input itself (`include_preprocessing`); either way this
    /// extractor takes the [-1, 1] values that model computes from them.
    public let rescalesInput: Bool
    let model: FoldedMobileNetV3
    private let scratchPool: ScratchPool<MobileNetV3Scratch>

    /// Floats per feature vector (960 for Large, 576 for Small at alpha 1).
    public var featureCount: Int { architecture.lastChannels }

    /// Loads the MobileNetV3 weights of a Keras file (any layout `KerasWeightsFile` reads).
    public convenience init(weightsAt url: URL, inputSize: Int = 224) throws(WeightsError) {
        let weights = try KerasWeightsFile(contentsOf: url).mobileNetV3Weights()
        try self.init(weights: weights, inputSize: inputSize, source: url.path)
    }

    /// Builds the extractor from weights already read, folding every BatchNorm into its convolution.
    /// `groupSize`: images per group in the grouped stage (it changes speed and memory, never the features).
    package init(weights: MobileNetV3Weights, inputSize: Int = 224, groupSize: Int = FoldedMobileNetV3.defaultGroupSize,
                 source: String = "") throws(WeightsError) {
        guard (32...2048).contains(inputSize) else {
            throw WeightsError(file: source, reason: .unsupportedInputSize(inputSize), network: weights.architecture.variant.kerasName)
        }
        architecture = weights.architecture
        self.inputSize = inputSize
        rescalesInput = weights.rescalesInput
        let folded = FoldedMobileNetV3(weights, inputSize: inputSize, groupSize: groupSize)
        model = folded
        scratchPool = ScratchPool { MobileNetV3Scratch(model: folded) }
    }

    /// Images per group in the grouped stage.
    package var groupSize: Int { model.groupSize }

    /// Index of the first block of the grouped stage (for tests).
    var groupedFrom: Int { model.groupedFrom }

    /// Computes the features of `count` images stored one after another in `input`, writing
    /// `count · featureCount` floats to `output`. An image's features do not depend on the others.
    public func features(
        batch input: UnsafeBufferPointer<Float>, count: Int, into output: UnsafeMutableBufferPointer<Float>
    ) throws(FeatureExtractionError) {
        try checkBuffers(input, count: count, output)
        guard count > 0, let source = input.baseAddress, let destination = output.baseAddress else { return }
        let scratch = scratchPool.take()
        defer { scratchPool.give(scratch) }
        runInGroups(count: count, groupSize: model.groupSize) { image, slot in
            firstStage(source + image * inputCount, slot: slot, scratch: scratch)
        } groupedStage: { first, images in
            groupedStage(images: images, into: destination + first * featureCount, scratch: scratch)
        }
    }

    /// The architecture (`mobilenet_v3_large`, `mobilenet_v3_small`, `…_minimalistic`), alpha, input size, the
    /// preprocessing `keras_mobilenet_v3`, the feature count and the weights' SHA-256.
    public func identity(weightsSHA256: String) -> FeatureModelIdentity {
        FeatureModelIdentity(
            architecture: MobileNetV3FeatureModel.architectureName(architecture), alpha: architecture.alpha,
            inputSize: inputSize, preprocessing: MobileNetV3FeatureModel.preprocessingName,
            featureCount: featureCount, weightsSHA256: weightsSHA256)
    }

    // MARK: - Forward pass

    /// First stage, one image: `input` (s, s, 3) → stem → the blocks before the grouped stage → the image's slot
    /// of the grouped stage's input.
    private func firstStage(_ input: UnsafePointer<Float>, slot: Int, scratch: MobileNetV3Scratch) {
        let m = model
        let destination = scratch.groupA + slot * m.groupInputCount
        var x = m.groupedFrom == 0 ? destination : scratch.activationA
        var y = scratch.activationB
        // Stem: 3×3 stride 2 'same', one output row at a time: patches (s', 27) · kernel (27, 16) + bias, activation.
        let s = m.stem.outputSize
        let stemChannels = m.stemConvolution.outputChannels
        for row in 0..<s {
            ffk_im2col3x3(input, Int32(inputSize), Int32(inputSize), 3, 2, Int32(m.stem.padTop - 2 * row),
                          Int32(m.stem.padLeft), 1, Int32(s), scratch.patches)
            ffk_pointwise(scratch.patches, s, 27, m.stemConvolution.weights.base, Int32(stemChannels), nil,
                          m.stemActivation, x + row * s * stemChannels)
        }
        for index in 0..<m.groupedFrom {
            let output = index == m.groupedFrom - 1 ? destination : y
            runBlock(m.blocks[index], images: 1, input: x, output: output, expanded: scratch.expanded,
                     depthwise: scratch.depthwise, squeeze: scratch.squeeze)
            y = x
            x = output
        }
    }

    /// Grouped stage: the last blocks and conv_1 on `images` images at once — each 1×1 convolution is one matrix
    /// product over all their pixels, so its weights are read once per group — then the mean over each image's
    /// pixels into `output`.  groupA: (images, h, w, c), each image's tensor right after the previous one.
    private func groupedStage(images: Int, into output: UnsafeMutablePointer<Float>, scratch: MobileNetV3Scratch) {
        let m = model
        var x = scratch.groupA
        var y = scratch.groupB
        for block in m.blocks[m.groupedFrom...] {
            runBlock(block, images: images, input: x, output: y, expanded: scratch.groupExpanded,
                     depthwise: scratch.groupDepthwise, squeeze: scratch.squeeze)
            swap(&x, &y)
        }
        // conv_1 1×1 + bias, activation, then the mean over each image's pixels.
        let pixels = m.headPixels
        let last = m.head.outputChannels
        ffk_pointwise(x, images * pixels, Int32(m.head.inputChannels), m.head.weights.base, Int32(last), nil,
                      m.stemActivation, scratch.groupExpanded)
        for image in 0..<images {
            ffk_mean_rows(scratch.groupExpanded + image * pixels * last, pixels, Int32(last), output + image * featureCount)
        }
    }

    /// One inverted-residual block on `images` images stored one after another:
    ///   x (images, p, in) → expand 1×1 + bias + activation (one fused call) → depthwise k×k + activation (per image) → squeeze-and-excite
    ///   (per image) → project 1×1 + bias (+ x) → y (images, p', out).
    private func runBlock(_ block: FoldedMobileNetV3.Block, images: Int, input x: UnsafeMutablePointer<Float>,
                          output y: UnsafeMutablePointer<Float>, expanded: UnsafeMutablePointer<Float>,
                          depthwise: UnsafeMutablePointer<Float>, squeeze: MobileNetV3Scratch.Squeeze) {
        let inputPixels = block.inputSize * block.inputSize
        let outputPixels = block.outputSize * block.outputSize
        let channels = block.depthwise.outputChannels
        var depthwiseInput = UnsafePointer(x)
        if let expand = block.expand {
            ffk_pointwise(x, images * inputPixels, Int32(expand.inputChannels), expand.weights.base, Int32(channels),
                          nil, block.activation, expanded)
            depthwiseInput = UnsafePointer(expanded)
        }
        for image in 0..<images {
            ffk_depthwise_bias_activate(
                depthwiseInput + image * inputPixels * channels, Int32(block.inputSize), Int32(block.inputSize),
                Int32(channels), Int32(block.kernelSize), block.depthwise.weights.base, block.depthwise.bias.base,
                depthwise + image * outputPixels * channels, Int32(block.outputSize), Int32(block.outputSize),
                Int32(block.stride), Int32(block.padTop), Int32(block.padLeft), block.activation)
        }
        // Squeeze-and-excite: channel means (images, c) → 1×1 + ReLU → 1×1 + hard sigmoid → scale each image.
        if let squeezeLayer = block.squeeze, let excite = block.excite {
            for image in 0..<images {
                ffk_mean_rows(depthwise + image * outputPixels * channels, outputPixels, Int32(channels),
                              squeeze.pooled + image * channels)
            }
            ffk_pointwise(squeeze.pooled, images, Int32(channels), squeezeLayer.weights.base,
                          Int32(squeezeLayer.outputChannels), nil, Int32(FFK_ACTIVATION_RELU), squeeze.hidden)
            ffk_pointwise(squeeze.hidden, images, Int32(squeezeLayer.outputChannels), excite.weights.base,
                          Int32(channels), nil, 0, squeeze.gate)
            for index in 0..<(images * channels) {
                // Keras: ReLU(6.)(x + 3.) * (1. / 6.)
                squeeze.gate[index] = min(max(squeeze.gate[index] + 3, 0), 6) * (Float(1) / 6)
            }
            for image in 0..<images {
                ffk_scale_channels(depthwise + image * outputPixels * channels, outputPixels, Int32(channels),
                                   squeeze.gate + image * channels)
            }
        }
        ffk_pointwise(depthwise, images * outputPixels, Int32(channels), block.project.weights.base,
                      Int32(block.project.outputChannels), block.hasResidual ? UnsafePointer(x) : nil, 0, y)
    }
}

extension KerasFeatureModel where Network == MobileNetV3Extractor {
    /// The preprocessing name of MobileNetV3's: the Keras image rescaled to [-1, 1] (by the model's layer in Keras).
    public static var preprocessingName: String { "keras_mobilenet_v3" }

    /// The identity's architecture name of `architecture`.
    public static func architectureName(_ architecture: MobileNetV3Architecture) -> String {
        "mobilenet_v3_\(architecture.variant.rawValue)\(architecture.minimalistic ? "_minimalistic" : "")"
    }
}

/// MobileNetV3 with every BatchNorm folded into its convolution, and its sizes at one input size.
///
/// Like `FoldedMobileNetV2`, the network runs in two stages: the blocks on large images one image at a time,
/// the blocks whose input has at most `groupedStagePixels` pixels (14×14 and 7×7 at 224) and conv_1 on a group
/// of images at once.
struct FoldedMobileNetV3: Sendable {
    struct Block: Sendable {
        let expand: FoldedConvolution?
        let depthwise: FoldedConvolution
        let squeeze: FoldedConvolution?
        let excite: FoldedConvolution?
        let project: FoldedConvolution
        let kernelSize: Int
        let stride: Int
        let activation: Int32
        let hasResidual: Bool
        let inputSize: Int, outputSize: Int
        let padTop: Int, padLeft: Int

        var inputPixels: Int { inputSize * inputSize }
        var outputPixels: Int { outputSize * outputSize }
        var expandedChannels: Int { depthwise.outputChannels }
    }

    /// Images per group in the grouped stage by default: each weight panel of the late 1×1 convolutions is
    /// then read once per 8 images.
    static let defaultGroupSize = 8

    let stemConvolution: FoldedConvolution
    let stem: ConvolutionGeometry
    /// The activation of the stem and of conv_1 (hard-swish, or ReLU when minimalistic).
    let stemActivation: Int32
    let blocks: [Block]
    /// Index of the first block of the grouped stage (`blocks.count` when there is none).
    let groupedFrom: Int
    let groupSize: Int
    let head: FoldedConvolution
    let headPixels: Int

    // Scratch floats. First stage, per call: one row of stem patches, two activations, the expanded and depthwise
    // tensors of one image. Grouped stage, per image of a group: two activations, the expanded tensor (also the
    // head's output), the depthwise output. Squeeze-and-excite, per image of a group: pooled, hidden, gate.
    let patchesCount, activationCount, expandedCount, depthwiseCount: Int
    let groupInputCount, groupActivationCount, groupExpandedCount, groupDepthwiseCount: Int
    let channelsCount, squeezeCount: Int

    init(_ weights: MobileNetV3Weights, inputSize: Int, groupSize: Int = Self.defaultGroupSize) {
        let architecture = weights.architecture
        func code(_ activation: MobileNetV3Architecture.Activation) -> Int32 {
            activation == .relu ? Int32(FFK_ACTIVATION_RELU) : Int32(FFK_ACTIVATION_HARD_SWISH)
        }
        self.groupSize = max(groupSize, 1)
        stemConvolution = FoldedConvolution(weights.stem, depthwise: false)
        stemActivation = code(architecture.activation)
        stem = ConvolutionGeometry.stem(inputSize: inputSize)
        var size = stem.outputSize
        var blocks: [Block] = []
        for (spec, layer) in zip(architecture.blocks, weights.blocks) {
            let geometry = ConvolutionGeometry(inputSize: size, kernel: spec.kernelSize, stride: spec.stride)
            let squeezeExcite = layer.squeezeExcite
            blocks.append(Block(
                expand: layer.expand.map { FoldedConvolution($0, depthwise: false) },
                depthwise: FoldedConvolution(layer.depthwise, depthwise: true),
                squeeze: squeezeExcite.map {
                    FoldedConvolution(pointwiseKernel: $0.squeezeKernel, bias: $0.squeezeBias,
                                      inputChannels: spec.expandedChannels, outputChannels: $0.squeezeBias.count)
                },
                excite: squeezeExcite.map {
                    FoldedConvolution(pointwiseKernel: $0.exciteKernel, bias: $0.exciteBias,
                                      inputChannels: $0.squeezeBias.count, outputChannels: spec.expandedChannels)
                },
                project: FoldedConvolution(layer.project, depthwise: false),
                kernelSize: spec.kernelSize, stride: spec.stride, activation: code(spec.activation),
                hasResidual: spec.hasResidual, inputSize: size, outputSize: geometry.outputSize,
                padTop: geometry.padTop, padLeft: geometry.padLeft))
            size = geometry.outputSize
        }
        self.blocks = blocks
        head = FoldedConvolution(weights.head, depthwise: false)
        headPixels = size * size
        groupedFrom = blocks.firstIndex { $0.inputPixels <= FoldedMobileNetV2.groupedStagePixels } ?? blocks.count

        let stemActivationCount = stem.outputSize * stem.outputSize * architecture.stemChannels
        let firstStage = blocks[..<groupedFrom]
        let groupedStage = blocks[groupedFrom...]
        func output(_ block: Block) -> Int { block.outputPixels * block.project.outputChannels }
        patchesCount = stem.outputSize * 27
        activationCount = firstStage.map(output).reduce(stemActivationCount, max)
        expandedCount = firstStage.map { $0.expand == nil ? 0 : $0.inputPixels * $0.expandedChannels }.reduce(0, max)
        depthwiseCount = firstStage.map { $0.outputPixels * $0.expandedChannels }.reduce(0, max)
        groupInputCount = groupedFrom == 0 ? stemActivationCount : firstStage.last.map(output) ?? 0
        groupActivationCount = groupedStage.map(output).reduce(groupInputCount, max)
        groupExpandedCount = groupedStage.map { $0.inputPixels * $0.expandedChannels }
            .reduce(headPixels * head.outputChannels, max)
        groupDepthwiseCount = groupedStage.map { $0.outputPixels * $0.expandedChannels }.reduce(0, max)
        channelsCount = blocks.map(\.expandedChannels).reduce(0, max)
        squeezeCount = blocks.map { $0.squeeze?.outputChannels ?? 0 }.reduce(0, max)
    }
}

/// One call's working memory: first-stage buffers for one image, grouped-stage buffers for a group.
final class MobileNetV3Scratch: @unchecked Sendable {
    // Unchecked: used by one call at a time (the pool hands it out exclusively).
    /// Squeeze-and-excite buffers for a group: pooled (group, c), hidden (group, squeeze), gate (group, c).
    struct Squeeze {
        let pooled, hidden, gate: UnsafeMutablePointer<Float>
    }

    let patches, activationA, activationB, expanded, depthwise: UnsafeMutablePointer<Float>
    let groupA, groupB, groupExpanded, groupDepthwise: UnsafeMutablePointer<Float>
    let squeeze: Squeeze
    private let memory: ScratchRegions

    init(model m: FoldedMobileNetV3) {
        let group = m.groupSize
        memory = ScratchRegions(counts: [
            m.patchesCount, m.activationCount, m.activationCount, m.expandedCount, m.depthwiseCount,
            group * m.groupActivationCount, group * m.groupActivationCount, group * m.groupExpandedCount,
            group * m.groupDepthwiseCount, group * m.channelsCount, group * m.squeezeCount, group * m.channelsCount,
        ])
        let r = memory.regions
        (patches, activationA, activationB, expanded, depthwise) = (r[0], r[1], r[2], r[3], r[4])
        (groupA, groupB, groupExpanded, groupDepthwise) = (r[5], r[6], r[7], r[8])
        squeeze = Squeeze(pooled: r[9], hidden: r[10], gate: r[11])
    }
}
