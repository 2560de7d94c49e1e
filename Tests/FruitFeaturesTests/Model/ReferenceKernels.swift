import Foundation

/// Plain, obviously correct loops the fast kernels are tested against. Double accumulation; NHWC.
enum ReferenceKernels {
    /// Depthwise 3×3 with bias and ReLU6, reading 0 outside the input.
    ///   input: (height, width, channels); weights: (3, 3, channels) → (outHeight, outWidth, channels)
    static func depthwise(_ input: [Float], height: Int, width: Int, channels: Int, weights: [Float], bias: [Float],
                          outHeight: Int, outWidth: Int, stride: Int, padTop: Int, padLeft: Int) -> [Float] {
        var output = [Float](repeating: 0, count: outHeight * outWidth * channels)
        for y in 0..<outHeight {
            for x in 0..<outWidth {
                for c in 0..<channels {
                    var sum = Double(bias[c])
                    for ky in 0..<3 {
                        for kx in 0..<3 {
                            let iy = y * stride + ky - padTop
                            let ix = x * stride + kx - padLeft
                            guard iy >= 0, iy < height, ix >= 0, ix < width else { continue }
                            sum += Double(input[(iy * width + ix) * channels + c]) * Double(weights[(ky * 3 + kx) * channels + c])
                        }
                    }
                    output[(y * outWidth + x) * channels + c] = Float(relu6(sum))
                }
            }
        }
        return output
    }

    /// General convolution with a (kh, kw, in, out) kernel and explicit top/left padding (bottom/right implied
    /// by the output size), no bias: (height, width, in) → (outHeight, outWidth, out).
    static func convolution(_ input: [Float], height: Int, width: Int, inChannels: Int, kernel: [Float],
                            kernelSize: Int, outChannels: Int, outHeight: Int, outWidth: Int,
                            stride: Int, padTop: Int, padLeft: Int) -> [Double] {
        var output = [Double](repeating: 0, count: outHeight * outWidth * outChannels)
        for y in 0..<outHeight {
            for x in 0..<outWidth {
                for o in 0..<outChannels {
                    var sum = 0.0
                    for ky in 0..<kernelSize {
                        for kx in 0..<kernelSize {
                            let iy = y * stride + ky - padTop
                            let ix = x * stride + kx - padLeft
                            guard iy >= 0, iy < height, ix >= 0, ix < width else { continue }
                            for i in 0..<inChannels {
                                sum += Double(input[(iy * width + ix) * inChannels + i])
                                    * Double(kernel[((ky * kernelSize + kx) * inChannels + i) * outChannels + o])
                            }
                        }
                    }
                    output[(y * outWidth + x) * outChannels + o] = sum
                }
            }
        }
        return output
    }

    static func relu6(_ x: Double) -> Double { min(max(x, 0), 6) }
    static func relu6(_ x: Float) -> Float { min(max(x, 0), 6) }

    /// 1×1 convolution with its epilogue: a (rows, in) · weights (in, out) + bias (+ residual), then ReLU6 when
    /// asked: (rows, in) → (rows, out).
    static func pointwise(_ a: [Float], rows: Int, inChannels: Int, weights: [Float], bias: [Float], outChannels: Int,
                          residual: [Float]?, relu6 clamps: Bool) -> [Float] {
        var output = [Float](repeating: 0, count: rows * outChannels)
        for r in 0..<rows {
            for o in 0..<outChannels {
                var sum = Double(bias[o])
                for k in 0..<inChannels { sum += Double(a[r * inChannels + k]) * Double(weights[k * outChannels + o]) }
                if let residual { sum += Double(residual[r * outChannels + o]) }
                output[r * outChannels + o] = Float(clamps ? relu6(sum) : sum)
            }
        }
        return output
    }

    /// Column means: (rows, cols) → (cols).
    static func meanRows(_ x: [Float], rows: Int, cols: Int) -> [Float] {
        (0..<cols).map { c in
            var sum = 0.0
            for r in 0..<rows { sum += Double(x[r * cols + c]) }
            return Float(sum / Double(rows))
        }
    }

    /// 3×3 patches, rows ordered [ky][kx][c]: (height, width, channels) → (outHeight·outWidth, 9·channels).
    static func im2col(_ input: [Float], height: Int, width: Int, channels: Int, stride: Int, padTop: Int, padLeft: Int,
                       outHeight: Int, outWidth: Int) -> [Float] {
        var patches: [Float] = []
        for y in 0..<outHeight {
            for x in 0..<outWidth {
                for ky in 0..<3 {
                    for kx in 0..<3 {
                        let iy = y * stride + ky - padTop
                        let ix = x * stride + kx - padLeft
                        for c in 0..<channels {
                            let inside = iy >= 0 && iy < height && ix >= 0 && ix < width
                            patches.append(inside ? input[(iy * width + ix) * channels + c] : 0)
                        }
                    }
                }
            }
        }
        return patches
    }
}
