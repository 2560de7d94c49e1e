/// The layer widths of a MobileNetV2 (Sandler et al. 2018) as Keras builds it.
///
/// The structure is fixed — `Conv1` 3×3 stride 2, 17 inverted-residual blocks, `Conv_1` 1×1 — and the
/// width multiplier alpha only changes channel counts, so the widths read from a weights file fully
/// describe the network.
public struct MobileNetV2Architecture: Sendable, Equatable {
    /// One inverted-residual block: expand 1×1 (except block 0), depthwise 3×3, project 1×1.
    public struct Block: Sendable, Equatable {
        /// Channels entering the block.
        public let inputChannels: Int
        /// Channels after the expansion (equal to `inputChannels` when the block does not expand).
        public let expandedChannels: Int
        /// Channels leaving the block.
        public let outputChannels: Int
        /// The depthwise stride, 1 or 2.
        public let stride: Int
        /// Whether the block starts with a 1×1 expansion (all but Keras's block 0).
        public let expands: Bool

        /// Whether the block adds its input to its output (same shape in and out).
        public var hasResidual: Bool { stride == 1 && inputChannels == outputChannels }
    }

    /// Output channels of `Conv1`.
    public let firstChannels: Int
    /// The 17 blocks, in order.
    public let blocks: [Block]
    /// Output channels of `Conv_1`: the length of the feature vector.
    public let lastChannels: Int

    /// The Keras width multiplier these widths come from, or nil when none of the published ones gives them.
    public var alpha: Double? {
        Self.publishedAlphas.first { MobileNetV2Architecture(alpha: $0) == self }
    }

    /// The width multipliers Keras publishes ImageNet weights for.
    public static let publishedAlphas: [Double] = [0.35, 0.5, 0.75, 1.0, 1.3, 1.4]

    /// Keras's block plan: base output filters, depthwise stride, expansion factor.
    static let plan: [(filters: Int, stride: Int, expansion: Int)] = [
        (16, 1, 1),
        (24, 2, 6), (24, 1, 6),
        (32, 2, 6), (32, 1, 6), (32, 1, 6),
        (64, 2, 6), (64, 1, 6), (64, 1, 6), (64, 1, 6),
        (96, 1, 6), (96, 1, 6), (96, 1, 6),
        (160, 2, 6), (160, 1, 6), (160, 1, 6),
        (320, 1, 6),
    ]

    /// The widths Keras's `MobileNetV2(alpha:)` uses.
    public init(alpha: Double) {
        firstChannels = Self.makeDivisible(32 * alpha)
        var channels = firstChannels
        var blocks: [Block] = []
        for (index, step) in Self.plan.enumerated() {
            // Keras truncates filters·alpha to an integer before rounding to a multiple of 8.
            let output = Self.makeDivisible(Double(Int(Double(step.filters) * alpha)))
            blocks.append(Block(inputChannels: channels, expandedChannels: channels * step.expansion,
                                outputChannels: output, stride: step.stride, expands: index != 0))
            channels = output
        }
        self.blocks = blocks
        lastChannels = alpha > 1.0 ? Self.makeDivisible(1280 * alpha) : 1280
    }

    /// Widths read from a weights file.
    init(firstChannels: Int, blocks: [Block], lastChannels: Int) {
        self.firstChannels = firstChannels
        self.blocks = blocks
        self.lastChannels = lastChannels
    }

    /// Keras's `_make_divisible(v, 8)`: nearest multiple of 8, at least 8, never more than 10% below `v`.
    static func makeDivisible(_ value: Double, divisor: Int = 8) -> Int {
        var rounded = max(divisor, Int(value + Double(divisor) / 2) / divisor * divisor)
        if Double(rounded) < 0.9 * value { rounded += divisor }
        return rounded
    }

    /// The layers that carry weights, in Keras's order: each convolution followed by its BatchNorm.
    static func layerNames(blockCount: Int = 17) -> [String] {
        var names = ["Conv1", "bn_Conv1"]
        for index in 0..<blockCount {
            let prefix = index == 0 ? "expanded_conv_" : "block_\(index)_"
            if index != 0 { names += [prefix + "expand", prefix + "expand_BN"] }
            names += [prefix + "depthwise", prefix + "depthwise_BN", prefix + "project", prefix + "project_BN"]
        }
        return names + ["Conv_1", "Conv_1_bn"]
    }

    /// The shapes of every weight of every layer with weights, in Keras's order (as `layerNames()`).
    public var weightShapes: [[[Int]]] {
        var shapes: [[[Int]]] = []
        func convolution(_ kernel: [Int], channels: Int) {
            shapes.append([kernel])
            shapes.append(Array(repeating: [channels], count: 4))
        }
        convolution([3, 3, 3, firstChannels], channels: firstChannels)
        for block in blocks {
            if block.expands {
                convolution([1, 1, block.inputChannels, block.expandedChannels], channels: block.expandedChannels)
            }
            convolution([3, 3, block.expandedChannels, 1], channels: block.expandedChannels)
            convolution([1, 1, block.expandedChannels, block.outputChannels], channels: block.outputChannels)
        }
        convolution([1, 1, blocks.last?.outputChannels ?? 0, lastChannels], channels: lastChannels)
        return shapes
    }
}
