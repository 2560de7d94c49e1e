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
    /// Regular convolutions: `(kh·kw·in, out)` row-major, ready for `patches · weights`;
    /// depthwise: `(3·3, channels)`.
    let weights: AlignedFloats
    /// One per output channel.
    let bias: AlignedFloats
    let inputChannels: Int
    let outputChannels: Int

    /// Folds BatchNorm (epsilon 1e-3, as Keras's MobileNetV2) into the kernel: with
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
        weights = AlignedFloats(kernel)
        self.bias = AlignedFloats(bias)
        outputChannels = channels
        inputChannels = depthwise ? channels : layer.kernel.count / max(channels, 1)
    }
}

/// MobileNetV2 with every BatchNorm folded away, and the tensor sizes for one input size.
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
        /// Output rows computed per band: the block runs band by band so its widest tensors (the expanded
        /// rows and the depthwise output) stay in the CPU's L2 cache instead of travelling to memory.
        let rowsPerBand: Int

        /// Input rows a band of `rowsPerBand` output rows reads (with the 3×3 halo).
        var inputRowsPerBand: Int { min(inputHeight, (rowsPerBand - 1) * stride + 3) }
    }

    /// Floats of expanded rows per band the planner aims for by default (≈ 256 KB, a fraction of a typical L2).
    static let defaultBandBudget = 64 * 1024

    let architecture: MobileNetV2Architecture
    let inputSize: Int
    let stem: FoldedConvolution
    let stemOutputSize: Int
    let stemPadTop: Int, stemPadLeft: Int
    let blocks: [Block]
    let head: FoldedConvolution
    let headSize: Int

    /// Floats needed per image for each scratch role (`expandedCount` and `depthwiseCount` per band).
    let patchesCount: Int
    let activationCount: Int
    let expandedCount: Int
    let depthwiseCount: Int
    let headCount: Int

    /// `bandBudget`: floats of expanded rows per band (tests use extremes to exercise the banding).
    init(_ weights: MobileNetV2Weights, inputSize: Int, bandBudget: Int = Self.defaultBandBudget) {
        architecture = weights.architecture
        self.inputSize = inputSize
        var layers = weights.layers.makeIterator()
        // The loader guarantees 52 layers in this order; a short list would only come from a caller
        // assembling weights by hand, and yields empty layers rather than a trap.
        func next(depthwise: Bool = false) -> FoldedConvolution {
            let layer = layers.next() ?? MobileNetV2Weights.Layer(
                name: "", kernelShape: [], kernel: [], gamma: [], beta: [], movingMean: [], movingVariance: [])
            return FoldedConvolution(layer, depthwise: depthwise)
        }
        stem = next()
        // Conv1: 3×3 stride 2 'same': TensorFlow puts the odd padding pixel at the bottom/right.
        let stemOut = (inputSize + 1) / 2
        let stemPad = max((stemOut - 1) * 2 + 3 - inputSize, 0)
        stemOutputSize = stemOut
        stemPadTop = stemPad / 2
        stemPadLeft = stemPad / 2
        var size = stemOut
        var blocks: [Block] = []
        var activation = stemOut * stemOut * architecture.firstChannels
        var expanded = 0
        var depthwiseOut = 0
        for spec in architecture.blocks {
            let expand = spec.expands ? next() : nil
            let depthwise = next(depthwise: true)
            let project = next()
            let outSize: Int
            let pad: Int
            if spec.stride == 1 {
                outSize = size
                pad = 1  // 'same'
            } else {
                // ZeroPadding2D(correct_pad) then 'valid': ((0,1),(0,1)) for even sizes, ((1,1),(1,1)) for odd.
                pad = size % 2 == 0 ? 0 : 1
                outSize = (size + pad + 1 - 3) / 2 + 1
            }
            let rowFloats = max(size * spec.expandedChannels, 1)
            let bandInputRows = max(bandBudget / rowFloats, 3)
            let rowsPerBand = min(max((bandInputRows - 3) / spec.stride + 1, 1), outSize)
            let block = Block(expand: expand, depthwise: depthwise, project: project, stride: spec.stride,
                              hasResidual: spec.hasResidual, inputHeight: size, inputWidth: size,
                              outputHeight: outSize, outputWidth: outSize, padTop: pad, padLeft: pad,
                              rowsPerBand: rowsPerBand)
            blocks.append(block)
            if spec.expands { expanded = max(expanded, block.inputRowsPerBand * size * spec.expandedChannels) }
            depthwiseOut = max(depthwiseOut, rowsPerBand * outSize * spec.expandedChannels)
            activation = max(activation, outSize * outSize * spec.outputChannels)
            size = outSize
        }
        self.blocks = blocks
        head = next()
        headSize = size
        headCount = size * size * architecture.lastChannels
        patchesCount = stemOut * stemOut * 27
        activationCount = activation
        expandedCount = expanded
        depthwiseCount = depthwiseOut
    }
}
