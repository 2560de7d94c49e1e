import CKernels
import Foundation
import Testing
@testable import FruitFeatures

/// The C kernels, at every kernel level this machine supports (portable, AVX2+FMA, AVX-512), against
/// ReferenceKernels.
@Suite struct MobileNetV2KernelTests {
    /// Runs `body` once per kernel level the CPU supports, the calling thread capped at that level.
    /// The cap is per thread and these tests do not suspend, so other tests are unaffected.
    func forEachBuild(_ body: (String) throws -> Void) rethrows {
        for level in KernelLevel.supported {
            ffk_set_thread_kernel_level(Int32(level.rawValue))
            defer { ffk_set_thread_kernel_level(-1) }
            try body(level.name)
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
        .init(height: 6, width: 9, channels: 16, stride: 2, padTop: -1, padLeft: 1),
        .init(height: 5, width: 20, channels: 32, stride: 1, padTop: 0, padLeft: 1),
        // AVX-512 paths: 16-channel groups plus an 8-channel and a scalar tail (NHWC), pixel pairs along odd
        // and even row lengths (blocked, stride 1), a band top inside the image.
        .init(height: 6, width: 13, channels: 48, stride: 1, padTop: 1, padLeft: 1),
        .init(height: 5, width: 11, channels: 45, stride: 1, padTop: 1, padLeft: 1),
        .init(height: 7, width: 22, channels: 40, stride: 1, padTop: 1, padLeft: 1),
        .init(height: 4, width: 2, channels: 16, stride: 1, padTop: 0, padLeft: 1),
        .init(height: 9, width: 15, channels: 64, stride: 2, padTop: 0, padLeft: 0),
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
        forEachBuild { build in
            var output = [Float](repeating: .nan, count: expected.count)
            ffk_depthwise3x3_bias_relu6(input, Int32(shape.height), Int32(shape.width), Int32(shape.channels), weights,
                                        bias, &output, Int32(outHeight), Int32(outWidth), Int32(shape.stride),
                                        Int32(shape.padTop), Int32(shape.padLeft))
            #expect(close(output, expected), "\(build) \(shape)")
        }
    }

    struct PointwiseCase: CustomStringConvertible {
        let rows, inChannels, outChannels: Int
        var description: String { "(\(rows), \(inChannels)) → \(outChannels)" }
    }

    static let pointwiseCases: [PointwiseCase] = [
        // MobileNetV2 shapes: whole 16-channel panels, an 8-wide last panel (24), Conv1's 27 inputs.
        .init(rows: 49, inChannels: 960, outChannels: 320), .init(rows: 37, inChannels: 96, outChannels: 24),
        .init(rows: 12, inChannels: 27, outChannels: 32), .init(rows: 6, inChannels: 16, outChannels: 96),
        // Row counts around the 6-row tile, channel counts that are not multiples of 8 or 16.
        .init(rows: 1, inChannels: 1, outChannels: 1), .init(rows: 5, inChannels: 3, outChannels: 7),
        .init(rows: 7, inChannels: 13, outChannels: 17), .init(rows: 11, inChannels: 40, outChannels: 31),
        .init(rows: 13, inChannels: 8, outChannels: 40), .init(rows: 0, inChannels: 4, outChannels: 8),
        // Row counts around the AVX-512 build's 12-row tile; pairs of panels with a single or partial one after.
        .init(rows: 12, inChannels: 9, outChannels: 48), .init(rows: 25, inChannels: 33, outChannels: 72),
        .init(rows: 23, inChannels: 5, outChannels: 40), .init(rows: 112, inChannels: 27, outChannels: 32),
    ]

    /// float32 sums of up to 960 products against a double reference: |a − b| ≤ 1e-5·(1 + Σ|terms|)
    /// scaled to the inputs used here (|a| ≤ 1, |w| ≤ 0.2).
    @Test(arguments: pointwiseCases)
    func pointwiseMatchesReference(_ shape: PointwiseCase) throws {
        var random = TestRandom(seed: UInt64(shape.rows * 10_000 + shape.inChannels * 100 + shape.outChannels))
        let a = random.floats(shape.rows * shape.inChannels, -1, 1)
        let weights = random.floats(shape.inChannels * shape.outChannels, -0.2, 0.2)
        let bias = random.floats(shape.outChannels, -3, 8)  // reaches both ReLU6 clamps
        let residual = random.floats(shape.rows * shape.outChannels, -2, 2)
        var packed = [Float](repeating: .nan,
                             count: ffk_pointwise_packed_count(Int32(shape.inChannels), Int32(shape.outChannels)))
        ffk_pointwise_pack(weights, bias, Int32(shape.inChannels), Int32(shape.outChannels), &packed)
        let tolerance = 1e-5 * Float(1 + shape.inChannels) * 0.2
        for (withResidual, clamps) in [(false, true), (true, false), (false, false), (true, true)] {
            let expected = ReferenceKernels.pointwise(
                a, rows: shape.rows, inChannels: shape.inChannels, weights: weights, bias: bias,
                outChannels: shape.outChannels, residual: withResidual ? residual : nil, relu6: clamps)
            if clamps && shape.rows * shape.outChannels > 64 { #expect(expected.contains(0) && expected.contains(6)) }
            forEachBuild { build in
                // A guard row past the end: the kernel must not write beyond rows × out.
                var output = [Float](repeating: .nan, count: expected.count + shape.outChannels)
                ffk_pointwise(a, shape.rows, Int32(shape.inChannels), packed, Int32(shape.outChannels),
                              withResidual ? residual : nil, clamps ? 1 : 0, &output)
                #expect(output[expected.count...].allSatisfy { $0.isNaN }, "\(build) \(shape) wrote past the end")
                let worst = zip(output, expected).map { abs($0 - $1) }.max() ?? 0
                #expect(worst <= tolerance, "\(build) \(shape) residual \(withResidual) relu6 \(clamps): \(worst)")
            }
        }
    }

    /// The residual may be the output itself (in place), and a row's result does not depend on how many rows
    /// share the call (so features never depend on batching).
    @Test func pointwiseRowsAreIndependentOfTheirNeighbours() throws {
        var random = TestRandom(seed: 3)
        let (rows, inChannels, outChannels) = (17, 57, 40)
        let a = random.floats(rows * inChannels, -1, 1)
        var packed = [Float](repeating: 0, count: ffk_pointwise_packed_count(Int32(inChannels), Int32(outChannels)))
        ffk_pointwise_pack(random.floats(inChannels * outChannels, -0.2, 0.2), random.floats(outChannels, -1, 1),
                           Int32(inChannels), Int32(outChannels), &packed)
        let residual = random.floats(rows * outChannels, -2, 2)
        forEachBuild { build in
            var whole = [Float](repeating: 0, count: rows * outChannels)
            ffk_pointwise(a, rows, Int32(inChannels), packed, Int32(outChannels), residual, 0, &whole)
            var inPlace = residual
            inPlace.withUnsafeMutableBufferPointer { buffer in
                ffk_pointwise(a, rows, Int32(inChannels), packed, Int32(outChannels), buffer.baseAddress, 0,
                              buffer.baseAddress)
            }
            #expect(inPlace == whole, "\(build)")
            for row in 0..<rows {
                var one = [Float](repeating: 0, count: outChannels)
                Array(a[(row * inChannels)..<((row + 1) * inChannels)]).withUnsafeBufferPointer { input in
                    Array(residual[(row * outChannels)..<((row + 1) * outChannels)]).withUnsafeBufferPointer { add in
                        ffk_pointwise(input.baseAddress, 1, Int32(inChannels), packed, Int32(outChannels),
                                      add.baseAddress, 0, &one)
                    }
                }
                #expect(one == Array(whole[(row * outChannels)..<((row + 1) * outChannels)]), "\(build) row \(row)")
            }
        }
    }

    /// Whole tiles (built per activation and output form) and the rows left after them compute a row the same
    /// way: every row of a 29-row call equals that row alone, for each activation kind, NHWC with and without
    /// a residual and channel-blocked, and the fused activation equals a separate `ffk_activate` pass.
    @Test(arguments: [PointwiseCase(rows: 29, inChannels: 16, outChannels: 96),
                      PointwiseCase(rows: 29, inChannels: 16, outChannels: 40),
                      PointwiseCase(rows: 29, inChannels: 24, outChannels: 144),
                      PointwiseCase(rows: 29, inChannels: 57, outChannels: 64)])
    func wholeTilesComputeARowAsTheLastRowsDo(_ shape: PointwiseCase) throws {
        let (rows, inChannels, outChannels) = (shape.rows, shape.inChannels, shape.outChannels)
        var random = TestRandom(seed: UInt64(inChannels * 1000 + outChannels))
        let a = random.floats(rows * inChannels, -1, 1)
        var packed = [Float](repeating: 0, count: ffk_pointwise_packed_count(Int32(inChannels), Int32(outChannels)))
        ffk_pointwise_pack(random.floats(inChannels * outChannels, -0.5, 0.5), random.floats(outChannels, -4, 8),
                           Int32(inChannels), Int32(outChannels), &packed)
        let residual = random.floats(rows * outChannels, -2, 2)
        let planeStride = rows * 8 + 8
        let activations: [Int32] = [0, 1, 2, 3]  // identity, ReLU6, ReLU, hard-swish
        forEachBuild { build in
            var identity = [Float](repeating: .nan, count: rows * outChannels)
            ffk_pointwise(a, rows, Int32(inChannels), packed, Int32(outChannels), nil, 0, &identity)
            for activation in activations {
                for withResidual in [false, true] {
                    var whole = [Float](repeating: .nan, count: rows * outChannels)
                    ffk_pointwise(a, rows, Int32(inChannels), packed, Int32(outChannels),
                                  withResidual ? residual : nil, activation, &whole)
                    if !withResidual {
                        var separate = identity
                        ffk_activate(&separate, separate.count, activation)
                        #expect(whole == separate, "\(build) \(shape) activation \(activation): fused ≠ separate")
                    }
                    for row in 0..<rows {
                        let input = Array(a[(row * inChannels)..<((row + 1) * inChannels)])
                        let add = Array(residual[(row * outChannels)..<((row + 1) * outChannels)])
                        var one = [Float](repeating: .nan, count: outChannels)
                        ffk_pointwise(input, 1, Int32(inChannels), packed, Int32(outChannels),
                                      withResidual ? add : nil, activation, &one)
                        if one != Array(whole[(row * outChannels)..<((row + 1) * outChannels)]) {
                            Issue.record("\(build) \(shape) activation \(activation) residual \(withResidual): row \(row)")
                            break
                        }
                    }
                }
                guard outChannels % 8 == 0 else { continue }
                var planes = [Float](repeating: .nan, count: outChannels / 8 * planeStride)
                ffk_pointwise_blocked(a, rows, Int32(inChannels), packed, Int32(outChannels), activation, &planes,
                                      planeStride)
                var nhwc = [Float](repeating: .nan, count: rows * outChannels)
                ffk_pointwise(a, rows, Int32(inChannels), packed, Int32(outChannels), nil, activation, &nhwc)
                let differs = (0..<rows).contains { row in
                    (0..<outChannels).contains { channel in
                        planes[channel / 8 * planeStride + row * 8 + channel % 8] != nhwc[row * outChannels + channel]
                    }
                }
                #expect(!differs, "\(build) \(shape) activation \(activation): blocked ≠ NHWC")
            }
        }
    }

    /// Channel-blocked expansion then the blocked depthwise kernel give exactly what the NHWC kernels give
    /// (same arithmetic, other memory order), with planes further apart than they need to be.
    @Test(arguments: depthwiseCases.filter { $0.channels % 8 == 0 })
    func blockedKernelsMatchTheNHWCOnes(_ shape: DepthwiseCase) throws {
        var random = TestRandom(seed: UInt64(shape.height * 7 + shape.channels))
        let (pixels, channels, inChannels) = (shape.height * shape.width, shape.channels, 12)
        let a = random.floats(pixels * inChannels, -1, 1)
        var packed = [Float](repeating: 0, count: ffk_pointwise_packed_count(Int32(inChannels), Int32(channels)))
        ffk_pointwise_pack(random.floats(inChannels * channels, -0.5, 0.5), random.floats(channels, -1, 4),
                           Int32(inChannels), Int32(channels), &packed)
        let weights = random.floats(9 * channels, -1, 1)
        let bias = random.floats(channels, -1, 2)
        let outHeight = max(shape.outHeight, 1), outWidth = max(shape.outWidth, 1)
        let planeStride = pixels * 8 + 24
        forEachBuild { build in
            var nhwc = [Float](repeating: .nan, count: pixels * channels)
            ffk_pointwise(a, pixels, Int32(inChannels), packed, Int32(channels), nil, 1, &nhwc)
            var planes = [Float](repeating: .nan, count: channels / 8 * planeStride)
            ffk_pointwise_blocked(a, pixels, Int32(inChannels), packed, Int32(channels), 1, &planes, planeStride)
            for pixel in 0..<pixels {
                for channel in 0..<channels where planes[channel / 8 * planeStride + pixel * 8 + channel % 8]
                    != nhwc[pixel * channels + channel] {
                    Issue.record("\(build) \(shape): blocked expansion differs at pixel \(pixel), channel \(channel)")
                    return
                }
            }
            var expected = [Float](repeating: .nan, count: outHeight * outWidth * channels)
            ffk_depthwise3x3_bias_relu6(nhwc, Int32(shape.height), Int32(shape.width), Int32(channels), weights, bias,
                                        &expected, Int32(outHeight), Int32(outWidth), Int32(shape.stride),
                                        Int32(shape.padTop), Int32(shape.padLeft))
            var output = [Float](repeating: .nan, count: expected.count)
            ffk_depthwise3x3_blocked_bias_relu6(planes, planeStride, Int32(shape.height), Int32(shape.width),
                                                Int32(channels), weights, bias, &output, Int32(outHeight),
                                                Int32(outWidth), Int32(shape.stride), Int32(shape.padTop),
                                                Int32(shape.padLeft))
            #expect(output == expected, "\(build) \(shape)")
        }
    }

    @Test func meanRowsMatchesReference() throws {
        var random = TestRandom(seed: 7)
        for (rows, cols) in [(1, 1), (3, 7), (5, 8), (4, 13), (33, 96), (49, 1280)] {
            let x = random.floats(rows * cols, 0, 6)
            forEachBuild { build in
                var mean = [Float](repeating: .nan, count: cols)
                ffk_mean_rows(x, rows, Int32(cols), &mean)
                #expect(close(mean, ReferenceKernels.meanRows(x, rows: rows, cols: cols)), "\(build) \(rows)×\(cols)")
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
