import CKernels
import Foundation
import Testing
@testable import FruitFeatures

/// MobileNetV3's C kernels at every kernel level this machine runs, against plain loops (Swift, in double) and
/// against their C `_reference` twins; the AVX-512 and AVX2 builds agree bit for bit.
@Suite struct MobileNetV3KernelTests {
    /// Runs `body` at each supported level (the thread capped there), returning each level's result.
    func atEveryLevel<T>(_ body: (KernelLevel) throws -> T) rethrows -> [(KernelLevel, T)] {
        try KernelLevel.supported.map { level in (level, try KernelLevel.withThreadLevel(level) { try body(level) }) }
    }

    /// The SIMD levels' results are the same bits.
    func simdLevelsAgree(_ results: [(KernelLevel, [Float])], _ what: String) {
        let simd = results.filter { $0.0 >= .avx2 }
        for (level, result) in simd.dropFirst() {
            #expect(result.elementsEqual(simd[0].1) { $0.bitPattern == $1.bitPattern }, "\(what): \(level) vs \(simd[0].0)")
        }
    }

    func close(_ a: [Float], _ b: [Float]) -> Bool {
        a.count == b.count && zip(a, b).allSatisfy { abs($0 - $1) <= 1e-5 * (1 + abs($1)) }
    }

    static func activate(_ x: Float, _ kind: Int32) -> Float {
        switch kind {
        case Int32(FFK_ACTIVATION_RELU6): return min(max(x, 0), 6)
        case Int32(FFK_ACTIVATION_RELU): return max(x, 0)
        case Int32(FFK_ACTIVATION_HARD_SWISH): return Float(ReferenceMobileNetV3.hardSwish(Double(x)))
        default: return x
        }
    }

    struct DepthwiseCase: CustomStringConvertible, Sendable {
        let height, width, channels, kernel, stride, padTop, padLeft, activation: Int
        var outHeight: Int { stride == 1 ? height : (height + padTop + kernel / 2 - kernel) / 2 + 1 }
        var outWidth: Int { stride == 1 ? width : (width + padLeft + kernel / 2 - kernel) / 2 + 1 }
        var description: String { "\(height)×\(width)×\(channels) k\(kernel) s\(stride) pad(\(padTop),\(padLeft)) f\(activation)" }
    }

    static let depthwiseCases: [DepthwiseCase] = [
        .init(height: 7, width: 7, channels: 16, kernel: 5, stride: 1, padTop: 2, padLeft: 2, activation: 3),
        .init(height: 8, width: 8, channels: 24, kernel: 5, stride: 2, padTop: 1, padLeft: 1, activation: 2),
        .init(height: 9, width: 11, channels: 8, kernel: 5, stride: 2, padTop: 2, padLeft: 2, activation: 3),
        .init(height: 8, width: 6, channels: 16, kernel: 3, stride: 2, padTop: 0, padLeft: 0, activation: 1),
        .init(height: 5, width: 6, channels: 13, kernel: 3, stride: 1, padTop: 1, padLeft: 1, activation: 0),
        .init(height: 1, width: 1, channels: 3, kernel: 5, stride: 1, padTop: 2, padLeft: 2, activation: 3),
        .init(height: 2, width: 3, channels: 9, kernel: 5, stride: 2, padTop: 1, padLeft: 1, activation: 3),
        .init(height: 3, width: 17, channels: 31, kernel: 5, stride: 1, padTop: 2, padLeft: 2, activation: 2),
        .init(height: 12, width: 5, channels: 40, kernel: 3, stride: 2, padTop: 0, padLeft: 0, activation: 3),
        // Interior pixels in 16-channel blocks plus an 8-channel rest (AVX-512), both kernels and strides.
        .init(height: 14, width: 14, channels: 40, kernel: 5, stride: 1, padTop: 2, padLeft: 2, activation: 3),
        .init(height: 15, width: 13, channels: 48, kernel: 3, stride: 2, padTop: 1, padLeft: 1, activation: 2),
        .init(height: 12, width: 12, channels: 24, kernel: 5, stride: 2, padTop: 1, padLeft: 1, activation: 3),
        .init(height: 9, width: 10, channels: 72, kernel: 3, stride: 1, padTop: 1, padLeft: 1, activation: 1),
        .init(height: 11, width: 11, channels: 36, kernel: 5, stride: 2, padTop: 2, padLeft: 2, activation: 2),
    ]

    @Test(arguments: depthwiseCases)
    func depthwiseMatchesReference(_ test: DepthwiseCase) throws {
        var random = SeededGenerator(seed: UInt64(test.height * 31 + test.channels))
        let input = random.floats(test.height * test.width * test.channels, -4, 4)
        let weights = random.floats(test.kernel * test.kernel * test.channels, -1, 1)
        let bias = random.floats(test.channels, -1, 1)
        var expected = [Float](repeating: 0, count: test.outHeight * test.outWidth * test.channels)
        for y in 0..<test.outHeight {
            for x in 0..<test.outWidth {
                for c in 0..<test.channels {
                    var sum = Double(bias[c])
                    for ky in 0..<test.kernel {
                        for kx in 0..<test.kernel {
                            let iy = y * test.stride + ky - test.padTop, ix = x * test.stride + kx - test.padLeft
                            guard iy >= 0, iy < test.height, ix >= 0, ix < test.width else { continue }
                            sum += Double(input[(iy * test.width + ix) * test.channels + c])
                                * Double(weights[(ky * test.kernel + kx) * test.channels + c])
                        }
                    }
                    expected[(y * test.outWidth + x) * test.channels + c] = Self.activate(Float(sum), Int32(test.activation))
                }
            }
        }
        func run(_ kernel: DepthwiseKernel) -> [Float] {
            var output = [Float](repeating: .nan, count: expected.count)
            kernel(input, Int32(test.height), Int32(test.width), Int32(test.channels), Int32(test.kernel),
                   weights, bias, &output, Int32(test.outHeight), Int32(test.outWidth),
                   Int32(test.stride), Int32(test.padTop), Int32(test.padLeft), Int32(test.activation))
            return output
        }
        let reference = run(ffk_depthwise_bias_activate_reference)
        #expect(close(reference, expected), "\(test) C reference")
        let results = atEveryLevel { _ in run(ffk_depthwise_bias_activate) }
        for (level, output) in results {
            #expect(close(output, expected), "\(test) \(level)")
            #expect(close(output, reference), "\(test) \(level) vs the C reference")
        }
        simdLevelsAgree(results, "\(test)")
    }

    typealias DepthwiseKernel = (UnsafePointer<Float>?, Int32, Int32, Int32, Int32, UnsafePointer<Float>?,
                                 UnsafePointer<Float>?, UnsafeMutablePointer<Float>?, Int32, Int32, Int32, Int32,
                                 Int32, Int32) -> Void

    @Test(arguments: [0, 1, 2, 3])
    func activationMatchesReference(_ kind: Int) throws {
        var random = SeededGenerator(seed: 17)
        // Around the kinks at −3, 0, 3 and 6, and a tail that is not a multiple of 8.
        let input = random.floats(203, -8, 8) + [-3, 3, 0, -0.0, 2.9999, -3.0001, 6, 6.0001, 5.9999]
        let expected = input.map { Self.activate($0, Int32(kind)) }
        var reference = input
        ffk_activate_reference(&reference, reference.count, Int32(kind))
        #expect(close(reference, expected), "kind \(kind) C reference")
        // Each element is computed by the same operations at every level (no multiply-add to fuse): exact.
        for (level, x) in atEveryLevel({ _ -> [Float] in
            var x = input
            ffk_activate(&x, x.count, Int32(kind))
            return x
        }) {
            #expect(x == reference, "kind \(kind) \(level)")
        }
    }

    @Test func scaleChannelsMatchesReference() throws {
        var random = SeededGenerator(seed: 23)
        for channels in [1, 8, 13, 24, 72, 960] {
            let pixels = 5
            let input = random.floats(pixels * channels, -3, 3)
            let scale = random.floats(channels, 0, 1)
            let expected = input.enumerated().map { $0.element * scale[$0.offset % channels] }
            var reference = input
            ffk_scale_channels_reference(&reference, pixels, Int32(channels), scale)
            #expect(reference == expected, "\(channels) channels, C reference")
            for (level, x) in atEveryLevel({ _ -> [Float] in
                var x = input
                ffk_scale_channels(&x, pixels, Int32(channels), scale)
                return x
            }) {
                #expect(x == expected, "\(channels) channels \(level)")
            }
        }
    }
}
