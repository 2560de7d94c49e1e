import Foundation
import Testing
@testable import FruitFeatures

/// Structure-aware mutations of valid files, seeded so that every run tries the same inputs.
struct Mutator {
    var random: SeededGenerator

    init(seed: UInt64) { random = SeededGenerator(seed: seed) }

    mutating func position(in bytes: [UInt8], from start: Int = 0) -> Int {
        Int.random(in: min(start, bytes.count - 1)..<bytes.count, using: &random)
    }

    mutating func flipBits(_ bytes: inout [UInt8], count: Int, from start: Int = 0, below end: Int? = nil) {
        let upper = min(end ?? bytes.count, bytes.count)
        guard upper > start else { return }
        for _ in 0..<count {
            bytes[Int.random(in: start..<upper, using: &random)] ^= 1 << UInt8.random(in: 0...7, using: &random)
        }
    }

    mutating func interestingByte() -> UInt8 {
        [0x00, 0x01, 0x7F, 0x80, 0xFE, 0xFF, UInt8.random(in: 0...255, using: &random)].randomElement(using: &random) ?? 0
    }

    mutating func interestingUInt16() -> UInt16 {
        [0, 1, 2, 3, 0x7FFF, 0x8000, 0xFFFE, 0xFFFF, UInt16.random(in: 0...0xFFFF, using: &random)].randomElement(using: &random) ?? 0
    }

    /// Offsets of JPEG marker segments with a length field (FF xx, not RSTn/SOI/EOI/stuffing).
    static func jpegSegments(_ bytes: [UInt8]) -> [Int] {
        var result: [Int] = []
        var index = 0
        while index + 3 < bytes.count {
            if bytes[index] == 0xFF, (0xC0...0xFE).contains(bytes[index + 1]), !(0xD0...0xD9).contains(bytes[index + 1]) {
                result.append(index)
            }
            index += 1
        }
        return result
    }

    /// One JPEG mutation: bit flips, interesting bytes, cuts, deletions, duplications, splices, and
    /// surgery on segment lengths and frame dimensions.
    mutating func mutateJPEG(_ seed: [UInt8], other: [UInt8]) -> [UInt8] {
        var bytes = seed
        let segments = Self.jpegSegments(bytes)
        switch Int.random(in: 0..<9, using: &random) {
        case 0:
            flipBits(&bytes, count: Int.random(in: 1...8, using: &random), from: 2)
        case 1:
            for _ in 0...Int.random(in: 0...3, using: &random) { bytes[position(in: bytes, from: 2)] = interestingByte() }
        case 2:
            bytes = Array(bytes.prefix(Int.random(in: 0..<bytes.count, using: &random)))
        case 3:
            let start = position(in: bytes, from: 2)
            let end = min(bytes.count, start + Int.random(in: 1...256, using: &random))
            bytes.removeSubrange(start..<end)
        case 4:
            let start = position(in: bytes, from: 2)
            let chunk = bytes[start..<min(bytes.count, start + Int.random(in: 1...512, using: &random))]
            bytes.insert(contentsOf: chunk, at: position(in: bytes, from: 2))
        case 5:
            // Head of one file, tail of another.
            bytes = Array(bytes.prefix(position(in: bytes, from: 2))) + other.suffix(Int.random(in: 1..<other.count, using: &random))
        case 6:
            // A segment length set to something else.
            if let segment = segments.randomElement(using: &random), segment + 3 < bytes.count {
                let value = interestingUInt16()
                bytes[segment + 2] = UInt8(value >> 8)
                bytes[segment + 3] = UInt8(value & 0xFF)
            }
        case 7:
            // Frame (SOFn) dimensions, component counts and sampling factors.
            if let frame = segments.first(where: { [0xC0, 0xC1, 0xC2, 0xC3].contains(bytes[$0 + 1]) }), frame + 11 < bytes.count {
                let field = [4, 5, 7, 9, 11].randomElement(using: &random) ?? 5
                if field == 5 || field == 7 {
                    let value = interestingUInt16()
                    bytes[frame + field] = UInt8(value >> 8)
                    bytes[frame + field + 1] = UInt8(value & 0xFF)
                } else {
                    bytes[frame + field] = interestingByte()
                }
            }
        default:
            // A stray marker.
            let at = position(in: bytes, from: 2)
            bytes.insert(contentsOf: [0xFF, UInt8.random(in: 0xC0...0xFF, using: &random)], at: at)
        }
        return bytes
    }

    /// One HDF5 mutation: a cut, bit flips in the metadata-dense start or anywhere, an 8-byte word
    /// (addresses, sizes) overwritten, or a block zeroed.
    mutating func mutateHDF5(_ seed: [UInt8]) -> [UInt8] {
        var bytes = seed
        switch Int.random(in: 0..<6, using: &random) {
        case 0:
            bytes = Array(bytes.prefix(Int.random(in: 0..<bytes.count, using: &random)))
        case 1:
            flipBits(&bytes, count: Int.random(in: 1...4, using: &random), below: 4096)
        case 2:
            flipBits(&bytes, count: Int.random(in: 1...16, using: &random))
        case 3:
            let word = position(in: bytes) & ~7
            let fill: [UInt8] = [[UInt8](repeating: 0xFF, count: 8), [UInt8](repeating: 0, count: 8),
                                 (0..<8).map { _ in UInt8.random(in: 0...255, using: &random) }].randomElement(using: &random) ?? []
            for (offset, byte) in fill.enumerated() where word + offset < bytes.count { bytes[word + offset] = byte }
        case 4:
            let start = position(in: bytes) & ~511
            for index in start..<min(bytes.count, start + 512) { bytes[index] = 0 }
        default:
            let word = position(in: bytes, from: 0) % min(bytes.count, 8192) & ~7
            for offset in 0..<8 where word + offset < bytes.count { bytes[word + offset] = interestingByte() }
        }
        return bytes
    }
}

/// Deterministic mutation fuzzing, bounded so that it runs in seconds: damaged JPEGs through decoding
/// and preprocessing, damaged Keras `.h5` files through the weights loader. Every input must give a
/// result or a typed error naming the file — never a trap, a hang or a crash.
@Suite struct ReliabilityFuzzTests {
    /// Iterations per test: bounded for CI; FRUITFEATURES_FUZZ_ITERATIONS (and, for the weights,
    /// FRUITFEATURES_FUZZ_FIRST) run a longer campaign by hand (see Docs/reliability.md).
    static func iterations(default count: Int) -> Int {
        ProcessInfo.processInfo.environment["FRUITFEATURES_FUZZ_ITERATIONS"].flatMap { Int($0) } ?? count
    }

    static let jpegSeeds: [String] = {
        let fixtures = FixturePaths.root.path
        var files = ["images/Apple/0_100.jpg", "images/Lemon/1_100.jpg"].map { "\(fixtures)/\($0)" }
        for folder in ["resize", "hostile"] {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: "\(fixtures)/\(folder)")) ?? []
            files += names.filter { $0.hasSuffix(".jpg") && !$0.hasPrefix("down_") }.sorted().map { "\(fixtures)/\(folder)/\($0)" }
        }
        return files
    }()

    @Test func damagedJPEGsGiveAnImageOrATypedError() throws {
        let seeds = try Self.jpegSeeds.map { try [UInt8](Data(contentsOf: URL(fileURLWithPath: $0))) }
        #expect(seeds.count >= 12)
        // A lower pixel limit keeps huge mutated frames cheap; the default limit is tested elsewhere.
        let preprocessor = KerasPreprocessor(decoder: JPEGDecoder(pixelLimit: 4_000_000))
        var mutator = Mutator(seed: 0xF022_1E5)
        var outcomes: [String: Int] = [:]
        let iterations = ReliabilityFuzzTests.iterations(default: 1500)
        for iteration in 0..<iterations {
            let seed = seeds[iteration % seeds.count]
            let other = seeds[(iteration * 7 + 3) % seeds.count]
            let bytes = mutator.mutateJPEG(seed, other: other)
            let path = "fuzz-\(iteration).jpg"
            do {
                let values = try preprocessor.preprocess(bytes, path: path)
                #expect(values.count == 224 * 224 * 3)
                #expect(values.allSatisfy { $0 >= -1 && $0 <= 1 }, "iteration \(iteration): values out of [-1, 1]")
                outcomes["decoded", default: 0] += 1
            } catch {
                #expect(error.path == path)
                #expect(error.description.hasPrefix(path + ": "))
                let kind = "\(error.reason)".prefix { $0 != "(" }
                outcomes[String(kind), default: 0] += 1
            }
        }
        #expect(outcomes.values.reduce(0, +) == iterations)
        // The mutations reach both sides and several distinct refusals.
        #expect(outcomes["decoded", default: 0] > 100, "\(outcomes)")
        for kind in ["truncated", "corrupt", "notJPEG", "tooLarge"] {
            #expect(outcomes[kind, default: 0] > 0, "no \(kind) in \(outcomes)")
        }
    }

    @Test func damagedWeightsFilesGiveWeightsOrATypedError() throws {
        let folder = try makeScratchFolder("ff-h5fuzz")
        let seeds = try ["keras3_legacy_weights.h5", "keras2_chunked_attributes.h5", "classifier_nested_frozen_weights.h5"].map {
            try [UInt8](Data(contentsOf: WeightFixtures.variant($0)))
        }
        var mutator = Mutator(seed: 0x4D5F_F022)
        var outcomes: [String: Int] = [:]
        let iterations = ReliabilityFuzzTests.iterations(default: 120)
        let first = ProcessInfo.processInfo.environment["FRUITFEATURES_FUZZ_FIRST"].flatMap { Int($0) } ?? 0
        for iteration in 0..<(first + iterations) {
            let bytes = mutator.mutateHDF5(seeds[iteration % seeds.count])
            guard iteration >= first else { continue }
            let path = folder + "/fuzz-\(iteration).h5"
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            do {
                let weights = try KerasWeightsFile(contentsOf: URL(fileURLWithPath: path)).mobileNetV2Weights()
                // Whatever loaded has the shapes of a MobileNetV2 and folds into a network.
                #expect(weights.layers.count == 52)
                for (layer, shapes) in zip(weights.layers, weights.architecture.weightShapes.enumerated().filter { $0.offset % 2 == 0 }) {
                    #expect(layer.kernel.count == layer.kernelShape.reduce(1, *))
                    #expect(layer.kernelShape == shapes.element[0])
                }
                _ = try MobileNetV2Extractor(weights: weights, source: path)
                outcomes["loaded", default: 0] += 1
            } catch {
                #expect(error.file == path)
                #expect(error.description.contains(path))
                let kind = "\(error.reason)".prefix { $0 != "(" }
                outcomes[String(kind), default: 0] += 1
            }
            unlink(path)
        }
        #expect(outcomes.values.reduce(0, +) == iterations)
        #expect(outcomes["loaded", default: 0] > 0, "\(outcomes)")
        #expect(outcomes["hdf5", default: 0] > 0, "\(outcomes)")
    }

    /// The first crash the fuzzing found: one bit flip making a global heap object claim 2 GiB.
    /// libhdf5 1.10 copies that much into a small buffer; the file is now refused before it reads it.
    @Test func aDamagedGlobalHeapIsAnErrorNotACrash() throws {
        var bytes = try [UInt8](Data(contentsOf: WeightFixtures.variant("keras3_legacy_weights.h5")))
        #expect(Array(bytes[2048..<2052]) == Array("GCOL".utf8))
        #expect(bytes[2387] == 0)
        bytes[2387] ^= 0x80
        let path = try makeScratchFolder() + "/damaged.h5"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let error = #expect(throws: WeightsError.self) {
            _ = try KerasWeightsFile(contentsOf: URL(fileURLWithPath: path)).mobileNetV2Weights()
        }
        #expect(error?.description.contains("damaged global heap collection at byte 2048: object 10 at byte 2376 claims 2147483665 bytes") == true,
                "\(String(describing: error))")

        // The check walks collections as libhdf5 does: sound files pass.
        for name in WeightFixtures.validVariants {
            let data = try Data(contentsOf: WeightFixtures.variant(name))
            #expect(data.withUnsafeBytes { HDF5GlobalHeapCheck.firstDamage(in: $0) } == nil, "\(name)")
        }
    }
}
