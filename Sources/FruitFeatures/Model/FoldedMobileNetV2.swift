import CKernels
import Foundation

/// Float storage aligned for SIMD loads, written once at load time and read-only afterwards.
final class AlignedFloats: @unchecked Sendable {
    // Unchecked: the memory is filled in `init` and never written again, so sharing is safe.
    let base: UnsafeMutablePointer<Float>
    let count: Int

    init(_ values: [Float]) {
        count = values.count
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1) * MemoryLayout<Float>.stride, alignment: 64)
        base = raw.bindMemory(to: Float.self, capacity: max(count, 1))
        values.withUnsafeBufferPointer { source in
            if let address = source.baseAddress { base.initialize(from: address, count: count) }
        }
    }

    deinit { base.deallocate() }
}

/// A convolution with its BatchNorm folded in: `y = x ⊛ weights + bias`.
struct FoldedConvolution: Sendable {
    /// Depthwise: `(k·k, channels)`. Regular convolutions (1×1, and Conv1 as `(3·3·3, out)` patches):
    /// the `(kh·kw·in, out)` kernel and the bias packed once for `ffk_pointwise` (see `CKernels.h`).
    let weights: AlignedFloats
    /// One per output channel.
    let bias: AlignedFloats
    let inputChannels: Int
    let outputChannels: Int

    /// Folds BatchNorm (epsilon 1e-3, as Keras's MobileNetV2 and V3) into the kernel: with
    /// s = γ / √(σ² + ε), BN(x ⊛ K) = x ⊛ (K·s) + (β − μ·s). Computed in double precision.
    init(_ layer: MobileNetV2Weights.Layer, depthwise: Bool) {
        let epsilon = 1e-3
        let channels = layer.gamma.count
        var scale = [Double](repeating: 0, count: channels)
        var bias = [Float](repeating: 0, count: channels)
        for channel in 0..<channels {
            scale[channel] = Double(layer.gamma[channel]) / (Double(layer.movingVariance[channel]) + epsilon).squareRoot()
            bias[channel] = Float(Double(layer.beta[channel]) - Double(layer.movingMean[channel]) * scale[channel])
        }
        // Both kernel layouts end with the output channel (a depthwise kernel's last extent is 1 and its
        // channel is the third), so scaling by position modulo `channels` covers both.
        let kernel = layer.kernel.enumerated().map { index, value in
            Float(Double(value) * scale[index % channels])
        }
        if depthwise || channels == 0 {
            self.init(weights: AlignedFloats(kernel), bias: AlignedFloats(bias),
                      inputChannels: depthwise ? channels : layer.kernel.count, outputChannels: channels)
        } else {
            self.init(pointwiseKernel: kernel, bias: bias, inputChannels: layer.kernel.count / max(channels, 1),
                      outputChannels: channels)
        }
    }

    /// A 1×1 convolution (or a k×k one as (k·k·in, out) patches) with its bias, packed for `ffk_pointwise`:
    /// MobileNetV3's squeeze-and-excite layers as they are, every other one after folding its BatchNorm.
    ///   kernel: (inputChannels, outputChannels); bias: (outputChannels).
    init(pointwiseKernel kernel: [Float], bias: [Float], inputChannels: Int, outputChannels: Int) {
        var packed = [Float](repeating: 0, count: ffk_pointwise_packed_count(Int32(inputChannels), Int32(outputChannels)))
        ffk_pointwise_pack(kernel, bias, Int32(inputChannels), Int32(outputChannels), &packed)
        self.init(weights: AlignedFloats(packed), bias: AlignedFloats(bias), inputChannels: inputChannels,
                  outputChannels: outputChannels)
    }

    private init(weights: AlignedFloats, bias: AlignedFloats, inputChannels: Int, outputChannels: Int) {
        self.weights = weights
        self.bias = bias
        self.inputChannels = inputChannels
        self.outputChannels = outputChannels
    }
}

/// MobileNetV2 with every BatchNorm folded away, and the execution plan for one input size.
///
/// The network runs in two stages. Early blocks (large images, few channels) run one image at a time,
/// in row bands that keep their widest tensors in L2 cache. Late blocks (small images, wide weight
/// matrices) can run on a group of images at once, so each 1×1 convolution is one matrix product over all
/// their pixels and each weight panel is read from memory once per group rather than once per image.
struct FoldedMobileNetV2: Sendable {
    struct Block: Sendable {
        let expand: FoldedConvolution?
        let depthwise: FoldedConvolution
        let project: FoldedConvolution
        let stride: Int
        let hasResidual: Bool
        // Spatial sizes and the depthwise padding for the model's input size.
        let inputHeight: Int, inputWidth: Int
        let outputHeight: Int, outputWidth: Int
        let padTop: Int, padLeft: Int
        /// Output rows computed per band (first stage): the block runs band by band so its widest tensors
        /// (the expanded rows and the depthwise output) stay in the CPU's L2 cache instead of going to memory.
        let rowsPerBand: Int

        /// Input rows a band of `rowsPerBand` output rows reads (with the 3×3 halo).
        var inputRowsPerBand: Int { min(inputHeight, (rowsPerBand - 1) * stride + 3) }
        var inputPixels: Int { inputHeight * inputWidth }
        var outputPixels: Int { outputHeight * outputWidth }
        var inputChannels: Int { expand?.inputChannels ?? depthwise.outputChannels }
        var expandedChannels: Int { depthwise.outputChannels }
        var outputChannels: Int { project.outputChannels }
        /// Whether the expanded tensor is stored channel-blocked for `ffk_depthwise3x3_blocked_bias_relu6`
        /// (always for MobileNetV2's widths, which are multiples of 8).
        var expandsToBlocks: Bool { expand != nil && expandedChannels % 8 == 0 }
    }

    /// Floats of expanded rows per band the planner aims for by default (≈ 256 KB, a fraction of a typical L2).
    static let defaultBandBudget = 64 * 1024
    /// Blocks whose input has at most this many pixels run in the grouped stage (14×14 and 7×7 at 224).
    static let groupedStagePixels = 16 * 16
    /// Images per group in the grouped stage by default.
    // 8: each weight panel of the late layers is then read from memory once per 8 images, ≈ 8 % less CPU time
    // per image than groups of 1 (fruitfeatures-benchmark extractor --group-size). Grouping never changes the
    // features: every kernel computes a pixel the same way whatever shares its call.
    static let defaultGroupSize = 8

    let architecture: MobileNetV2Architecture
    let inputSize: Int
    let stem: FoldedConvolution
    let stemOutputSize: Int
    let stemPadTop: Int, stemPadLeft: Int
    let blocks: [Block]
    /// Index of the first block of the grouped stage (`blocks.count` when there is none).
    let groupedFrom: Int
    let groupSize: Int
    let head: FoldedConvolution
    let headPixels: Int

    // Scratch floats. First stage, per worker: `patchesCount` (one row of Conv1's patches), two
    // `activationCount`, band buffers `expandedCount` and `depthwiseCount`. Grouped stage, per image of a group: two `groupActivationCount`,
    // `groupExpandedCount` (also holds the head's output), `groupDepthwiseCount`.
    let patchesCount: Int
    let activationCount: Int
    let expandedCount: Int
    let depthwiseCount: Int
    let groupActivationCount: Int
    let groupExpandedCount: Int
    let groupDepthwiseCount: Int

    /// `bandBudget`: floats of expanded rows per band; `groupSize`: images per group in the grouped stage
    /// (tests use extremes of both).
    init(_ weights: MobileNetV2Weights, inputSize: Int, bandBudget: Int = Self.defaultBandBudget,
         groupSize: Int = Self.defaultGroupSize) {
        architecture = weights.architecture
        self.inputSize = inputSize
        self.groupSize = max(groupSize, 1)
        var layers = weights.layers.makeIterator()
        // The loader guarantees 52 layers in this order; a short list would only come from a caller
        // assembling weights by hand, and yields empty layers rather than a trap.
        func next(depthwise: Bool = false) -> FoldedConvolution {
            let layer = layers.next() ?? MobileNetV2Weights.Layer(
                name: "", kernelShape: [], kernel: [], gamma: [], beta: [], movingMean: [], movingVariance: [])
            return FoldedConvolution(layer, depthwise: depthwise)
        }
        stem = next()
        let stemGeometry = ConvolutionGeometry.stem(inputSize: inputSize)
        let stemOut = stemGeometry.outputSize
        stemOutputSize = stemOut
        stemPadTop = stemGeometry.padTop
        stemPadLeft = stemGeometry.padLeft
        var size = stemOut
        var blocks: [Block] = []
        for spec in architecture.blocks {
            let expand = spec.expands ? next() : nil
            let depthwise = next(depthwise: true)
            let project = next()
            let geometry = ConvolutionGeometry(inputSize: size, kernel: 3, stride: spec.stride)
            let (outSize, pad) = (geometry.outputSize, geometry.padTop)
            let rowFloats = max(size * spec.expandedChannels, 1)
            let bandInputRows = max(bandBudget / rowFloats, 3)
            let rowsPerBand = min(max((bandInputRows - 3) / spec.stride + 1, 1), outSize)
            blocks.append(Block(expand: expand, depthwise: depthwise, project: project, stride: spec.stride,
                                hasResidual: spec.hasResidual, inputHeight: size, inputWidth: size,
                                outputHeight: outSize, outputWidth: outSize, padTop: pad, padLeft: pad,
                                rowsPerBand: rowsPerBand))
            size = outSize
        }
        self.blocks = blocks
        head = next()
        headPixels = size * size
        groupedFrom = blocks.firstIndex { $0.inputPixels <= Self.groupedStagePixels } ?? blocks.count

        let stemActivation = stemOut * stemOut * architecture.firstChannels
        let firstStage = blocks[..<groupedFrom]
        let groupedStage = blocks[groupedFrom...]
        patchesCount = stemOut * 27  // one output row of Conv1
        activationCount = firstStage.map { $0.outputPixels * $0.outputChannels }.reduce(stemActivation, max)
        expandedCount = firstStage.map { $0.expand == nil ? 0 : $0.inputRowsPerBand * $0.inputWidth * $0.expandedChannels }
            .reduce(0, max)
        depthwiseCount = firstStage.map { $0.rowsPerBand * $0.outputWidth * $0.expandedChannels }.reduce(0, max)
        // The grouped stage's input is the first stage's output (or the stem's when every block is grouped).
        let groupInput = groupedFrom == 0 ? stemActivation : firstStage.last.map { $0.outputPixels * $0.outputChannels } ?? 0
        groupActivationCount = groupedStage.map { $0.outputPixels * $0.outputChannels }.reduce(groupInput, max)
        groupExpandedCount = groupedStage.map { $0.inputPixels * $0.expandedChannels }
            .reduce(headPixels * architecture.lastChannels, max)
        groupDepthwiseCount = groupedStage.map { $0.outputPixels * $0.expandedChannels }.reduce(0, max)
    }
}
