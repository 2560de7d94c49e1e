import Foundation
import Testing
@testable import FruitFeatures

/// Decoding in bands of rows with each band resized as it comes (``BandedResize``) gives the bytes of decoding the
/// whole image and resizing it, for every plan Pillow's `resize` can take.
@Suite struct PreprocessingBandedResizeTests {
    static let files = ["resize/odd_157x93_422.jpg", "resize/tall_37x300.jpg", "resize/wide_300x37.jpg",
                        "resize/gray_120x90.jpg", "resize/cmyk_96x64.jpg", "resize/progressive_200x150.jpg",
                        "resize/down_640x427.jpg"]

    /// Output sizes relative to the source: every plan (copy, horizontal only, vertical only, horizontal first,
    /// vertical first), up and down.
    static func sizes(width: Int, height: Int) -> [(Int, Int)] {
        [(width, height), (224, height), (width, 224), (224, 224), (width, max(1, height / 3)),
         (max(1, width / 3), height), (max(1, width / 2), max(1, height / 5)), (width * 2 + 1, height + 7), (1, 1)]
    }

    @Test(arguments: files)
    func bandsGiveTheWholeImagesBytes(file: String) throws {
        let bytes = fixtureBytes(file)
        let decoder = JPEGDecoder()
        let whole = try decoder.decode(bytes, path: file)
        for (width, height) in Self.sizes(width: whole.width, height: whole.height) {
            for order in [BicubicResampler.PassOrder.pillow13, .pillow12] {
                let resampler = try #require(BicubicResampler(width: width, height: height, passOrder: order))
                let banded = try bytes.withUnsafeBytes { raw in
                    try decoder.decodeResized(raw, path: file, resampler: resampler)
                }
                let expected = resampler.resize(whole)
                #expect(banded == expected, "\(file) → \(width)×\(height), \(order)")
            }
        }
    }

    /// Bands of any height, including one row, and bands that end inside the rows the vertical pass reads.
    @Test func anyBandHeightGivesTheSameBytes() throws {
        let file = "resize/odd_157x93_422.jpg"
        let whole = try JPEGDecoder().decode(fixtureBytes(file), path: file)
        let resampler = try #require(BicubicResampler(width: 40, height: 17))
        let expected = resampler.resize(whole)
        for bandRows in [1, 2, 3, 7, 16, 93, 200] {
            var resize = BandedResize(resampler, sourceWidth: whole.width, sourceHeight: whole.height)
            whole.bytes.withUnsafeBufferPointer { source in
                var row = 0
                while row < whole.height {
                    let rows = min(bandRows, whole.height - row)
                    resize.append(source.baseAddress! + row * whole.width * 3, rows: rows)
                    row += rows
                }
            }
            #expect(resize.finish() == expected, "bands of \(bandRows) rows")
        }
    }

    /// Damaged data gives the same outcome either way: the same bytes, or the same error naming the file.
    @Test(arguments: ["resize/progressive_200x150.jpg", "resize/odd_157x93_422.jpg", "resize/cmyk_96x64.jpg"])
    func damagedDataGivesTheSameOutcome(file: String) throws {
        let whole = fixtureBytes(file)
        var generator = SeededGenerator(seed: 11)
        let decoder = JPEGDecoder(pixelLimit: 4_000_000)
        let resampler = try #require(BicubicResampler(width: 61, height: 40))
        var decoded = 0
        for round in 0..<200 {
            var bytes = whole
            for _ in 0..<(round % 8) {  // every 8th round intact
                let i = Int.random(in: 2..<bytes.count, using: &generator)
                bytes[i] = UInt8.random(in: 0...255, using: &generator)
            }
            let path = "fuzz-\(round).jpg"
            let expected = Result { () throws(ImageError) in resampler.resize(try decoder.decode(bytes, path: path)) }
            let banded = bytes.withUnsafeBytes { raw in
                Result { () throws(ImageError) in try decoder.decodeResized(raw, path: path, resampler: resampler) }
            }
            #expect(banded == expected, "\(file), round \(round)")
            if case .success = banded { decoded += 1 }
        }
        #expect(decoded > 0)
    }

    /// A truncated photo fails in the banded path as in the whole one, with the same reason.
    @Test func aTruncatedPhotoFailsAlike() throws {
        let bytes = Array(fixtureBytes("resize/down_640x427.jpg").prefix(20_000))
        let decoder = JPEGDecoder()
        let whole = #expect(throws: ImageError.self) { try decoder.decode(bytes, path: "cut.jpg") }
        let banded = #expect(throws: ImageError.self) {
            try bytes.withUnsafeBytes { try decoder.decodeResized($0, path: "cut.jpg", resampler: .mobileNetInput) }
        }
        #expect(whole == banded)
        #expect(banded?.reason == .truncated)
    }
}
