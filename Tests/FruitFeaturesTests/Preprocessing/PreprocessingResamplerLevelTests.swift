import CKernels
import Testing
@testable import FruitFeatures

/// The SIMD builds of the resampler's passes (AVX2, AVX-512) against the portable C build and the plain Swift
/// ``ReferenceResampler``, bit for bit, at every kernel level this machine supports.
@Suite struct PreprocessingResamplerLevelTests {
    /// Bytes with smooth areas, noise, and hard 0/255 blocks (the filter overshoots and clips there).
    static func randomBytes(_ count: Int, using generator: inout SeededGenerator) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        for i in 0..<count {
            bytes[i] = UInt8(truncatingIfNeeded: (i / 7) &* 31 &+ Int(generator.next() % 24))
        }
        for i in stride(from: 0, to: count, by: 89) { bytes[i] = i % 2 == 0 ? 0 : 255 }
        return bytes
    }

    /// One pass at `level`: horizontal over `rows` rows of an (inWidth, 3) image, or vertical into `outSize` rows.
    static func pass(horizontal: Bool, _ input: [UInt8], inWidth: Int, rows: Int, coefficients c: ResampleCoefficients,
                     level: KernelLevel) -> [UInt8] {
        var output = [UInt8](repeating: 0xAB, count: horizontal ? rows * c.outSize * 3 : c.outSize * inWidth * 3)
        KernelLevel.withThreadLevel(level) {
            input.withUnsafeBufferPointer { input in
                output.withUnsafeMutableBufferPointer { output in
                    c.bounds.withUnsafeBufferPointer { bounds in
                        c.weights.withUnsafeBufferPointer { weights in
                            if horizontal {
                                let status = ffk_resample_horizontal_rgb(
                                    input.baseAddress, inWidth * 3, Int32(rows), Int32(inWidth), output.baseAddress,
                                    Int32(c.outSize), bounds.baseAddress, weights.baseAddress, Int32(c.ksize))
                                #expect(status == 0)
                            } else {
                                ffk_resample_vertical_rgb(input.baseAddress, inWidth * 3, output.baseAddress,
                                                          Int32(c.outSize), bounds.baseAddress, weights.baseAddress,
                                                          Int32(c.ksize))
                            }
                        }
                    }
                }
            }
        }
        return output
    }

    /// Random sizes (row counts around the 8- and 16-row blocks, row lengths around the 16/32/64-byte steps),
    /// shrinking and enlarging, with and without a region: each level's pass equals the portable pass.
    @Test func everyLevelsPassesEqualThePortableOnes() throws {
        var generator = SeededGenerator(seed: 1601)
        print("resampler levels tested: \(KernelLevel.supported.map(\.name).joined(separator: ", "))")
        for round in 0..<120 {
            let inWidth = generator.int(1...90), inHeight = generator.int(1...70)
            let outSize = round % 3 == 0 ? generator.int(1...12) : generator.int(1...130)
            let input = Self.randomBytes(inWidth * inHeight * 3, using: &generator)
            let horizontal = round % 2 == 0
            let inSize = horizontal ? inWidth : inHeight
            let from = round % 5 == 0 ? Float(generator.int(0...(inSize - 1))) / 3 : 0
            let coefficients = ResampleCoefficients(inSize: inSize, from: from, to: Float(inSize), outSize: outSize)
            let portable = Self.pass(horizontal: horizontal, input, inWidth: inWidth, rows: inHeight,
                                     coefficients: coefficients, level: .portable)
            for level in KernelLevel.supported.dropFirst() {
                let fast = Self.pass(horizontal: horizontal, input, inWidth: inWidth, rows: inHeight,
                                     coefficients: coefficients, level: level)
                let pass = horizontal ? "horizontal" : "vertical"
                #expect(fast == portable, "round \(round), \(level): \(pass) \(inWidth)×\(inHeight) → \(outSize) from \(from)")
            }
        }
    }

    /// Whole resizes of photo-sized images (phone photos down to 224, odd sizes, enlargements, Pillow 13's
    /// vertical-first order) at every level against the plain Swift reference.
    @Test(arguments: [(4032, 3024), (3000, 4000), (1920, 1080), (1001, 333), (97, 1203), (100, 100), (37, 300)])
    func everyLevelMatchesTheReferenceOnLargeImages(_ size: (Int, Int)) throws {
        let (width, height) = size
        var generator = SeededGenerator(seed: UInt64(width * 10_000 + height))
        let image = try #require(RGBImage(width: width, height: height,
                                          bytes: Self.randomBytes(width * height * 3, using: &generator)))
        let expected = ReferenceResampler.resize(image.bytes, width: width, height: height, to: 224, 224)
        for level in KernelLevel.supported {
            let resized = KernelLevel.withThreadLevel(level) { BicubicResampler.mobileNetInput.resize(image) }
            let same = resized.bytes == expected
            #expect(same, "\(level) \(width)×\(height) → 224×224: \(firstDifference(resized.bytes, expected, width: 224))")
        }
    }

    /// Random sizes through the public API, at every level, against the plain Swift reference.
    @Test func everyLevelMatchesTheReferenceOnRandomSizes() throws {
        var generator = SeededGenerator(seed: 1602)
        for round in 0..<40 {
            let w = generator.int(1...70), h = generator.int(1...70)
            let ow = generator.int(1...90), oh = generator.int(1...90)
            let image = try #require(RGBImage(width: w, height: h, bytes: Self.randomBytes(w * h * 3, using: &generator)))
            let resampler = try #require(BicubicResampler(width: ow, height: oh))
            let reference = ReferenceResampler.resize(image.bytes, width: w, height: h, to: ow, oh)
            for level in KernelLevel.supported {
                let resized = KernelLevel.withThreadLevel(level) { resampler.resize(image) }
                let same = resized.bytes == reference
                #expect(same, "round \(round), \(level): \(w)×\(h) → \(ow)×\(oh)")
            }
        }
    }
}
