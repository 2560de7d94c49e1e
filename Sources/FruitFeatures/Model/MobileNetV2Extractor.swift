import CKernels
import Foundation

/// A call to the extractor with buffers of the wrong size.
public struct FeatureExtractionError: Error, CustomStringConvertible, Sendable, Equatable {
    /// Which buffer is wrong.
    public enum Buffer: Sendable, Equatable {
        /// The input images.
        case input
        /// The output features.
        case output
    }

    /// The kind of failure, for a caller that branches on it: always a caller's buffer of the wrong size.
    public enum Kind: Sendable, Equatable {
        /// A buffer does not hold exactly the floats the call needs.
        case bufferSize
    }

    /// The kind of failure.
    public var kind: Kind { .bufferSize }

    /// The buffer at fault.
    public let buffer: Buffer
    /// Floats the call needs in that buffer.
    public let expected: Int
    /// Floats it was given.
    public let actual: Int

    /// Creates an error for `buffer`.
    public init(buffer: Buffer, expected: Int, actual: Int) {
        self.buffer = buffer
        self.expected = expected
        self.actual = actual
    }

    /// A one-line explanation.
    public var description: String {
        switch buffer {
        case .input: return "input holds \(actual) floats where the images need \(expected)"
        case .output: return "output holds \(actual) floats where the features need \(expected)"
        }
    }
}

/// MobileNetV2 without its classifier: preprocessed images in, global-average-pooled features out —
/// what tf.keras returns for `Model(m.input, m.layers[-2].output)`.
///
/// Images are NHWC float32, `inputSize × inputSize × 3`, already preprocessed to [-1, 1]
/// (`x / 127.5 − 1`, Keras's `mobilenet_v2.preprocess_input`). The model is immutable and safe to use
/// from several tasks at once: each call borrows its own scratch memory from a pool.
public final class MobileNetV2Extractor: FeatureNetwork {
    /// The layer widths, read from the weights.
    public let architecture: MobileNetV2Architecture
    /// Height and width of the square input images.
    public let inputSize: Int
    /// How the forward pass is scheduled. It changes speed and memory, never the features: an image's
    /// features are the same bits whatever the plan, the batch or the images sharing its call.
    public let plan: ExecutionPlan
    private let model: FoldedMobileNetV2
    private let scratchPool: ScratchPool<Scratch>

    /// Whether the depthwise and element-wise kernels run their AVX2+FMA build on this CPU.
    public static var usesAVX2: Bool { ffk_cpu_has_avx2_fma() != 0 }

    /// Floats per feature vector (1280 for alpha ≤ 1).
    public var featureCount: Int { architecture.lastChannels }

    /// Loads the MobileNetV2 weights in a Keras `.h5` file (see `KerasWeightsFile`).
    public convenience init(weightsAt url: URL, inputSize: Int = 224, plan: ExecutionPlan = .standard) throws(WeightsError) {
        let weights = try KerasWeightsFile(contentsOf: url).mobileNetV2Weights()
        try self.init(weights: weights, inputSize: inputSize, plan: plan, source: url.path)
    }

    /// Builds the extractor from weights already read, folding every BatchNorm into its convolution.
    /// `source` names the weights in errors.
    package init(weights: MobileNetV2Weights, inputSize: Int = 224, plan: ExecutionPlan = .standard,
                source: String = "") throws(WeightsError) {
        guard (32...2048).contains(inputSize) else {
            throw WeightsError(file: source, reason: .unsupportedInputSize(inputSize))
        }
        architecture = weights.architecture
        self.inputSize = inputSize
        self.plan = plan
        model = FoldedMobileNetV2(weights, inputSize: inputSize, bandBudget: plan.bandFloats, groupSize: plan.groupSize)
        let folded = model
        scratchPool = ScratchPool { Scratch(model: folded) }
    }

    /// How the forward pass is scheduled; every plan gives exactly the same features.
    public struct ExecutionPlan: Sendable, Equatable {
        /// Floats of expanded rows per band in the first stage (default 65 536, ≈ 256 KB: a fraction of L2).
        public var bandFloats: Int
        /// Images per group in the grouped stage (default 8); memory grows with it.
        public var groupSize: Int

        /// A plan with the given band size and group size.
        public init(bandFloats: Int, groupSize: Int) {
            self.bandFloats = bandFloats
            self.groupSize = groupSize
        }

        /// The default plan.
        public static let standard = ExecutionPlan(bandFloats: FoldedMobileNetV2.defaultBandBudget,
                                                   groupSize: FoldedMobileNetV2.defaultGroupSize)
    }

    /// Output rows per band of each block (for tests).
    var rowsPerBand: [Int] { model.blocks.map(\.rowsPerBand) }

    /// Idle scratch memories held between calls (for tests).
    var idleScratchCount: Int { scratchPool.idleCount }

    /// Index of the first block of the grouped stage (for tests).
    var groupedFrom: Int { model.groupedFrom }

    /// Computes the features of `count` images stored one after another in `input`, writing
    /// `count · featureCount` floats to `output`.
    public func features(
        batch input: UnsafeBufferPointer<Float>, count: Int, into output: UnsafeMutableBufferPointer<Float>
    ) throws(FeatureExtractionError) {
        try checkBuffers(input, count: count, output)
        guard count > 0, let source = input.baseAddress, let destination = output.baseAddress else { return }
        let scratch = scratchPool.take()
        defer { scratchPool.give(scratch) }
        run(source, count: count, into: destination, scratch: scratch)
    }

    /// Computes the features like `features(batch:count:into:)` and returns the time spent in each kind of
    /// layer (for benchmarks: reading the clock around every layer costs a few microseconds per image).
    package func profile(
        batch input: UnsafeBufferPointer<Float>, count: Int, into output: UnsafeMutableBufferPointer<Float>
    ) throws(FeatureExtractionError) -> LayerProfile {
        try checkBuffers(input, count: count, output)
        guard count > 0, let source = input.baseAddress, let destination = output.baseAddress else {
            return LayerProfile()
        }
        let scratch = Scratch(model: model)
        scratch.profile = LayerProfile()
        run(source, count: count, into: destination, scratch: scratch)
        var profile = scratch.profile ?? LayerProfile()
        profile.images = count
        return profile
    }

    /// The forward pass over `count` images, group by group.
    private func run(_ source: UnsafePointer<Float>, count: Int, into destination: UnsafeMutablePointer<Float>,
                     scratch: Scratch) {
        runInGroups(count: count, groupSize: model.groupSize) { image, slot in
            firstStage(source + image * inputCount, slot: slot, scratch: scratch)
        } groupedStage: { first, images in
            groupedStage(images: images, into: destination + first * featureCount, scratch: scratch)
        }
    }

    /// MobileNetV2, its alpha and input size, the Keras preprocessing, the weights' SHA-256.
    public func identity(weightsSHA256: String) -> FeatureModelIdentity {
        FeatureModelIdentity(architecture: FeatureModelIdentity.mobileNetV2, alpha: architecture.alpha,
                             inputSize: inputSize, preprocessing: FeatureModelIdentity.kerasMobileNetV2Preprocessing,
                             featureCount: featureCount, weightsSHA256: weightsSHA256)
    }

    // MARK: - Forward pass

    /// First stage, one image: `input` (inputSize, inputSize, 3) → Conv1 → the banded blocks → the image's
    /// slot of the grouped stage's input.
    private func firstStage(_ input: UnsafePointer<Float>, slot: Int, scratch: Scratch) {
        let m = model
        let groupInputCount = m.groupedFrom == 0
            ? m.stemOutputSize * m.stemOutputSize * m.stem.outputChannels
            : m.blocks[m.groupedFrom - 1].outputPixels * m.blocks[m.groupedFrom - 1].outputChannels
        let destination = scratch.groupA + slot * groupInputCount
        var x = m.groupedFrom == 0 ? destination : scratch.activationA
        var y = scratch.activationB

        // Conv1, one output row at a time so its patches stay in L1:
        //   patches (s, 27) · kernel (27, first) + bias, ReLU6 → row r of x (s, s, first).
        let s = m.stemOutputSize
        scratch.timed(\.stem) {
            for row in 0..<s {
                // Row `row` of the output is row 0 of an image whose top padding is shifted by 2·row.
                ffk_im2col3x3(input, Int32(m.inputSize), Int32(m.inputSize), 3, 2, Int32(m.stemPadTop - 2 * row),
                              Int32(m.stemPadLeft), 1, Int32(s), scratch.patches)
                convolve(scratch.patches, rows: s, m.stem, relu6: true, into: x + row * s * m.stem.outputChannels)
            }
        }

        for index in 0..<m.groupedFrom {
            let output = index == m.groupedFrom - 1 ? destination : y
            runBlock(m.blocks[index], input: x, output: output, scratch: scratch)
            y = x
            x = output
        }
    }

    /// Grouped stage: the last blocks and Conv_1 on `images` images at once (one matrix product per 1×1
    /// convolution over all their pixels), then ReLU6 and global average pooling per image into `output`.
    ///   groupA: (images, h, w, c), each image's tensor right after the previous one.
    private func groupedStage(images: Int, into output: UnsafeMutablePointer<Float>, scratch: Scratch) {
        let m = model
        var x = scratch.groupA
        var y = scratch.groupB
        for block in m.blocks[m.groupedFrom...] {
            // Expansion of all images: planes of (images, h, w, 8) when blocked, else (images, h, w, c).
            let planeStride = images * block.inputPixels * 8
            let imageStride = block.inputPixels * (block.expandsToBlocks ? 8 : block.expandedChannels)
            var depthwiseInput = UnsafePointer(x)
            if block.expand != nil {
                scratch.timed(\.expand) {
                    expand(block, x, rows: images * block.inputPixels, into: scratch.groupExpanded,
                           planeStride: planeStride)
                }
                depthwiseInput = UnsafePointer(scratch.groupExpanded)
            }
            scratch.timed(\.depthwise) {
                for image in 0..<images {
                    depthwise(block, depthwiseInput + image * imageStride, planeStride: planeStride,
                              height: block.inputHeight, padTop: block.padTop, outputRows: block.outputHeight,
                              into: scratch.groupDepthwise + image * block.outputPixels * block.expandedChannels)
                }
            }
            scratch.timed(\.project) {
                convolve(scratch.groupDepthwise, rows: images * block.outputPixels, block.project,
                         residual: block.hasResidual ? UnsafePointer(x) : nil, into: y)
            }
            swap(&x, &y)
        }
        // Conv_1 1×1 + bias, ReLU6 → (images·h·w, last); then global average pooling per image.
        let last = m.head.outputChannels
        scratch.timed(\.head) {
            convolve(x, rows: images * m.headPixels, m.head, relu6: true, into: scratch.groupExpanded)
            for image in 0..<images {
                ffk_mean_rows(scratch.groupExpanded + image * m.headPixels * last, m.headPixels, Int32(last),
                              output + image * featureCount)
            }
        }
    }

    /// One inverted-residual block, band by band of output rows.
    ///   x: (h, w, in) → y: (h', w', out). Per band: expand the input rows it needs (reusing the rows it
    ///   shares with the previous band), depthwise into the band's output rows, project them into y.
    private func runBlock(_ block: FoldedMobileNetV2.Block, input x: UnsafeMutablePointer<Float>,
                          output y: UnsafeMutablePointer<Float>, scratch: Scratch) {
        let width = block.inputWidth
        let inChannels = block.inputChannels
        let outChannels = block.outputChannels
        let inputRow = width * inChannels
        // Expanded rows: planes of (band rows, w, 8), `planeStride` floats apart, when blocked; else NHWC.
        let planeStride = block.inputRowsPerBand * width * 8
        let planes = block.expandsToBlocks ? block.expandedChannels / 8 : 1
        let rowFloats = block.expandsToBlocks ? width * 8 : width * block.expandedChannels
        // Input rows [bandFirst, bandLast] currently held in scratch.expanded (empty when bandLast < bandFirst).
        var bandFirst = 0
        var bandLast = -1
        var outFirst = 0
        while outFirst < block.outputHeight {
            let outCount = min(block.rowsPerBand, block.outputHeight - outFirst)
            // Input rows the band reads, clipped to the image (rows outside read as zero padding).
            let wantedFirst = outFirst * block.stride - block.padTop
            let first = max(wantedFirst, 0)
            let last = min((outFirst + outCount - 1) * block.stride - block.padTop + 2, block.inputHeight - 1)
            if block.expand != nil {
                scratch.timed(\.expand) {
                    // Keep the rows shared with the previous band: move them to the front (of each plane).
                    var computedUpTo = first - 1
                    if bandLast >= first {
                        if first != bandFirst {
                            for plane in 0..<planes {
                                let base = scratch.expanded + plane * planeStride
                                // Source and destination may overlap.
                                memmove(base, base + (first - bandFirst) * rowFloats,
                                        (bandLast - first + 1) * rowFloats * MemoryLayout<Float>.stride)
                            }
                        }
                        computedUpTo = bandLast
                    }
                    // (newRows·w, in) · (in, expanded) + bias, ReLU6 → rows after the kept ones.
                    let newRows = last - computedUpTo
                    if newRows > 0 {
                        expand(block, x + (computedUpTo + 1) * inputRow, rows: newRows * width,
                               into: scratch.expanded + (computedUpTo + 1 - first) * rowFloats, planeStride: planeStride)
                    }
                    bandFirst = first
                    bandLast = last
                }
            }
            // Depthwise over the band: rows [first, last] seen as an image whose top is `first`.
            let depthwiseInput = block.expand != nil ? UnsafePointer(scratch.expanded) : UnsafePointer(x + first * inputRow)
            scratch.timed(\.depthwise) {
                depthwise(block, depthwiseInput, planeStride: planeStride, height: last - first + 1,
                          padTop: first - wantedFirst, outputRows: outCount, into: scratch.depthwise)
            }
            // Project (rows·w', expanded) · (expanded, out) → y's band, plus bias and the block input.
            let pixels = outCount * block.outputWidth
            let offset = outFirst * block.outputWidth
            scratch.timed(\.project) {
                convolve(scratch.depthwise, rows: pixels, block.project,
                         residual: block.hasResidual ? UnsafePointer(x + offset * inChannels) : nil,
                         into: y + offset * outChannels)
            }
            outFirst += outCount
        }
    }

    /// The block's expanding 1×1 convolution with ReLU6: a (rows, in) → `rows` pixels of the expansion,
    /// channel-blocked (planes `planeStride` floats apart) when the block says so, else NHWC.
    private func expand(_ block: FoldedMobileNetV2.Block, _ a: UnsafePointer<Float>, rows: Int,
                        into c: UnsafeMutablePointer<Float>, planeStride: Int) {
        guard let layer = block.expand else { return }
        if block.expandsToBlocks {
            ffk_pointwise_blocked(a, rows, Int32(layer.inputChannels), layer.weights.base, Int32(layer.outputChannels),
                                  1, c, planeStride)
        } else {
            convolve(a, rows: rows, layer, relu6: true, into: c)
        }
    }

    /// The block's depthwise convolution (bias, ReLU6) over `height` input rows read from `input` — the
    /// expansion's layout (see `expand`) for an expanding block, NHWC otherwise — into `outputRows` NHWC rows.
    private func depthwise(_ block: FoldedMobileNetV2.Block, _ input: UnsafePointer<Float>, planeStride: Int,
                           height: Int, padTop: Int, outputRows: Int, into output: UnsafeMutablePointer<Float>) {
        let layer = block.depthwise
        if block.expandsToBlocks {
            ffk_depthwise3x3_blocked_bias_relu6(
                input, planeStride, Int32(height), Int32(block.inputWidth), Int32(layer.outputChannels),
                layer.weights.base, layer.bias.base, output, Int32(outputRows), Int32(block.outputWidth),
                Int32(block.stride), Int32(padTop), Int32(block.padLeft))
        } else {
            ffk_depthwise3x3_bias_relu6(
                input, Int32(height), Int32(block.inputWidth), Int32(layer.outputChannels), layer.weights.base,
                layer.bias.base, output, Int32(outputRows), Int32(block.outputWidth), Int32(block.stride),
                Int32(padTop), Int32(block.padLeft))
        }
    }

    /// A 1×1 convolution (or Conv1 on its patches) with its epilogue, one `ffk_pointwise` call:
    ///   a: (rows, in) → c (rows, out) = f(a · weights + bias (+ residual)), f = ReLU6 or identity.
    private func convolve(
        _ a: UnsafePointer<Float>, rows: Int, _ layer: FoldedConvolution, residual: UnsafePointer<Float>? = nil,
        relu6: Bool = false, into c: UnsafeMutablePointer<Float>
    ) {
        ffk_pointwise(a, rows, Int32(layer.inputChannels), layer.weights.base, Int32(layer.outputChannels),
                      residual, relu6 ? 1 : 0, c)
    }
}

/// Time spent in each kind of layer by `MobileNetV2Extractor.profile(batch:count:into:)`.
package struct LayerProfile: Sendable, Equatable {
    /// Images the times cover.
    package var images = 0
    /// Conv1 (patches and the convolution).
    package var stem = Duration.zero
    /// The expanding 1×1 convolutions (with ReLU6).
    package var expand = Duration.zero
    /// The depthwise 3×3 convolutions (with ReLU6).
    package var depthwise = Duration.zero
    /// The projecting 1×1 convolutions (with the residual additions).
    package var project = Duration.zero
    /// Conv_1 and the global average pooling.
    package var head = Duration.zero

    /// An empty profile.
    package init() {}

    /// Sum of all layers.
    package var total: Duration { stem + expand + depthwise + project + head }

    /// Adds the times and images of `other`.
    package static func += (profile: inout LayerProfile, other: LayerProfile) {
        profile.images += other.images
        profile.stem += other.stem
        profile.expand += other.expand
        profile.depthwise += other.depthwise
        profile.project += other.project
        profile.head += other.head
    }
}

/// Per-call working memory: first-stage buffers for one image, grouped-stage buffers for a group.
final class Scratch: @unchecked Sendable {
    /// Set only for profiling calls; nil otherwise, so the forward pass reads no clock.
    var profile: LayerProfile?

    /// Runs `body`, adding its duration to `layer` when profiling.
    @inline(__always) func timed(_ layer: WritableKeyPath<LayerProfile, Duration>, _ body: () -> Void) {
        guard profile != nil else { return body() }
        let started = ContinuousClock.now
        body()
        profile?[keyPath: layer] += ContinuousClock.now - started
    }

    let patches: UnsafeMutablePointer<Float>
    let activationA: UnsafeMutablePointer<Float>
    let activationB: UnsafeMutablePointer<Float>
    let expanded: UnsafeMutablePointer<Float>
    let depthwise: UnsafeMutablePointer<Float>
    let groupA: UnsafeMutablePointer<Float>
    let groupB: UnsafeMutablePointer<Float>
    let groupExpanded: UnsafeMutablePointer<Float>
    let groupDepthwise: UnsafeMutablePointer<Float>
    private let memory: ScratchRegions

    init(model: FoldedMobileNetV2) {
        let group = model.groupSize
        memory = ScratchRegions(counts: [
            model.patchesCount, model.activationCount, model.activationCount, model.expandedCount,
            model.depthwiseCount, group * model.groupActivationCount, group * model.groupActivationCount,
            group * model.groupExpandedCount, group * model.groupDepthwiseCount,
        ])
        let regions = memory.regions
        patches = regions[0]
        activationA = regions[1]
        activationB = regions[2]
        expanded = regions[3]
        depthwise = regions[4]
        groupA = regions[5]
        groupB = regions[6]
        groupExpanded = regions[7]
        groupDepthwise = regions[8]
    }
}
