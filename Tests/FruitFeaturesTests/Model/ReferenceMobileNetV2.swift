import Foundation
@testable import FruitFeatures

/// MobileNetV2 written as literally as possible from Keras's definition, in double precision, with the
/// BatchNorms applied as BatchNorms (not folded) and the paddings spelled out; slow, for tests only.
enum ReferenceMobileNetV2 {
    /// A (height, width, channels) tensor.
    struct Tensor {
        var height: Int, width: Int, channels: Int
        var values: [Double]
        subscript(y: Int, x: Int, c: Int) -> Double { values[(y * width + x) * channels + c] }
    }

    /// Zero padding (Keras ZeroPadding2D).
    static func pad(_ t: Tensor, top: Int, bottom: Int, left: Int, right: Int) -> Tensor {
        var out = Tensor(height: t.height + top + bottom, width: t.width + left + right, channels: t.channels,
                         values: [Double](repeating: 0, count: (t.height + top + bottom) * (t.width + left + right) * t.channels))
        for y in 0..<t.height {
            for x in 0..<t.width {
                for c in 0..<t.channels {
                    out.values[((y + top) * out.width + x + left) * t.channels + c] = t[y, x, c]
                }
            }
        }
        return out
    }

    /// 'valid' convolution of an already padded tensor with a (k, k, in, out) kernel.
    static func convolution(_ t: Tensor, kernel: [Float], size k: Int, outChannels: Int, stride: Int) -> Tensor {
        let oh = (t.height - k) / stride + 1, ow = (t.width - k) / stride + 1
        var out = Tensor(height: oh, width: ow, channels: outChannels, values: [Double](repeating: 0, count: oh * ow * outChannels))
        for y in 0..<oh {
            for x in 0..<ow {
                for o in 0..<outChannels {
                    var sum = 0.0
                    for ky in 0..<k {
                        for kx in 0..<k {
                            for i in 0..<t.channels {
                                sum += t[y * stride + ky, x * stride + kx, i]
                                    * Double(kernel[((ky * k + kx) * t.channels + i) * outChannels + o])
                            }
                        }
                    }
                    out.values[(y * ow + x) * outChannels + o] = sum
                }
            }
        }
        return out
    }

    /// 'valid' depthwise 3×3 of an already padded tensor with a (3, 3, channels, 1) kernel.
    static func depthwise(_ t: Tensor, kernel: [Float], stride: Int) -> Tensor {
        let oh = (t.height - 3) / stride + 1, ow = (t.width - 3) / stride + 1
        var out = Tensor(height: oh, width: ow, channels: t.channels, values: [Double](repeating: 0, count: oh * ow * t.channels))
        for y in 0..<oh {
            for x in 0..<ow {
                for c in 0..<t.channels {
                    var sum = 0.0
                    for ky in 0..<3 {
                        for kx in 0..<3 {
                            sum += t[y * stride + ky, x * stride + kx, c] * Double(kernel[(ky * 3 + kx) * t.channels + c])
                        }
                    }
                    out.values[(y * ow + x) * t.channels + c] = sum
                }
            }
        }
        return out
    }

    /// BatchNormalization in inference mode, epsilon 1e-3, optionally followed by ReLU6.
    static func batchNorm(_ t: Tensor, _ layer: MobileNetV2Weights.Layer, relu6: Bool) -> Tensor {
        var out = t
        for index in out.values.indices {
            let c = index % t.channels
            var v = (t.values[index] - Double(layer.movingMean[c])) / (Double(layer.movingVariance[c]) + 1e-3).squareRoot()
                * Double(layer.gamma[c]) + Double(layer.beta[c])
            if relu6 { v = min(max(v, 0), 6) }
            out.values[index] = v
        }
        return out
    }

    /// The features (global-average-pooled output of `out_relu`) of one (size, size, 3) image.
    static func features(_ weights: MobileNetV2Weights, image: [Float], size: Int) -> [Float] {
        var layers = weights.layers.makeIterator()
        var x = Tensor(height: size, width: size, channels: 3, values: image.map(Double.init))
        // Conv1: 'same', stride 2 — TensorFlow pads (total − total/2) at the bottom/right.
        let conv1 = layers.next()!
        let out = (size + 1) / 2
        let total = max((out - 1) * 2 + 3 - size, 0)
        x = pad(x, top: total / 2, bottom: total - total / 2, left: total / 2, right: total - total / 2)
        x = convolution(x, kernel: conv1.kernel, size: 3, outChannels: conv1.kernelShape[3], stride: 2)
        x = batchNorm(x, conv1, relu6: true)
        for block in weights.architecture.blocks {
            let input = x
            if block.expands {
                let expand = layers.next()!
                x = batchNorm(convolution(x, kernel: expand.kernel, size: 1, outChannels: expand.kernelShape[3], stride: 1),
                              expand, relu6: true)
            }
            let depthwiseLayer = layers.next()!
            if block.stride == 2 {
                // imagenet_utils.correct_pad: ((1 − adjust, 1), (1 − adjust, 1)), adjust = 1 − size % 2.
                let adjust = 1 - x.height % 2
                x = pad(x, top: 1 - adjust, bottom: 1, left: 1 - adjust, right: 1)
            } else {
                x = pad(x, top: 1, bottom: 1, left: 1, right: 1)
            }
            x = batchNorm(depthwise(x, kernel: depthwiseLayer.kernel, stride: block.stride), depthwiseLayer, relu6: true)
            let project = layers.next()!
            x = batchNorm(convolution(x, kernel: project.kernel, size: 1, outChannels: project.kernelShape[3], stride: 1),
                          project, relu6: false)
            if block.hasResidual {
                for index in x.values.indices { x.values[index] += input.values[index] }
            }
        }
        let head = layers.next()!
        x = batchNorm(convolution(x, kernel: head.kernel, size: 1, outChannels: head.kernelShape[3], stride: 1), head, relu6: true)
        return (0..<x.channels).map { c in
            var sum = 0.0
            for y in 0..<x.height { for xx in 0..<x.width { sum += x[y, xx, c] } }
            return Float(sum / Double(x.height * x.width))
        }
    }
}
