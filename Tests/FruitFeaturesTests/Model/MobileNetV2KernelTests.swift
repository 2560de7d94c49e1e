import CKernels
import Foundation
import Testing
@testable import FruitFeatures

/// The C kernels (both their AVX2+FMA and portable builds) against ReferenceKernels.
@Suite struct MobileNetV2KernelTests {
    /// Runs `body` with the AVX2+FMA builds (when the CPU has them) and with the portable builds.
    /// The switch is per thread and these tests do not suspend, so other tests are unaffected.
    func forEachBuild(_ body: (String) throws -> Void) rethrows {
        defer { ffk_set_simd_enabled(1) }
        for (enabled, name) in [(Int32(1), "simd"), (Int32(0), "portable")] {
            ffk_set_simd_enabled(enabled)
            try body(name)
        }
    }

    /// |a − b| ≤ 1e-5·(1 + |b|) everywhere: float32 sums of ≤ 9 terms of size ≤ 6 against double references.
    func close(_ a: [Float], _ b: [Float]) -> Bool {
        a.count == b.count && zip(a, b).allSatisfy { abs($0 - $1) <= 1e-5 * (1 + abs($1)) }
    }

    struct DepthwiseCase: CustomStringConvertible {
        let height, width, channels, stride, padTop, padLeft: Int
        var outHeight: Int { padTop == 1 && stride == 1 ? height : (height + padTop + (stride == 2 ? 1 : 2) - 3) / stride + 1 }
        var outWidth: Int { padLeft == 1 && stride == 1 ? width : (width + padLeft + (stride == 2 ? 1 : 2) - 3) / stride + 1 }
        var description: String { "\(height)×\(width)×\(channels) s\(stride) pad(\(padTop),\(padLeft))" }
    }

    static let depthwiseCases: [DepthwiseCase] = [
        // 'same' stride 1 (pad 1), Keras stride 2 (pad 0 top/left, 1 bottom/right), odd-size stride 2 (pad 1).
        .init(height: 7, width: 7, channels: 16, stride: 1, padTop: 1, padLeft: 1),
        .init(height: 8, width: 8, channels: 24, stride: 2, padTop: 0, padLeft: 0),
        .init(height: 9, width: 11, channels: 8, stride: 2, padTop: 1, padLeft: 1),
        // Channel counts that are not multiples of 8 (vector tails), tiny and wide images.
        .init(height: 5, width: 6, channels: 13, stride: 1, padTop: 1, padLeft: 1),
        .init(height: 1, width: 1, channels: 3, stride: 1, padTop: 1, padLeft: 1),
        .init(height: 2, width: 3, channels: 1, stride: 2, padTop: 0, padLeft: 0),
        .init(height: 3, width: 17, channels: 31, stride: 1, padTop: 1, padLeft: 1),
        .init(height: 12, width: 5, channels: 40, stride: 2, padTop: 1, padLeft: 0),
        // A band of rows whose top lies further inside the image (pad_top as the extractor passes it).
        .init(height: 6, width: 9, channels: 17, stride: 1, padTop: 0, padLeft: 1),
        .init(height: 6, width: 9, channels: 17, stride: 2, padTop: -1, padLeft: 1),
    ]

    @Test(arguments: depthwiseCases)
    func depthwiseMatchesReference(_ shape: DepthwiseCase) throws {
        var random = TestRandom(seed: UInt64(shape.height * 1000 + shape.width * 10 + shape.channels))
        let input = random.floats(shape.height * shape.width * shape.channels, -3, 6)
        let weights = random.floats(9 * shape.channels, -1, 1)
        let bias = random.floats(shape.channels, -1, 2)
        let outHeight = max(shape.outHeight, 1), outWidth = max(shape.outWidth, 1)
        let expected = ReferenceKernels.depthwise(
            input, height: shape.height, width: shape.width, channels: shape.channels, weights: weights, bias: bias,
            outHeight: outHeight, outWidth: outWidth, stride: shape.stride, padTop: shape.padTop, padLeft: shape.padLeft)
        // Values must reach both clamps for ReLU6 to be tested.
        #expect(expected.contains(0) && expected.contains(6) || expected.count < 8)
        try forEachBuild { build in
            var output = [Float](repeating: .nan, count: expected.count)
            ffk_depthwise3x3_bias_relu6(input, Int32(shape.height), Int32(shape.width), Int32(shape.channels), weights,
                                        bias, &output, Int32(outHeight), Int32(outWidth), Int32(shape.stride),
                                        Int32(shape.padTop), Int32(shape.padLeft))
            #expect(close(output, expected), "\(build) \(shape)")
        }
    }

    @Test func elementwiseKernelsMatchReference() throws {
        var random = TestRandom(seed: 7)
        for (rows, cols) in [(1, 1), (3, 7), (5, 8), (4, 13), (33, 96), (2, 1280)] {
            let x = random.floats(rows * cols, -4, 9)
            let bias = random.floats(cols, -2, 2)
            let residual = random.floats(rows * cols, -3, 3)
            try forEachBuild { build in
                var a = x
                ffk_bias_relu6(&a, rows, Int32(cols), bias)
                #expect(a == ReferenceKernels.biasRelu6(x, cols: cols, bias: bias), "\(build) \(rows)×\(cols)")

                var b = x
                ffk_bias_residual(&b, rows, Int32(cols), bias, residual)
                #expect(b == ReferenceKernels.biasResidual(x, cols: cols, bias: bias, residual: residual), "\(build)")
                var c = x
                ffk_bias_residual(&c, rows, Int32(cols), bias, nil)
                #expect(c == ReferenceKernels.biasResidual(x, cols: cols, bias: bias, residual: nil), "\(build)")

                // Prefilling with bias (+ residual) then adding x is what sgemm with beta = 1 does.
                var filled = [Float](repeating: .nan, count: rows * cols)
                ffk_fill_bias(&filled, rows, Int32(cols), bias, residual)
                #expect(filled == ReferenceKernels.biasResidual([Float](repeating: 0, count: rows * cols), cols: cols,
                                                                 bias: bias, residual: residual), "\(build)")
                ffk_fill_bias(&filled, rows, Int32(cols), bias, nil)
                #expect(filled == (0..<(rows * cols)).map { bias[$0 % cols] }, "\(build)")

                var clamped = x
                ffk_relu6(&clamped, rows * cols)
                #expect(clamped == x.map { ReferenceKernels.relu6($0) }, "\(build)")

                var mean = [Float](repeating: .nan, count: cols)
                ffk_bias_relu6_mean(x, rows, Int32(cols), bias, &mean)
                #expect(close(mean, ReferenceKernels.biasRelu6Mean(x, rows: rows, cols: cols, bias: bias)), "\(build)")
            }
        }
    }

    @Test func im2colMatchesReference() throws {
        var random = TestRandom(seed: 11)
        for (height, width, channels, stride, padTop, padLeft) in [
            (8, 8, 3, 2, 0, 0), (9, 7, 3, 2, 1, 1), (5, 5, 2, 1, 1, 1), (224, 224, 3, 2, 0, 0),
        ] {
            let input = random.floats(height * width * channels, -1, 1)
            let outHeight = (height + 1) / stride, outWidth = (width + 1) / stride
            var patches = [Float](repeating: .nan, count: outHeight * outWidth * 9 * channels)
            ffk_im2col3x3(input, Int32(height), Int32(width), Int32(channels), Int32(stride), Int32(padTop),
                          Int32(padLeft), Int32(outHeight), Int32(outWidth), &patches)
            #expect(patches == ReferenceKernels.im2col(input, height: height, width: width, channels: channels,
                                                       stride: stride, padTop: padTop, padLeft: padLeft,
                                                       outHeight: outHeight, outWidth: outWidth))
        }
    }
}
