import CKernels
import Foundation
import Testing
@testable import FruitFeatures

/// MobileNetV3's C kernels (AVX2+FMA and portable builds) against plain loops.
@Suite struct MobileNetV3KernelTests {
    func forEachBuild(_ body: (String) throws -> Void) rethrows {
        defer { ffk_set_simd_enabled(1) }
        for (enabled, name) in [(Int32(1), "simd"), (Int32(0), "portable")] {
            ffk_set_simd_enabled(enabled)
            try body(name)
        }
    }

    func close(_ a: [Float], _ b: [Float]) -> Bool {
        a.count == b.count && zip(a, b).allSatisfy { abs($0 - $1) <= 1e-5 * (1 + abs($1)) }
    }

    static func activate(_ x: Float, _ kind: Int32) -> Float {
        switch kind {
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
        .init(height: 7, width: 7, channels: 16, kernel: 5, stride: 1, padTop: 2, padLeft: 2, activation: 2),
        .init(height: 8, width: 8, channels: 24, kernel: 5, stride: 2, padTop: 1, padLeft: 1, activation: 1),
        .init(height: 9, width: 11, channels: 8, kernel: 5, stride: 2, padTop: 2, padLeft: 2, activation: 2),
        .init(height: 8, width: 6, channels: 16, kernel: 3, stride: 2, padTop: 0, padLeft: 0, activation: 1),
        .init(height: 5, width: 6, channels: 13, kernel: 3, stride: 1, padTop: 1, padLeft: 1, activation: 0),
        .init(height: 1, width: 1, channels: 3, kernel: 5, stride: 1, padTop: 2, padLeft: 2, activation: 2),
        .init(height: 2, width: 3, channels: 9, kernel: 5, stride: 2, padTop: 1, padLeft: 1, activation: 2),
        .init(height: 3, width: 17, channels: 31, kernel: 5, stride: 1, padTop: 2, padLeft: 2, activation: 1),
        .init(height: 12, width: 5, channels: 40, kernel: 3, stride: 2, padTop: 0, padLeft: 0, activation: 2),
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
        try forEachBuild { build in
            var output = [Float](repeating: .nan, count: expected.count)
            ffk_depthwise_bias_activate(input, Int32(test.height), Int32(test.width), Int32(test.channels), Int32(test.kernel),
                                        weights, bias, &output, Int32(test.outHeight), Int32(test.outWidth),
                                        Int32(test.stride), Int32(test.padTop), Int32(test.padLeft), Int32(test.activation))
            #expect(close(output, expected), "\(test) \(build)")
        }
    }

    @Test(arguments: [0, 1, 2])
    func activationMatchesReference(_ kind: Int) throws {
        var random = SeededGenerator(seed: 17)
        // Around the kinks at −3, 0 and 3, and a tail that is not a multiple of 8.
        let input = random.floats(203, -8, 8) + [-3, 3, 0, -0.0, 2.9999, -3.0001]
        let expected = input.map { Self.activate($0, Int32(kind)) }
        try forEachBuild { build in
            var x = input
            ffk_activate(&x, x.count, Int32(kind))
            #expect(close(x, expected), "kind \(kind) \(build)")
        }
    }

    @Test func scaleChannelsMatchesReference() throws {
        var random = SeededGenerator(seed: 23)
        for channels in [1, 8, 13, 72] {
            let pixels = 5
            let input = random.floats(pixels * channels, -3, 3)
            let scale = random.floats(channels, 0, 1)
            let expected = input.enumerated().map { $0.element * scale[$0.offset % channels] }
            try forEachBuild { build in
                var x = input
                ffk_scale_channels(&x, pixels, Int32(channels), scale)
                #expect(x == expected, "\(channels) channels \(build)")
            }
        }
    }
}
