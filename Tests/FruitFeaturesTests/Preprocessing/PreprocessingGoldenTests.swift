import Foundation
import Testing
@testable import FruitFeatures

/// Decoding, resizing and scaling against Pillow/Keras outputs (Scripts/make_pillow_golden.py).
@Suite struct PreprocessingGoldenTests {
    static let images: [PillowGolden.Image] = (try? PillowGolden.load().images) ?? []
    static let synthetic: [PillowGolden.Synthetic] = (try? PillowGolden.load().synthetic) ?? []

    @Test func goldenIndexIsComplete() throws {
        let golden = try PillowGolden.load()
        #expect(golden.size == [224, 224])
        // The 9 samples and the resize set: up, down, non-square, odd, gray, CMYK, YCCK, progressive.
        #expect(golden.images.count >= 19)
        for mode in ["RGB", "L", "CMYK"] {
            #expect(golden.images.contains { $0.mode == mode }, "no \(mode) image")
        }
        #expect(golden.images.contains { $0.resized_raw != nil && $0.width > 224 && $0.height > 224 })
    }

    @Test(arguments: images.map(\.name))
    func decodeMatchesPillow(name: String) throws {
        let entry = try #require(Self.images.first { $0.name == name })
        let image = try JPEGDecoder().decode(fixtureBytes(entry.file), path: entry.file)
        #expect(image.width == entry.width)
        #expect(image.height == entry.height)
        if let raw = entry.decoded_raw {
            let expected = fixtureBytes(raw)
            let same = image.bytes == expected
            #expect(same, "\(firstDifference(image.bytes, expected, width: entry.width))")
        }
        #expect(crc32(image.bytes) == entry.decoded_crc32)
    }

    @Test(arguments: images.map(\.name))
    func decodeAndResizeMatchPillow(name: String) throws {
        let entry = try #require(Self.images.first { $0.name == name })
        let preprocessor = KerasPreprocessor()
        let resized = try fixtureBytes(entry.file).withUnsafeBytes { raw in
            try preprocessor.resizedImage(raw, path: entry.file)
        }
        #expect(resized.width == 224 && resized.height == 224)
        if let raw = entry.resized_raw {
            let expected = fixtureBytes(raw)
            let same = resized.bytes == expected
            #expect(same, "\(firstDifference(resized.bytes, expected, width: 224))")
        }
        #expect(crc32(resized.bytes) == entry.resized_crc32)
    }

    /// The resampler alone, fed Pillow's own decoded bytes.
    @Test(arguments: images.filter { $0.decoded_raw != nil }.map(\.name))
    func resizeOfPillowDecodeMatchesPillow(name: String) throws {
        let entry = try #require(Self.images.first { $0.name == name })
        let raw = try #require(entry.decoded_raw)
        let decoded = try #require(RGBImage(width: entry.width, height: entry.height, bytes: fixtureBytes(raw)))
        let resized = BicubicResampler.mobileNetInput.resize(decoded)
        #expect(crc32(resized.bytes) == entry.resized_crc32)
        // Pillow 12's order (always horizontal first), recorded as two one-pass resizes.
        let old = try #require(BicubicResampler(width: 224, height: 224, passOrder: .pillow12)).resize(decoded)
        #expect(crc32(old.bytes) == entry.resized_pillow12_crc32)
    }

    @Test(arguments: synthetic.map(\.name))
    func syntheticResizeMatchesPillow(name: String) throws {
        let entry = try #require(Self.synthetic.first { $0.name == name })
        let input = try #require(RGBImage(width: entry.input_width, height: entry.input_height,
                                          bytes: fixtureBytes(entry.input)))
        let resampler = try #require(BicubicResampler(width: entry.width, height: entry.height))
        let output: RGBImage
        if let box = entry.box {
            output = try resampler.resize(input, region: ResampleRegion(x0: box[0], y0: box[1], x1: box[2], y1: box[3]))
        } else {
            output = resampler.resize(input)
        }
        let expected = fixtureBytes(entry.raw)
        let same = output.bytes == expected
        #expect(same, "\(firstDifference(output.bytes, expected, width: entry.width))")
    }

    @Test func scaleTableMatchesKeras() throws {
        let golden = try PillowGolden.load()
        #expect(golden.keras.scale_table_bits.count == 256)
        for (value, bits) in golden.keras.scale_table_bits.enumerated() {
            let ours = KerasPreprocessor.scale(UInt8(value))
            #expect(ours.bitPattern == bits, "byte \(value): \(ours) vs \(Float(bitPattern: bits))")
        }
    }

    @Test func preprocessedValuesMatchKeras() throws {
        let golden = try PillowGolden.load()
        #expect(!golden.keras.images.isEmpty)
        let preprocessor = KerasPreprocessor()
        #expect(preprocessor.outputShape == TensorShape(height: 224, width: 224, channels: 3))
        for entry in golden.keras.images {
            #expect(entry.shape == [224, 224, 3])
            let values = try preprocessor.preprocess(fixtureBytes(entry.file), path: entry.file)
            #expect(values.count == 224 * 224 * 3)
            #expect(Array(values.prefix(entry.first_values.count)) == entry.first_values, "\(entry.name)")
            let littleEndian = values.flatMap { v -> [UInt8] in
                let b = v.bitPattern.littleEndian
                return [UInt8(b & 0xFF), UInt8(b >> 8 & 0xFF), UInt8(b >> 16 & 0xFF), UInt8(b >> 24)]
            }
            #expect(crc32(littleEndian) == entry.float32le_crc32, "\(entry.name)")
        }
    }

    /// Filling a slot of a batch buffer gives the same values as the array form.
    @Test func preprocessIntoBatchSlot() throws {
        let golden = try PillowGolden.load()
        let entry = try #require(golden.keras.images.first)
        let preprocessor = KerasPreprocessor()
        let bytes = fixtureBytes(entry.file)
        let single = try preprocessor.preprocess(bytes, path: entry.file)
        let n = preprocessor.outputShape.count
        var batch = [Float](repeating: .nan, count: 3 * n)
        try batch.withUnsafeMutableBufferPointer { buffer in
            let slot = UnsafeMutableBufferPointer(rebasing: buffer[n..<(2 * n)])
            try preprocessor.preprocess(bytes, path: entry.file, into: slot)
        }
        #expect(Array(batch[n..<(2 * n)]) == single)
        #expect(batch[0].isNaN && batch[n - 1].isNaN && batch[2 * n].isNaN && batch[3 * n - 1].isNaN)
    }

    @Test func preprocessFileReadsFromDisk() throws {
        let golden = try PillowGolden.load()
        let entry = try #require(golden.keras.images.first)
        let values = try KerasPreprocessor().preprocessFile(atPath: fixturePath(entry.file))
        #expect(Array(values.prefix(entry.first_values.count)) == entry.first_values)
    }

    @Test func headersDescribeTheFrames() throws {
        let decoder = JPEGDecoder()
        func header(_ file: String) throws -> JPEGHeader {
            try fixtureBytes(file).withUnsafeBytes { try decoder.readHeader($0, path: file) }
        }
        let progressive = try header("resize/progressive_200x150.jpg")
        #expect(progressive.isProgressive && progressive.width == 200 && progressive.height == 150)
        #expect(progressive.colorSpace == .yCbCr && progressive.components == 3)
        let gray = try header("resize/gray_120x90.jpg")
        #expect(gray.components == 1 && gray.colorSpace == .grayscale && !gray.isProgressive)
        let cmyk = try header("resize/cmyk_96x64.jpg")
        #expect(cmyk.components == 4 && cmyk.colorSpace == .cmyk)
        let ycck = try header("resize/ycck_64x48.jpg")
        #expect(ycck.components == 4 && ycck.colorSpace == .ycck)
        // EXIF orientation 6 is not applied: the frame keeps its stored 48×32.
        let rotated = try header("resize/exif_rotated_48x32.jpg")
        #expect(rotated.width == 48 && rotated.height == 32 && rotated.bitsPerSample == 8)
    }
}
