import CKernels
import Foundation

extension FoldedConvolution {
    /// A 1×1 convolution with a bias and no BatchNorm (squeeze-and-excite), packed for `ffk_pointwise`.
    ///   kernel: (inputChannels, outputChannels); bias: (outputChannels).
    init(pointwiseKernel kernel: [Float], bias: [Float], inputChannels: Int, outputChannels: Int) {
        var packed = [Float](repeating: 0, count: ffk_pointwise_packed_count(Int32(inputChannels), Int32(outputChannels)))
        ffk_pointwise_pack(kernel, bias, Int32(inputChannels), Int32(outputChannels), &packed)
        weights = AlignedFloats(packed)
        self.bias = AlignedFloats(bias)
        self.inputChannels = inputChannels
        self.outputChannels = outputChannels
    }
}

/// MobileNetV3 (Large or Small) without its classifier: preprocessed images in, the global-average-pooled
/// output of the last convolutional stage out — what tf.keras returns for
/// `MobileNetV3Large/Small(include_top=False, pooling="avg")` (960 / 576 floats at alpha 1).
///
/// Images are NHWC float32, `inputSize × inputSize × 3`, preprocessed exactly as for `MobileNetV2Extractor`
/// (`x / 127.5 − 1`, `KerasPreprocessor`), so both backbones share one pipeline: Keras's MobileNetV3 rescales
/// its [0, 255] input with `x · (1/127.5) − 1` itself (`include_preprocessing=True`), which is the same up to
/// float32 rounding (≤ 1.2e-7), and a model saved without that layer expects [-1, 1] input (Keras's documentation).
/// Immutable and safe to share between tasks: each call borrows scratch memory from a pool.
public final class MobileNetV3Extractor: Sendable {
    /// The structure, read from the weights.
    public let architecture: MobileNetV3Architecture
    /// Height and width of the square input images.
    public let inputSize: Int
    /// Whether the Keras model rescales its [0, 255] input itself (`include_preprocessing`); either way this
    /// extractor takes the [-1, 1] values that model computes from them.
    public let rescalesInput: Bool
    let model: FoldedMobileNetV3
    private let scratchPool: MobileNetV3ScratchPool

    /// Floats per feature vector (960 for Large, 576 for Small at alpha 1).
    public var featureCount: Int { architecture.lastChannels }
    /// Floats per input image (`inputSize · inputSize · 3`).
    public var inputCount: Int { inputSize * inputSize * 3 }

    /// Loads the MobileNetV3 weights of a Keras file (any layout `KerasWeightsFile` reads).
    public convenience init(weightsAt url: URL, inputSize: Int = 224) throws(WeightsError) {
        let weights = try KerasWeightsFile(contentsOf: url).mobileNetV3Weights()
        try self.init(weights: weights, inputSize: inputSize, source: url.path)
    }

    /// Builds the extractor from weights already read, folding every BatchNorm into its convolution.
    package init(weights: MobileNetV3Weights, inputSize: Int = 224, source: String = "") throws(WeightsError) {
        guard (32...2048).contains(inputSize) else {
            throw WeightsError(file: source, reason: .unsupportedInputSize(inputSize), network: weights.architecture.variant.kerasName)
        }
        architecture = weights.architecture
        self.inputSize = inputSize
        rescalesInput = weights.rescalesInput
        model = FoldedMobileNetV3(weights, inputSize: inputSize)
        scratchPool = MobileNetV3ScratchPool(floats: model.scratchFloats)
    }

    /// Computes the features of `count` images stored one after another in `input`, writing
    /// `count · featureCount` floats to `output`. An image's features do not depend on the others.
    public func features(
        batch input: UnsafeBufferPointer<Float>, count: Int, into output: UnsafeMutableBufferPointer<Float>
    ) throws(FeatureExtractionError) {
        let (needIn, overflowIn) = count.multipliedReportingOverflow(by: inputCount)
        guard count >= 0, !overflowIn, input.count == needIn else {
            throw FeatureExtractionError(buffer: .input, expected: overflowIn ? Int.max : needIn, actual: input.count)
        }
        let needOut = count * featureCount
        guard output.count >= needOut else {
            throw FeatureExtractionError(buffer: .output, expected: needOut, actual: output.count)
        }
        guard count > 0, let source = input.baseAddress, let destination = output.baseAddress else { return }
        let scratch = scratchPool.take()
        defer { scratchPool.give(scratch) }
        for image in 0..<count {
            forward(source + image * inputCount, into: destination + image * featureCount, scratch: scratch.base)
        }
    }

    /// Computes the features of each image (`inputCount` floats each).
    public func features(of images: [[Float]]) throws(FeatureExtractionError) -> [[Float]] {
        var input: [Float] = []
        input.reserveCapacity(images.count * inputCount)
        for image in images {
            guard image.count == inputCount else {
                throw FeatureExtractionError(buffer: .input, expected: inputCount, actual: image.count)
            }
            input += image
        }
        var output = [Float](repeating: 0, count: images.count * featureCount)
        try input.withUnsafeBufferPointer { (input) throws(FeatureExtractionError) in
            try output.withUnsafeMutableBufferPointer { (output) throws(FeatureExtractionError) in
                try features(batch: input, count: images.count, into: output)
            }
        }
        return (0..<images.count).map { Array(output[($0 * featureCount)..<(($0 + 1) * featureCount)]) }
    }

    /// Computes the features of one image (`inputCount` floats).
    public func features(of image: [Float]) throws(FeatureExtractionError) -> [Float] {
        try features(of: [image])[0]
    }

    // MARK: - Forward pass

    /// One image: `input` (s, s, 3) → stem → blocks → conv_1 → mean over pixels → `output` (featureCount).
    private func forward(_ input: UnsafePointer<Float>, into output: UnsafeMutablePointer<Float>,
                         scratch: UnsafeMutablePointer<Float>) {
        let m = model
        let regions = m.regions(scratch)
        var x = regions.activationA
        var y = regions.activationB
        let image = input
        // Stem: 3×3 stride 2 'same', one output row at a time: patches (s', 27) · kernel (27, 16) + bias.
        let s = m.stemOutputSize
        let stemChannels = m.stem.outputChannels
        for row in 0..<s {
            ffk_im2col3x3(image, Int32(inputSize), Int32(inputSize), 3, 2, Int32(m.stemPadTop - 2 * row),
                          Int32(m.stemPadLeft), 1, Int32(s), regions.patches)
            ffk_pointwise(regions.patches, s, 27, m.stem.weights.base, Int32(stemChannels), nil, 0,
                          x + row * s * stemChannels)
        }
        ffk_activate(x, s * s * stemChannels, m.stemActivation)

        for block in m.blocks {
            let inputPixels = block.inputSize * block.inputSize
            let outputPixels = block.outputSize * block.outputSize
            let expanded = block.depthwise.outputChannels
            // Expand 1×1 + bias, activation: x (p, in) → expandedBuffer (p, expanded).
            var depthwiseInput = UnsafePointer(x)
            if let expand = block.expand {
                ffk_pointwise(x, inputPixels, Int32(expand.inputChannels), expand.weights.base, Int32(expanded), nil, 0,
                              regions.expanded)
                ffk_activate(regions.expanded, inputPixels * expanded, block.activation)
                depthwiseInput = UnsafePointer(regions.expanded)
            }
            // Depthwise k×k + bias, activation → depthwiseBuffer (p', expanded).
            ffk_depthwise_bias_activate(
                depthwiseInput, Int32(block.inputSize), Int32(block.inputSize), Int32(expanded), Int32(block.kernelSize),
                block.depthwise.weights.base, block.depthwise.bias.base, regions.depthwise, Int32(block.outputSize),
                Int32(block.outputSize), Int32(block.stride), Int32(block.padTop), Int32(block.padLeft), block.activation)
            // Squeeze-and-excite: channel means → 1×1 + ReLU → 1×1 + hard sigmoid → scale the channels.
            if let squeeze = block.squeeze, let excite = block.excite {
                ffk_mean_rows(regions.depthwise, outputPixels, Int32(expanded), regions.pooled)
                ffk_pointwise(regions.pooled, 1, Int32(expanded), squeeze.weights.base, Int32(squeeze.outputChannels),
                              nil, 0, regions.hidden)
                ffk_activate(regions.hidden, squeeze.outputChannels, Int32(FFK_ACTIVATION_RELU))
                ffk_pointwise(regions.hidden, 1, Int32(squeeze.outputChannels), excite.weights.base, Int32(expanded),
                              nil, 0, regions.gate)
                for channel in 0..<expanded {
                    // Keras: ReLU(6.)(x + 3.) * (1. / 6.)
                    regions.gate[channel] = min(max(regions.gate[channel] + 3, 0), 6) * (Float(1) / 6)
                }
                ffk_scale_channels(regions.depthwise, outputPixels, Int32(expanded), regions.gate)
            }
            // Project 1×1 + bias (+ the block input) → y (p', out).
            ffk_pointwise(regions.depthwise, outputPixels, Int32(expanded), block.project.weights.base,
                          Int32(block.project.outputChannels), block.hasResidual ? UnsafePointer(x) : nil, 0, y)
            swap(&x, &y)
        }
        // conv_1 1×1 + bias, activation, then the mean over pixels.
        let pixels = m.headSize * m.headSize
        ffk_pointwise(x, pixels, Int32(m.head.inputChannels), m.head.weights.base, Int32(m.head.outputChannels), nil, 0,
                      regions.expanded)
        ffk_activate(regions.expanded, pixels * m.head.outputChannels, m.stemActivation)
        ffk_mean_rows(regions.expanded, pixels, Int32(m.head.outputChannels), output)
    }
}

/// MobileNetV3 with every BatchNorm folded into its convolution, and its sizes at one input size.
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
    }

    /// Pointers into one call's scratch memory.
    struct Regions {
        let patches, activationA, activationB, expanded, depthwise, pooled, hidden, gate: UnsafeMutablePointer<Float>
    }

    let stem: FoldedConvolution
    let stemOutputSize: Int
    let stemPadTop: Int, stemPadLeft: Int
    /// The activation of the stem and of conv_1 (hard-swish, or ReLU when minimalistic).
    let stemActivation: Int32
    let blocks: [Block]
    let head: FoldedConvolution
    let headSize: Int
    let counts: [Int]

    init(_ weights: MobileNetV3Weights, inputSize: Int) {
        let architecture = weights.architecture
        func code(_ activation: MobileNetV3Architecture.Activation) -> Int32 {
            activation == .relu ? Int32(FFK_ACTIVATION_RELU) : Int32(FFK_ACTIVATION_HARD_SWISH)
        }
        stem = FoldedConvolution(weights.stem, depthwise: false)
        stemActivation = code(architecture.activation)
        // 'same', stride 2: TensorFlow pads the odd pixel at the bottom/right.
        let stemOut = (inputSize + 1) / 2
        let stemPad = max((stemOut - 1) * 2 + 3 - inputSize, 0)
        stemOutputSize = stemOut
        stemPadTop = stemPad / 2
        stemPadLeft = stemPad / 2
        var size = stemOut
        var blocks: [Block] = []
        var activation = stemOut * stemOut * architecture.stemChannels
        var expandedMax = 0
        var depthwiseMax = 0
        var channelsMax = 0
        var squeezeMax = 0
        for (spec, layer) in zip(architecture.blocks, weights.blocks) {
            let k = spec.kernelSize
            let pad: Int
            let outSize: Int
            if spec.stride == 1 {
                pad = (k - 1) / 2  // 'same'
                outSize = size
            } else {
                // ZeroPadding2D(correct_pad(x, k)) then 'valid': (k/2 − 1, k/2) for even sizes, (k/2, k/2) for odd.
                pad = size % 2 == 0 ? k / 2 - 1 : k / 2
                outSize = (size + pad + k / 2 - k) / spec.stride + 1
            }
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
                kernelSize: k, stride: spec.stride, activation: code(spec.activation), hasResidual: spec.hasResidual,
                inputSize: size, outputSize: outSize, padTop: pad, padLeft: pad))
            expandedMax = max(expandedMax, size * size * spec.expandedChannels)
            depthwiseMax = max(depthwiseMax, outSize * outSize * spec.expandedChannels)
            activation = max(activation, outSize * outSize * spec.outputChannels)
            channelsMax = max(channelsMax, spec.expandedChannels)
            squeezeMax = max(squeezeMax, spec.squeezeChannels ?? 0)
            size = outSize
        }
        self.blocks = blocks
        head = FoldedConvolution(weights.head, depthwise: false)
        headSize = size
        expandedMax = max(expandedMax, size * size * architecture.lastChannels)
        counts = [stemOut * 27, activation, activation, expandedMax, depthwiseMax, channelsMax, squeezeMax, channelsMax]
            .map { ($0 + 15) / 16 * 16 }
    }

    /// Floats of scratch memory one call needs.
    var scratchFloats: Int { max(counts.reduce(0, +), 16) }

    /// Splits one call's scratch memory (64-byte aligned) into its regions.
    func regions(_ base: UnsafeMutablePointer<Float>) -> Regions {
        var offsets: [UnsafeMutablePointer<Float>] = []
        var offset = 0
        for count in counts {
            offsets.append(base + offset)
            offset += count
        }
        return Regions(patches: offsets[0], activationA: offsets[1], activationB: offsets[2], expanded: offsets[3],
                       depthwise: offsets[4], pooled: offsets[5], hidden: offsets[6], gate: offsets[7])
    }
}

/// One call's scratch memory, 64-byte aligned.
final class MobileNetV3Scratch: @unchecked Sendable {
    // Unchecked: used by one call at a time (the pool hands it out exclusively).
    let base: UnsafeMutablePointer<Float>

    init(floats: Int) {
        base = UnsafeMutableRawPointer.allocate(byteCount: floats * 4, alignment: 64).bindMemory(to: Float.self, capacity: floats)
    }

    deinit { base.deallocate() }
}

/// Scratch memory kept between calls, so steady-state extraction allocates nothing.
final class MobileNetV3ScratchPool: @unchecked Sendable {
    // Unchecked: `free` is only touched under `lock`.
    private let lock = NSLock()
    private var free: [MobileNetV3Scratch] = []
    private let floats: Int

    init(floats: Int) { self.floats = floats }

    func take() -> MobileNetV3Scratch {
        lock.lock()
        let scratch = free.popLast()
        lock.unlock()
        return scratch ?? MobileNetV3Scratch(floats: floats)
    }

    func give(_ scratch: MobileNetV3Scratch) {
        lock.lock()
        free.append(scratch)
        lock.unlock()
    }
}
