import Foundation
import Testing
@testable import FruitFeatures

/// Every kind of bad input gets a typed error naming the file; nothing traps.
@Suite struct PreprocessingBadInputTests {
    static let bad: [PillowGolden.Bad] = (try? PillowGolden.load().bad) ?? []

    /// The expectation strings of the golden index as reasons.
    static func matches(_ reason: ImageError.Reason, _ expect: String) -> Bool {
        switch (reason, expect) {
        case (.emptyFile, "emptyFile"), (.truncated, "truncated"), (.corrupt, "corrupt"),
             (.tooLarge, "tooLarge"), (.unsupported, "unsupported"):
            return true
        case (.notJPEG(let format), _):
            return expect == "notJPEG:\(format.rawValue)"
        default:
            return false
        }
    }

    @Test func everyBadCaseIsPresent() {
        let expectations = Set(Self.bad.map(\.expect))
        for needed in ["emptyFile", "truncated", "tooLarge", "corrupt", "unsupported", "notJPEG:unknown",
                       "notJPEG:png", "notJPEG:gif", "notJPEG:webP", "notJPEG:bmp", "notJPEG:tiff"] {
            #expect(expectations.contains(needed), "no bad input expecting \(needed)")
        }
        #expect(Self.bad.contains { $0.file.hasSuffix("twelve_bit.jpg") }, "no 12-bit JPEG")
        #expect(Self.bad.contains { $0.file.hasSuffix("lossless.jpg") }, "no lossless JPEG")
    }

    @Test(arguments: bad.map(\.file))
    func badInputGetsTheExpectedError(file: String) throws {
        let entry = try #require(Self.bad.first { $0.file == file })
        let path = fixturePath(file)
        let bytes = fixtureBytes(file)
        if entry.expect == "ok" {
            let image = try JPEGDecoder().decode(bytes, path: path)
            #expect(crc32(image.bytes) == entry.crc32)
            return
        }
        #expect(entry.pillow == "error" || entry.expect.hasPrefix("notJPEG:") || entry.deviation != nil,
                "Pillow: \(entry.pillow_detail)")
        do {
            let values = try KerasPreprocessor().preprocess(bytes, path: path)
            Issue.record("\(file) gave \(values.count) values; Pillow: \(entry.pillow_detail)")
        } catch {
            #expect(error.path == path)
            #expect(error.description.hasPrefix(path + ": "))
            #expect(Self.matches(error.reason, entry.expect), "\(error) — expected \(entry.expect)")
        }
    }

    @Test func otherFormatsAreNamed() throws {
        for (file, name) in [("png_named.jpg", "PNG"), ("gif_named.jpg", "GIF"), ("webp_named.jpg", "WebP"),
                             ("bmp_named.jpg", "BMP"), ("tiff_named.jpg", "TIFF")] {
            let error = #expect(throws: ImageError.self) {
                try JPEGDecoder().decode(fixtureBytes("resize/bad/" + file), path: file)
            }
            #expect(error?.description == "\(file): not a JPEG (the data is \(name))")
        }
    }

    @Test func hugeHeaderIsRefusedWithItsSize() throws {
        let error = #expect(throws: ImageError.self) {
            try JPEGDecoder().decode(fixtureBytes("resize/bad/huge_60000x60000.jpg"), path: "huge.jpg")
        }
        #expect(error?.reason == .tooLarge(width: 60000, height: 60000, pixelLimit: JPEGDecoder.pillowPixelLimit))
        // Past libjpeg's own cap of 65500 per side: still reported as too large.
        let capped = #expect(throws: ImageError.self) {
            try JPEGDecoder().decode(fixtureBytes("resize/bad/huge_65535x65535.jpg"), path: "huge.jpg")
        }
        #expect(capped?.reason == .tooLarge(width: 65535, height: 65535, pixelLimit: JPEGDecoder.pillowPixelLimit))
    }

    @Test func pixelLimitIsConfigurable() throws {
        let bytes = fixtureBytes("images/Apple/0_100.jpg")
        let error = #expect(throws: ImageError.self) {
            try JPEGDecoder(pixelLimit: 9_999).decode(bytes, path: "apple.jpg")
        }
        #expect(error?.reason == .tooLarge(width: 100, height: 100, pixelLimit: 9_999))
        let image = try JPEGDecoder(pixelLimit: 10_000).decode(bytes, path: "apple.jpg")
        #expect(image.width == 100)
        #expect(JPEGDecoder.pillowPixelLimit == 1024 * 1024 * 1024 / 4 / 3)
    }

    @Test func twelveBitIsUnsupported() throws {
        let error = #expect(throws: ImageError.self) {
            try JPEGDecoder().decode(fixtureBytes("resize/bad/twelve_bit.jpg"), path: "12.jpg")
        }
        #expect(error?.reason == .unsupported("12-bit samples (only 8-bit JPEGs are supported)"))
    }

    @Test func corruptCarriesLibjpegsMessage() throws {
        let error = #expect(throws: ImageError.self) {
            try JPEGDecoder().decode(fixtureBytes("resize/bad/bad_huffman.jpg"), path: "h.jpg")
        }
        guard case .corrupt(let message)? = error?.reason else {
            Issue.record("\(String(describing: error))")
            return
        }
        #expect(message.contains("Huffman"))
    }

    /// Every prefix of a JPEG is refused: empty, not a JPEG (too short for the signature), or
    /// truncated; Pillow refuses them too (golden: truncated_header, truncated_half, missing_eoi).
    @Test func everyPrefixIsRefused() throws {
        let whole = fixtureBytes("resize/rgb444_61x47.jpg")
        #expect(whole.count > 1000)
        #expect(throws: Never.self) { try JPEGDecoder().decode(whole, path: "whole.jpg") }
        var reasons: [String: Int] = [:]
        for length in stride(from: 0, to: whole.count, by: 7) + [whole.count - 2, whole.count - 1] {
            do {
                _ = try JPEGDecoder().decode(Array(whole[..<length]), path: "prefix.jpg")
                Issue.record("prefix of \(length) bytes decoded")
            } catch {
                switch error.reason {
                case .emptyFile: #expect(length == 0)
                case .notJPEG(.unknown): #expect(length < 3)
                case .truncated: #expect(length >= 3)
                default: Issue.record("prefix of \(length) bytes: \(error)")
                }
                reasons["\(error.reason)", default: 0] += 1
            }
        }
        #expect(reasons["truncated", default: 0] > 100)
    }

    /// Damaged data never traps: each result is an image or a typed error naming the file.
    @Test func damagedDataNeverTraps() throws {
        let whole = fixtureBytes("resize/progressive_200x150.jpg")
        var generator = SeededGenerator(seed: 7)
        var decoded = 0, refused = 0
        for round in 0..<300 {
            var bytes = whole
            for _ in 0..<(1 + round % 8) {
                let i = Int.random(in: 2..<bytes.count, using: &generator)
                bytes[i] = UInt8.random(in: 0...255, using: &generator)
            }
            do {
                let image = try JPEGDecoder(pixelLimit: 4_000_000).decode(bytes, path: "fuzz-\(round).jpg")
                #expect(image.bytes.count == image.width * image.height * 3)
                decoded += 1
            } catch {
                #expect(error.path == "fuzz-\(round).jpg")
                refused += 1
            }
        }
        #expect(decoded + refused == 300)
    }

    @Test func unreadableFilesAreReported() throws {
        let missing = FixturePaths.root.appendingPathComponent("resize/no-such-file.jpg").path
        let error = #expect(throws: ImageError.self) { try KerasPreprocessor().preprocessFile(atPath: missing) }
        #expect(error?.path == missing)
        #expect(error?.reason == .unreadable("No such file or directory"))
        let folder = FixturePaths.root.appendingPathComponent("resize").path
        let folderError = #expect(throws: ImageError.self) { try KerasPreprocessor().preprocessFile(atPath: folder) }
        #expect(folderError?.reason == .unreadable("is a folder, not a file"))
    }

    @Test func wrongOutputBufferIsAnError() throws {
        var small = [Float](repeating: 0, count: 10)
        let error = #expect(throws: ImageError.self) {
            try small.withUnsafeMutableBufferPointer { buffer in
                try KerasPreprocessor().preprocess(fixtureBytes("images/Apple/0_100.jpg"), path: "a.jpg", into: buffer)
            }
        }
        #expect(error?.reason == .outputBufferSize(expected: 224 * 224 * 3, actual: 10))
    }

    @Test func signaturesAreRecognised() {
        func sniff(_ bytes: [UInt8]) -> ImageFormat? {
            bytes.withUnsafeBytes { ImageFormat(sniffing: $0) }
        }
        #expect(sniff([]) == nil)
        #expect(sniff([0xFF, 0xD8, 0xFF, 0xE0]) == .jpeg)
        #expect(sniff([0xFF, 0xD8]) == .unknown)
        #expect(sniff(Array("GIF89a".utf8)) == .gif)
        #expect(sniff(Array("....ftypheic".utf8)) == .heif)
        #expect(sniff(Array("....ftypavif".utf8)) == .avif)
        #expect(sniff(Array("%PDF-1.7".utf8)) == .pdf)
        #expect(sniff([0x00, 0x00, 0x00, 0x0C, 0x6A, 0x50, 0x20, 0x20, 0x0D, 0x0A, 0x87, 0x0A]) == .jpeg2000)
        #expect(sniff(Array("BM".utf8)) == .unknown)
    }
}
