import Testing
@testable import FruitFeatures

/// ``BicubicResampler`` against the plain ``ReferenceResampler`` and basic properties.
@Suite struct PreprocessingResamplerTests {
    static func randomImage(width: Int, height: Int, using generator: inout SeededGenerator) -> RGBImage? {
        var bytes = (0..<(width * height * 3)).map { _ in UInt8.random(in: 0...255, using: &generator) }
        // Hard black and white blocks make the filter overshoot and clip.
        for i in stride(from: 0, to: bytes.count, by: 97) {
            bytes[i] = i % 2 == 0 ? 0 : 255
        }
        return RGBImage(width: width, height: height, bytes: bytes)
    }

    @Test func matchesReferenceOnRandomSizes() throws {
        var generator = SeededGenerator(seed: 42)
        for round in 0..<60 {
            let w = Int.random(in: 1...40, using: &generator), h = Int.random(in: 1...40, using: &generator)
            let ow = Int.random(in: 1...60, using: &generator), oh = Int.random(in: 1...60, using: &generator)
            let image = try #require(Self.randomImage(width: w, height: h, using: &generator))
            let resampler = try #require(BicubicResampler(width: ow, height: oh))
            let fast = resampler.resize(image)
            let reference = ReferenceResampler.resize(image.bytes, width: w, height: h, to: ow, oh)
            let same = fast.bytes == reference
            #expect(same, "round \(round): \(w)×\(h) → \(ow)×\(oh): \(firstDifference(fast.bytes, reference, width: ow))")
            let old = try #require(BicubicResampler(width: ow, height: oh, passOrder: .pillow12)).resize(image)
            let oldReference = ReferenceResampler.resize(image.bytes, width: w, height: h, to: ow, oh, pillow12: true)
            let oldSame = old.bytes == oldReference
            #expect(oldSame, "round \(round), Pillow 12 order: \(w)×\(h) → \(ow)×\(oh)")
        }
    }

    @Test func matchesReferenceWithRegions() throws {
        var generator = SeededGenerator(seed: 43)
        for round in 0..<60 {
            let w = Int.random(in: 2...40, using: &generator), h = Int.random(in: 2...40, using: &generator)
            let ow = Int.random(in: 1...50, using: &generator), oh = Int.random(in: 1...50, using: &generator)
            let image = try #require(Self.randomImage(width: w, height: h, using: &generator))
            // Quarter-pixel edges, sometimes whole pixels.
            let x0 = Float(Int.random(in: 0..<(2 * w), using: &generator)) / 4
            let y0 = Float(Int.random(in: 0..<(2 * h), using: &generator)) / 4
            let x1 = x0 + Float(Int.random(in: 1...(Int((Float(w) - x0) * 4)), using: &generator)) / 4
            let y1 = y0 + Float(Int.random(in: 1...(Int((Float(h) - y0) * 4)), using: &generator)) / 4
            let resampler = try #require(BicubicResampler(width: ow, height: oh))
            let fast = try resampler.resize(image, region: ResampleRegion(x0: x0, y0: y0, x1: x1, y1: y1))
            let reference = ReferenceResampler.resize(image.bytes, width: w, height: h, to: ow, oh, box: (x0, y0, x1, y1))
            let same = fast.bytes == reference
            #expect(same, "round \(round): \(w)×\(h) [\(x0),\(y0),\(x1),\(y1)] → \(ow)×\(oh)")
        }
    }

    @Test func theMobileNetCasesMatchReference() throws {
        var generator = SeededGenerator(seed: 44)
        for (w, h) in [(100, 100), (640, 427), (37, 300), (300, 37), (224, 100), (100, 224)] {
            let image = try #require(Self.randomImage(width: w, height: h, using: &generator))
            let fast = BicubicResampler.mobileNetInput.resize(image)
            let reference = ReferenceResampler.resize(image.bytes, width: w, height: h, to: 224, 224)
            let same = fast.bytes == reference
            #expect(same, "\(w)×\(h)")
        }
    }

    @Test func constantImagesStayConstant() throws {
        for (w, h, ow, oh) in [(100, 100, 224, 224), (640, 427, 224, 224), (5, 3, 17, 2), (300, 37, 224, 224)] {
            for value: UInt8 in [0, 1, 128, 254, 255] {
                let image = try #require(RGBImage(width: w, height: h, bytes: .init(repeating: value, count: w * h * 3)))
                let out = try #require(BicubicResampler(width: ow, height: oh)).resize(image)
                #expect(out.bytes.allSatisfy { $0 == value }, "\(w)×\(h) → \(ow)×\(oh) of \(value)")
            }
        }
    }

    @Test func sameSizeIsACopy() throws {
        var generator = SeededGenerator(seed: 45)
        let image = try #require(Self.randomImage(width: 224, height: 224, using: &generator))
        #expect(BicubicResampler.mobileNetInput.resize(image) == image)
    }

    @Test func resizeIntoBuffer() throws {
        var generator = SeededGenerator(seed: 46)
        let image = try #require(Self.randomImage(width: 31, height: 20, using: &generator))
        let resampler = try #require(BicubicResampler(width: 12, height: 9))
        var buffer = [UInt8](repeating: 0, count: 12 * 9 * 3)
        let written = buffer.withUnsafeMutableBufferPointer { resampler.resize(image, into: $0) }
        #expect(written)
        #expect(buffer == resampler.resize(image).bytes)
        var wrong = [UInt8](repeating: 7, count: 10)
        #expect(!wrong.withUnsafeMutableBufferPointer { resampler.resize(image, into: $0) })
        #expect(wrong.allSatisfy { $0 == 7 })
    }

    @Test func invalidArgumentsAreRefused() throws {
        #expect(BicubicResampler(width: 0, height: 5) == nil)
        #expect(BicubicResampler(width: 5, height: -1) == nil)
        #expect(RGBImage(width: 2, height: 2, bytes: [1, 2, 3]) == nil)
        #expect(RGBImage(width: 0, height: 0, bytes: []) == nil)
        let image = try #require(RGBImage(width: 2, height: 2, bytes: .init(repeating: 9, count: 12)))
        let resampler = try #require(BicubicResampler(width: 3, height: 3))
        let cases: [(ResampleRegion, ResampleError)] = [
            (ResampleRegion(x0: -1, y0: 0, x1: 2, y1: 2), .regionOffsetNegative(ResampleRegion(x0: -1, y0: 0, x1: 2, y1: 2))),
            (ResampleRegion(x0: 0, y0: 0, x1: 3, y1: 2), .regionExceedsImage(ResampleRegion(x0: 0, y0: 0, x1: 3, y1: 2), width: 2, height: 2)),
            (ResampleRegion(x0: 1.5, y0: 0, x1: 1, y1: 2), .regionEmpty(ResampleRegion(x0: 1.5, y0: 0, x1: 1, y1: 2))),
        ]
        for (region, expected) in cases {
            #expect(throws: expected) { try resampler.resize(image, region: region) }
        }
        let nan = ResampleRegion(x0: .nan, y0: 0, x1: 2, y1: 2)
        #expect(throws: ResampleError.self) { try resampler.resize(image, region: nan) }
    }
}
