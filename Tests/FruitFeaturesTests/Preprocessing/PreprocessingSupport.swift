import Foundation
@testable import FruitFeatures

/// Fixtures/golden/pillow/index.json, written by Scripts/make_pillow_golden.py.
struct PillowGolden: Decodable {
    struct Image: Decodable {
        var name: String
        var file: String
        var mode: String
        var width: Int
        var height: Int
        var decoded_crc32: UInt32
        var resized_crc32: UInt32
        var resized_pillow12_crc32: UInt32
        var decoded_raw: String?
        var resized_raw: String?
    }
    struct Synthetic: Decodable {
        var name: String
        var input: String
        var input_width: Int
        var input_height: Int
        var width: Int
        var height: Int
        var box: [Float]?
        var raw: String
    }
    struct KerasImage: Decodable {
        var name: String
        var file: String
        var shape: [Int]
        var float32le_crc32: UInt32
        var first_values: [Float]
    }
    struct Keras: Decodable {
        var scale_table_bits: [UInt32]
        var images: [KerasImage]
    }
    struct Bad: Decodable {
        var file: String
        var expect: String
        var pillow: String
        var pillow_detail: String
        var crc32: UInt32?
        /// Why FruitFeatures knowingly differs from Pillow on this file.
        var deviation: String?
    }
    var pillow: String
    var size: [Int]
    var images: [Image]
    var synthetic: [Synthetic]
    var keras: Keras
    var bad: [Bad]

    struct LoadError: Error, CustomStringConvertible {
        var description: String
    }

    private static let cached: Result<PillowGolden, LoadError> = {
        let url = FixturePaths.root.appendingPathComponent("golden/pillow/index.json")
        do {
            return .success(try JSONDecoder().decode(PillowGolden.self, from: Data(contentsOf: url)))
        } catch {
            return .failure(LoadError(description: "cannot read \(url.path): \(error)"))
        }
    }()

    /// The index; throws (failing the calling test) when it is missing or malformed.
    static func load() throws -> PillowGolden {
        try cached.get()
    }
}

/// The bytes of a file under Fixtures (empty when missing, so the test comparing them fails).
func fixtureBytes(_ relativePath: String) -> [UInt8] {
    let url = FixturePaths.root.appendingPathComponent(relativePath)
    return (try? [UInt8](Data(contentsOf: url))) ?? []
}

func fixturePath(_ relativePath: String) -> String {
    FixturePaths.root.appendingPathComponent(relativePath).path
}

/// zlib's CRC-32 (polynomial 0xEDB88320), the digest the golden script records.
func crc32(_ bytes: some Sequence<UInt8>) -> UInt32 {
    var crc: UInt32 = 0xFFFF_FFFF
    for byte in bytes {
        crc = crc32Table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8)
    }
    return crc ^ 0xFFFF_FFFF
}

private let crc32Table: [UInt32] = (0..<256).map { n in
    var c = UInt32(n)
    for _ in 0..<8 {
        c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1
    }
    return c
}

/// Where two byte arrays first differ, for messages: "index 123 (pixel 41, channel 0): 17 vs 18".
func firstDifference(_ a: [UInt8], _ b: [UInt8], width: Int) -> String {
    guard a.count == b.count else { return "sizes \(a.count) vs \(b.count)" }
    guard let i = a.indices.first(where: { a[$0] != b[$0] }) else { return "equal" }
    let pixel = i / 3
    let differing = zip(a, b).filter { $0 != $1 }.count
    return "\(differing) bytes differ; first at x=\(pixel % width) y=\(pixel / width) channel \(i % 3): \(a[i]) vs \(b[i])"
}

/// A plain implementation of Pillow's bicubic resize, written straight from the description
/// (every output pixel computes its own weights, whole-image passes, no row cropping), to
/// check ``BicubicResampler`` against. `pillow12`: always horizontal first.
enum ReferenceResampler {
    static func bicubic(_ t: Double) -> Double {
        let a = -0.5, x = abs(t)
        if x < 1 { return ((a + 2) * x - (a + 3)) * x * x + 1 }
        if x < 2 { return (((x - 5) * x + 8) * x - 4) * a }
        return 0
    }

    /// (first input index, fixed-point weights) for output `o` of a pass from `in0..<in1` of
    /// `inSize` to `outSize`.
    static func taps(_ o: Int, inSize: Int, in0: Float, in1: Float, outSize: Int) -> (Int, [Int32]) {
        let scale = Double(in1 - in0) / Double(outSize)
        let filterScale = scale < 1 ? 1.0 : scale
        let support = 2.0 * filterScale
        let center = Double(in0) + (Double(o) + 0.5) * scale
        let lo = max(0, Int(center - support + 0.5))
        let hi = min(inSize, Int(center + support + 0.5))
        var w = [Double]()
        for i in lo..<max(lo, hi) {
            w.append(bicubic((Double(i) - center + 0.5) / filterScale))
        }
        let total = w.reduce(0, +)
        if total != 0 { w = w.map { $0 / total } }
        let fixed = w.map { v -> Int32 in
            let s = v * 4_194_304.0
            return Int32(s < 0 ? s - 0.5 : s + 0.5)
        }
        return (lo, fixed)
    }

    static func clip(_ sum: Int64) -> UInt8 {
        UInt8(max(0, min(255, sum >> 22)))
    }

    static func resize(_ src: [UInt8], width w: Int, height h: Int, to ow: Int, _ oh: Int,
                       box: (Float, Float, Float, Float)? = nil, pillow12: Bool = false) -> [UInt8] {
        let b = box ?? (0, 0, Float(w), Float(h))
        if ow == w && oh == h && b == (0, 0, Float(w), Float(h)) { return src }
        if b.0 == b.0.rounded(.towardZero) && b.2 - b.0 == Float(ow)
            && b.1 == b.1.rounded(.towardZero) && b.3 - b.1 == Float(oh) {
            var out = [UInt8]()
            for y in 0..<oh {
                for x in 0..<ow {
                    for c in 0..<3 { out.append(src[((Int(b.1) + y) * w + Int(b.0) + x) * 3 + c]) }
                }
            }
            return out
        }
        let needH = ow != w || b.0 != 0 || b.2 != Float(ow)
        let needV = oh != h || b.1 != 0 || b.3 != Float(oh)
        let horizontalFirst = pillow12 || !(Float(ow) >= b.2 - b.0 && Float(oh) < b.3 - b.1)
        var image = src, iw = w, ih = h
        func horizontal() {
            var tmp = [UInt8](repeating: 0, count: ow * ih * 3)
            for x in 0..<ow {
                let (lo, k) = taps(x, inSize: w, in0: b.0, in1: b.2, outSize: ow)
                for y in 0..<ih {
                    for c in 0..<3 {
                        var s: Int64 = 1 << 21
                        for (i, weight) in k.enumerated() {
                            s += Int64(image[(y * iw + lo + i) * 3 + c]) * Int64(weight)
                        }
                        tmp[(y * ow + x) * 3 + c] = clip(s)
                    }
                }
            }
            image = tmp
            iw = ow
        }
        func vertical() {
            var out = [UInt8](repeating: 0, count: iw * oh * 3)
            for y in 0..<oh {
                let (lo, k) = taps(y, inSize: h, in0: b.1, in1: b.3, outSize: oh)
                for x in 0..<iw {
                    for c in 0..<3 {
                        var s: Int64 = 1 << 21
                        for (i, weight) in k.enumerated() {
                            s += Int64(image[((lo + i) * iw + x) * 3 + c]) * Int64(weight)
                        }
                        out[(y * iw + x) * 3 + c] = clip(s)
                    }
                }
            }
            image = out
            ih = oh
        }
        if horizontalFirst {
            if needH { horizontal() }
            if needV { vertical() }
        } else {
            if needV { vertical() }
            if needH { horizontal() }
        }
        return image
    }
}
