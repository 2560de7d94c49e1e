import Foundation
@testable import FruitFeatures

/// MobileNetV3 written as literally as possible from Keras's `mobilenet_v3.py`, in double precision, with the
/// BatchNorms applied as BatchNorms (not folded), the paddings spelled out and the input rescaled as the
/// model's `Rescaling` layer does; slow, for tests only.
enum ReferenceMobileNetV3 {
    typealias Tensor = ReferenceMobileNetV2.Tensor

    static func relu(_ x: Double) -> Double { max(x, 0) }
    /// Keras: `ReLU(6.)(x + 3.) * (1. / 6.)`.
    static func hardSigmoid(_ x: Double) -> Double { min(max(x + 3, 0), 6) * (1.0 / 6.0) }
    /// Keras's `hard_swish`: x · hard_sigmoid(x).
    static func hardSwish(_ x: Double) -> Double { x * hardSigmoid(x) }

    static func apply(_ activation: MobileNetV3Architecture.Activation, _ t: Tensor) -> Tensor {
        var out = t
        for index in out.values.indices {
            out.values[index] = activation == .relu ? relu(t.values[index]) : hardSwish(t.values[index])
        }
        return out
    }

    /// BatchNormalization in inference mode, epsilon 1e-3.
    static func batchNorm(_ t: Tensor, _ layer: MobileNetV3Weights.Convolution) -> Tensor {
        ReferenceMobileNetV2.batchNorm(t, layer, relu6: false)
    }

    /// 'valid' depthwise k×k of an already padded tensor with a (k, k, channels, 1) kernel.
    static func depthwise(_ t: Tensor, kernel: [Float], size k: Int, stride: Int) -> Tensor {
        let oh = (t.height - k) / stride + 1, ow = (t.width - k) / stride + 1
        var out = Tensor(height: oh, width: ow, channels: t.channels, values: [Double](repeating: 0, count: oh * ow * t.channels))
        for y in 0..<oh {
            for x in 0..<ow {
                for c in 0..<t.channels {
                    var sum = 0.0
                    for ky in 0..<k {
                        for kx in 0..<k {
                            sum += t[y * stride + ky, x * stride + kx, c] * Double(kernel[(ky * k + kx) * t.channels + c])
                        }
                    }
                    out.values[(y * ow + x) * t.channels + c] = sum
                }
            }
        }
        return out
    }

    /// 1×1 convolution with a bias (squeeze-and-excite) on a vector.
    static func dense(_ x: [Double], kernel: [Float], bias: [Float]) -> [Double] {
        let outputs = bias.count
        return (0..<outputs).map { o in
            var sum = Double(bias[o])
            for i in x.indices { sum += x[i] * Double(kernel[i * outputs + o]) }
            return sum
        }
    }

    static func mean(_ t: Tensor) -> [Double] {
        (0..<t.channels).map { c in
            var sum = 0.0
            for y in 0..<t.height { for x in 0..<t.width { sum += t[y, x, c] } }
            return sum / Double(t.height * t.width)
        }
    }

    /// The features (global average of the activation after `conv_1_bn`) of one (size, size, 3) image as
    /// Keras's model takes it: [0, 255] values with its Rescaling layer, [-1, 1] without.
    static func features(_ weights: MobileNetV3Weights, image: [Float], size: Int) -> [Float] {
        var unused = weights
        return run(&unused, image: image, size: size, calibrate: false)
    }

    /// `weights` with every BatchNorm's moving mean and variance set from the statistics of its input on `image`
    /// (as the fixture script calibrates Keras's; variances of at least 1): activations stay of order one through a
    /// random network, as in a trained one, instead of growing by orders of magnitude and cancelling in the
    /// residual sums (which no float32 path follows closely).
    static func calibrated(_ weights: MobileNetV3Weights, image: [Float], size: Int) -> MobileNetV3Weights {
        var result = weights
        _ = run(&result, image: image, size: size, calibrate: true)
        return result
    }

    /// The forward pass; with `calibrate`, each BatchNorm first takes its input's per-channel statistics.
    private static func run(_ weights: inout MobileNetV3Weights, image: [Float], size: Int, calibrate: Bool) -> [Float] {
        let architecture = weights.architecture
        func norm(_ t: Tensor, _ layer: inout MobileNetV3Weights.Convolution) -> Tensor {
            if calibrate {
                var mean = [Float](repeating: 0, count: t.channels)
                var variance = [Float](repeating: 0, count: t.channels)
                let pixels = Double(t.height * t.width)
                for c in 0..<t.channels {
                    var sum = 0.0, squares = 0.0
                    for index in stride(from: c, to: t.values.count, by: t.channels) {
                        sum += t.values[index]
                        squares += t.values[index] * t.values[index]
                    }
                    let m = sum / pixels
                    mean[c] = Float(m)
                    // Never below 1: dividing by a tiny variance (one-pixel maps have none) would amplify the
                    // float32 path's rounding of x − mean far beyond anything a trained network does.
                    variance[c] = Float(max(squares / pixels - m * m, 1))
                }
                layer = .init(name: layer.name, kernelShape: layer.kernelShape, kernel: layer.kernel, gamma: layer.gamma,
                              beta: layer.beta, movingMean: mean, movingVariance: variance)
            }
            return batchNorm(t, layer)
        }
        var x = Tensor(height: size, width: size, channels: 3, values: image.map(Double.init))
        if weights.rescalesInput {
            // Rescaling(scale=1/127.5, offset=-1) in float32, as Keras computes it.
            x.values = image.map { Double($0 * Float(1.0 / 127.5) + Float(-1.0)) }
        }
        // conv: 3×3 'same', stride 2 — TensorFlow pads (total − total/2) at the bottom/right.
        let out = (size + 1) / 2
        let total = max((out - 1) * 2 + 3 - size, 0)
        x = ReferenceMobileNetV2.pad(x, top: total / 2, bottom: total - total / 2, left: total / 2, right: total - total / 2)
        var stem = weights.stem
        x = ReferenceMobileNetV2.convolution(x, kernel: stem.kernel, size: 3, outChannels: stem.kernelShape[3], stride: 2)
        x = apply(architecture.activation, norm(x, &stem))
        var blocks: [MobileNetV3Weights.Block] = []
        for (block, layer) in zip(architecture.blocks, weights.blocks) {
            let shortcut = x
            var expand = layer.expand
            if var layer = expand {
                x = ReferenceMobileNetV2.convolution(x, kernel: layer.kernel, size: 1, outChannels: layer.kernelShape[3], stride: 1)
                x = apply(block.activation, norm(x, &layer))
                expand = layer
            }
            let k = block.kernelSize
            if block.stride == 2 {
                // imagenet_utils.correct_pad(x, k): ((k//2 − adjust, k//2), …), adjust = 1 − size % 2.
                let adjust = 1 - x.height % 2
                x = ReferenceMobileNetV2.pad(x, top: k / 2 - adjust, bottom: k / 2, left: k / 2 - adjust, right: k / 2)
            } else {
                x = ReferenceMobileNetV2.pad(x, top: k / 2, bottom: k / 2, left: k / 2, right: k / 2)
            }
            var depthwiseLayer = layer.depthwise
            x = depthwise(x, kernel: depthwiseLayer.kernel, size: k, stride: block.stride)
            x = apply(block.activation, norm(x, &depthwiseLayer))
            if let se = layer.squeezeExcite {
                let squeezed = dense(mean(x), kernel: se.squeezeKernel, bias: se.squeezeBias).map(relu)
                let gate = dense(squeezed, kernel: se.exciteKernel, bias: se.exciteBias).map(hardSigmoid)
                for index in x.values.indices { x.values[index] *= gate[index % x.channels] }
            }
            var project = layer.project
            x = ReferenceMobileNetV2.convolution(x, kernel: project.kernel, size: 1, outChannels: project.kernelShape[3], stride: 1)
            x = norm(x, &project)
            if block.hasResidual {
                for index in x.values.indices { x.values[index] += shortcut.values[index] }
            }
            blocks.append(.init(expand: expand, depthwise: depthwiseLayer, squeezeExcite: layer.squeezeExcite, project: project))
        }
        var head = weights.head
        x = ReferenceMobileNetV2.convolution(x, kernel: head.kernel, size: 1, outChannels: head.kernelShape[3], stride: 1)
        x = apply(architecture.activation, norm(x, &head))
        weights = MobileNetV3Weights(architecture: architecture, rescalesInput: weights.rescalesInput, stem: stem,
                                     blocks: blocks, head: head)
        return mean(x).map { Float($0) }
    }

    /// Random weights of the right shapes for `architecture` (seeded): He-scaled kernels, BatchNorms that
    /// keep activations of order one, so a random network still carries the image to its features.
    static func randomWeights(_ architecture: MobileNetV3Architecture, seed: UInt64, rescalesInput: Bool = true) -> MobileNetV3Weights {
        var random = SeededGenerator(seed: seed)
        func values(_ count: Int, scale: Double) -> [Float] { (0..<count).map { _ in Float(random.normal() * scale) } }
        func convolution(_ name: String, _ shape: [Int], depthwise: Bool = false) -> MobileNetV3Weights.Convolution {
            let count = shape.reduce(1, *)
            let channels = depthwise ? shape[2] : shape[3]
            let fanIn = depthwise ? shape[0] * shape[1] : count / channels
            return .init(name: name, kernelShape: shape, kernel: values(count, scale: (2.0 / Double(fanIn)).squareRoot()),
                         gamma: (0..<channels).map { _ in random.uniform(0.5, 1.5) },
                         beta: (0..<channels).map { _ in random.uniform(-0.5, 1.0) },
                         movingMean: values(channels, scale: 0.1),
                         movingVariance: (0..<channels).map { _ in random.uniform(0.5, 1.5) })
        }
        let stem = convolution("conv", [3, 3, 3, architecture.stemChannels])
        let blocks = architecture.blocks.map { block -> MobileNetV3Weights.Block in
            let c = block.expandedChannels
            return .init(
                expand: block.expands ? convolution("expand", [1, 1, block.inputChannels, c]) : nil,
                depthwise: convolution("depthwise", [block.kernelSize, block.kernelSize, c, 1], depthwise: true),
                squeezeExcite: block.squeezeChannels.map { s in
                    .init(squeezeKernel: values(c * s, scale: (2.0 / Double(c)).squareRoot()), squeezeBias: values(s, scale: 0.1),
                          exciteKernel: values(s * c, scale: (2.0 / Double(s)).squareRoot()), exciteBias: values(c, scale: 0.5))
                },
                project: convolution("project", [1, 1, c, block.outputChannels]))
        }
        let head = convolution("conv_1", [1, 1, architecture.blocks.last!.outputChannels, architecture.lastChannels])
        return MobileNetV3Weights(architecture: architecture, rescalesInput: rescalesInput, stem: stem, blocks: blocks, head: head)
    }
}
