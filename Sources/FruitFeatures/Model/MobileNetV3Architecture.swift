/// The structure of a MobileNetV3 (Howard et al. 2019) as `keras.applications.MobileNetV3Large/Small` build it.
///
/// A 3×3 stride-2 stem of 16 channels, a fixed plan of inverted-residual blocks (1×1 expand except block 0,
/// 3×3 or 5×5 depthwise, optional squeeze-and-excite, 1×1 project), and a 1×1 convolution to six times the
/// last block's width. Alpha scales the blocks' output widths; the minimalistic variant uses ReLU, 3×3
/// kernels and no squeeze-and-excite throughout.
public struct MobileNetV3Architecture: Sendable, Equatable {
    /// Large (15 blocks, 960 features at alpha 1) or Small (11 blocks, 576 features).
    public enum Variant: String, Sendable, Equatable, CaseIterable {
        /// `MobileNetV3Large`.
        case large
        /// `MobileNetV3Small`.
        case small

        /// Keras's function name (`MobileNetV3Large`, `MobileNetV3Small`).
        public var kerasName: String { self == .large ? "MobileNetV3Large" : "MobileNetV3Small" }
    }

    /// The non-linearity after a convolution.
    public enum Activation: String, Sendable, Equatable {
        /// max(x, 0).
        case relu
        /// x · ReLU6(x + 3) / 6.
        case hardSwish = "hard_swish"
    }

    /// One inverted-residual block.
    public struct Block: Sendable, Equatable {
        /// Channels entering the block.
        public let inputChannels: Int
        /// Channels after the 1×1 expansion (the input's when the block does not expand).
        public let expandedChannels: Int
        /// Channels leaving the block.
        public let outputChannels: Int
        /// Depthwise kernel size, 3 or 5.
        public let kernelSize: Int
        /// Depthwise stride, 1 or 2.
        public let stride: Int
        /// Channels of the squeeze-and-excite bottleneck, nil when the block has none.
        public let squeezeChannels: Int?
        /// The activation after the expansion and the depthwise convolution.
        public let activation: Activation
        /// Whether the block starts with a 1×1 expansion (all but block 0).
        public let expands: Bool

        /// Whether the block adds its input to its output.
        public var hasResidual: Bool { stride == 1 && inputChannels == outputChannels }
    }

    /// Large or Small.
    public let variant: Variant
    /// ReLU, 3×3 kernels and no squeeze-and-excite everywhere.
    public let minimalistic: Bool
    /// Output channels of the stem (`conv`): 16 at every alpha.
    public let stemChannels: Int
    /// The blocks, in order.
    public let blocks: [Block]
    /// Output channels of `conv_1`: the length of the feature vector.
    public let lastChannels: Int

    /// The activation of the stem and of `conv_1`.
    public var activation: Activation { minimalistic ? .relu : .hardSwish }

    /// The width multiplier these widths come from, among `knownAlphas`, or nil.
    public var alpha: Double? {
        Self.knownAlphas.first { MobileNetV3Architecture(variant, alpha: $0, minimalistic: minimalistic) == self }
    }

    /// Keras publishes ImageNet weights for 0.75 and 1.0 (minimalistic: 1.0); other widths are recognised too.
    public static let knownAlphas: [Double] = [0.75, 1.0, 0.25, 0.35, 0.5, 1.25, 1.3, 1.4, 1.5, 2.0]

    /// Keras's block plan: expansion, base filters, kernel (0: the model's kernel, 5 or 3 when minimalistic),
    /// stride, squeeze-and-excite, whether the model's activation (else ReLU) is used.
    typealias Step = (expansion: Double, filters: Int, kernel: Int, stride: Int, squeeze: Bool, modelActivation: Bool)

    static func plan(_ variant: Variant) -> [Step] {
        switch variant {
        case .small:
            return [
                (1, 16, 3, 2, true, false), (72.0 / 16, 24, 3, 2, false, false), (88.0 / 24, 24, 3, 1, false, false),
                (4, 40, 0, 2, true, true), (6, 40, 0, 1, true, true), (6, 40, 0, 1, true, true),
                (3, 48, 0, 1, true, true), (3, 48, 0, 1, true, true),
                (6, 96, 0, 2, true, true), (6, 96, 0, 1, true, true), (6, 96, 0, 1, true, true),
            ]
        case .large:
            return [
                (1, 16, 3, 1, false, false), (4, 24, 3, 2, false, false), (3, 24, 3, 1, false, false),
                (3, 40, 0, 2, true, false), (3, 40, 0, 1, true, false), (3, 40, 0, 1, true, false),
                (6, 80, 3, 2, false, true), (2.5, 80, 3, 1, false, true), (2.3, 80, 3, 1, false, true),
                (2.3, 80, 3, 1, false, true), (6, 112, 3, 1, true, true), (6, 112, 3, 1, true, true),
                (6, 160, 0, 2, true, true), (6, 160, 0, 1, true, true), (6, 160, 0, 1, true, true),
            ]
        }
    }

    /// The structure Keras's `MobileNetV3Large/Small(alpha:minimalistic:)` builds.
    public init(_ variant: Variant, alpha: Double = 1.0, minimalistic: Bool = false) {
        self.variant = variant
        self.minimalistic = minimalistic
        stemChannels = 16
        var channels = 16
        var blocks: [Block] = []
        for (index, step) in Self.plan(variant).enumerated() {
            let expanded = Self.depth(Double(channels) * step.expansion)
            let output = Self.depth(Double(step.filters) * alpha)
            let kernel = step.kernel != 0 ? step.kernel : (minimalistic ? 3 : 5)
            let squeeze = step.squeeze && !minimalistic ? Self.depth(Double(expanded) * 0.25) : nil
            let activation: Activation = step.modelActivation && !minimalistic ? .hardSwish : .relu
            blocks.append(Block(inputChannels: channels, expandedChannels: index == 0 ? channels : expanded,
                                outputChannels: output, kernelSize: kernel, stride: step.stride,
                                squeezeChannels: squeeze, activation: activation, expands: index != 0))
            channels = output
        }
        self.blocks = blocks
        lastChannels = Self.depth(Double(channels * 6))
    }

    /// A structure read from a weights file.
    init(variant: Variant, minimalistic: Bool, stemChannels: Int, blocks: [Block], lastChannels: Int) {
        self.variant = variant
        self.minimalistic = minimalistic
        self.stemChannels = stemChannels
        self.blocks = blocks
        self.lastChannels = lastChannels
    }

    /// Keras's `_depth(v, 8)`: nearest multiple of 8, at least 8, never more than 10 % below `v`.
    static func depth(_ value: Double) -> Int {
        MobileNetV2Architecture.makeDivisible(value)
    }

    /// The Keras 3 names of the layers that carry weights, in model order (no top).
    public var layerNames: [String] {
        var names = ["conv", "conv_bn"]
        for (index, block) in blocks.enumerated() {
            let prefix = index == 0 ? "expanded_conv_" : "expanded_conv_\(index)_"
            if block.expands { names += [prefix + "expand", prefix + "expand_bn"] }
            names += [prefix + "depthwise", prefix + "depthwise_bn"]
            if block.squeezeChannels != nil {
                names += [prefix + "squeeze_excite_conv", prefix + "squeeze_excite_conv_1"]
            }
            names += [prefix + "project", prefix + "project_bn"]
        }
        return names + ["conv_1", "conv_1_bn"]
    }

    /// The shapes of every weight of every layer in `layerNames`, in Keras's order.
    public var weightShapes: [[[Int]]] {
        var shapes: [[[Int]]] = []
        func convolution(_ kernel: [Int], channels: Int) {
            shapes.append([kernel])
            shapes.append(Array(repeating: [channels], count: 4))
        }
        convolution([3, 3, 3, stemChannels], channels: stemChannels)
        for block in blocks {
            if block.expands {
                convolution([1, 1, block.inputChannels, block.expandedChannels], channels: block.expandedChannels)
            }
            convolution([block.kernelSize, block.kernelSize, block.expandedChannels, 1], channels: block.expandedChannels)
            if let squeeze = block.squeezeChannels {
                shapes.append([[1, 1, block.expandedChannels, squeeze], [squeeze]])
                shapes.append([[1, 1, squeeze, block.expandedChannels], [block.expandedChannels]])
            }
            convolution([1, 1, block.expandedChannels, block.outputChannels], channels: block.outputChannels)
        }
        convolution([1, 1, blocks.last?.outputChannels ?? 0, lastChannels], channels: lastChannels)
        return shapes
    }
}
