import Foundation
import Testing
@testable import FruitFeatures

/// Structure-aware mutations of HDF5 files: declared shapes, chunk extents and links rewritten, besides
/// bit flips, through both HDF5 readers (Keras weights, PCA model). Seeds are Fixtures/hdf5/hostile
/// (Scripts/make_hdf5_hostile.py): weights- and PCA-shaped files with contiguous, chunked and compressed
/// datasets, soft and external links. Bounded for CI; FRUITFEATURES_FUZZ_ITERATIONS runs a campaign.
@Suite struct ReliabilityHDF5FuzzTests {
    static let seedNames = [
        "weights_seed.h5", "weights_huge_kernel.h5", "weights_huge_chunk.h5", "weights_external_kernel.h5",
        "weights_soft_kernel.h5", "weights_soft_dangling.h5", "pca_seed.h5", "pca_chunked_seed.h5",
        "pca_huge_components.h5", "pca_huge_k.h5", "pca_external_components.h5", "pca_huge_chunk.h5",
    ]

    /// Extents that occur in the seeds, as HDF5 stores them: dataspace dimensions as 8-byte lengths,
    /// chunk dimensions (layout message version 3) as 4-byte values.
    static let extents: [UInt64] = [3, 16, 6, 37, 1280, 1024, 2, 5, 1 << 22, 1 << 24, 1 << 40]
    /// What a hostile file declares instead.
    static let hostileExtents: [UInt64] = [0, 1, 7, 255, 1 << 16, (1 << 31) - 1, 1 << 32, 1 << 40, 1 << 62, (1 << 63) - 1, .max]
    /// Link targets, and same-length replacements: the file itself, a missing file, a device, a cycle.
    static let linkRewrites: [(String, [String])] = [
        ("weights_huge_kernel.h5", [padded("weights_seed.h5", 22), padded("/dev/zero", 22), "../../../../etc/passwd"]),
        ("pca_huge_components.h5", [padded("pca_seed.h5", 22), padded("/proc/self/fd/0", 22), padded("pca_huge_k.h5", 22)]),
        ("/Conv1/Conv1/stored", ["/Conv1/Conv1/kernel", "/bn_Conv1/bn_Conv1/", padded("/", 19)]),
        ("/nowhere/kernel", ["///////////////", padded("/Conv1", 15)]),
    ]

    /// `text` followed by NUL bytes up to `length` (a replacement must keep the stored length).
    static func padded(_ text: String, _ length: Int) -> String {
        text + String(repeating: "\0", count: length - text.utf8.count)
    }

    /// Offsets where `value` is stored little-endian in `width` bytes.
    static func occurrences(of value: UInt64, width: Int, in bytes: [UInt8]) -> [Int] {
        let pattern = (0..<width).map { UInt8(truncatingIfNeeded: value >> (8 * UInt64($0))) }
        guard bytes.count >= width else { return [] }
        return (0...(bytes.count - width)).filter { bytes[$0] == pattern[0] && Array(bytes[$0..<($0 + width)]) == pattern }
    }

    /// One structure-aware mutation; the kind is returned for the tally.
    static func mutate(_ seed: [UInt8], with mutator: inout Mutator, sites: Sites) -> (bytes: [UInt8], kind: String) {
        var bytes = seed
        switch Int.random(in: 0..<10, using: &mutator.random) {
        case 0...2 where !sites.dimensions.isEmpty:
            // A declared extent (dataspace dimension or maximum) rewritten.
            let offset = sites.dimensions.randomElement(using: &mutator.random)!
            let value = hostileExtents.randomElement(using: &mutator.random)!
            for index in 0..<8 { bytes[offset + index] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(index))) }
            return (bytes, "shape")
        case 3...4 where !sites.chunks.isEmpty:
            // A chunk extent rewritten.
            let offset = sites.chunks.randomElement(using: &mutator.random)!
            let value = UInt32(truncatingIfNeeded: hostileExtents.randomElement(using: &mutator.random)!)
            for index in 0..<4 { bytes[offset + index] = UInt8(truncatingIfNeeded: value >> (8 * UInt32(index))) }
            return (bytes, "chunk")
        case 5...6 where !sites.links.isEmpty:
            // A link target pointed elsewhere: at this file, a missing one, a device, itself.
            let (offset, replacements) = sites.links.randomElement(using: &mutator.random)!
            let replacement = Array(replacements.randomElement(using: &mutator.random)!.utf8)
            for (index, byte) in replacement.enumerated() where offset + index < bytes.count { bytes[offset + index] = byte }
            return (bytes, "link")
        default:
            return (mutator.mutateHDF5(seed), "bytes")
        }
    }

    /// Where a seed stores what the structural mutations rewrite.
    struct Sites {
        var dimensions: [Int] = []
        var chunks: [Int] = []
        var links: [(Int, [String])] = []

        init(_ bytes: [UInt8]) {
            for value in ReliabilityHDF5FuzzTests.extents {
                dimensions += ReliabilityHDF5FuzzTests.occurrences(of: value, width: 8, in: bytes)
                chunks += ReliabilityHDF5FuzzTests.occurrences(of: value, width: 4, in: bytes)
            }
            for (target, replacements) in ReliabilityHDF5FuzzTests.linkRewrites {
                let pattern = Array(target.utf8)
                guard bytes.count >= pattern.count else { continue }
                for offset in 0...(bytes.count - pattern.count) where Array(bytes[offset..<(offset + pattern.count)]) == pattern {
                    links.append((offset, replacements))
                }
            }
        }
    }

    @Test func mutatedHDF5FilesGiveAResultOrATypedError() throws {
        let folder = try makeScratchFolder("ff-hdf5-fuzz")
        let seeds = try Self.seedNames.map { name in
            try [UInt8](Data(contentsOf: ReliabilitySizeLimitTests.hostile(name)))
        }
        let sites = seeds.map(Sites.init)
        // The seeds hold what the structural mutations need.
        #expect(sites.allSatisfy { !$0.dimensions.isEmpty }, "a seed without a recognised extent")
        #expect(sites.contains { !$0.links.isEmpty } && sites.contains { !$0.chunks.isEmpty })
        // External links resolve beside the file: the seeds' targets are there too.
        for name in Self.seedNames {
            try? FileManager.default.copyItem(atPath: ReliabilitySizeLimitTests.hostile(name).path, toPath: folder + "/" + name)
        }
        var mutator = Mutator(seed: 0x4844_4635)
        var kinds: [String: Int] = [:]
        var outcomes: [String: Int] = [:]
        let iterations = ReliabilityFuzzTests.iterations(default: 400)
        for iteration in 0..<iterations {
            let index = iteration % seeds.count
            let (bytes, kind) = Self.mutate(seeds[index], with: &mutator, sites: sites[index])
            kinds[kind, default: 0] += 1
            let path = folder + "/fuzz-\(iteration).h5"
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            let url = URL(fileURLWithPath: path)
            if Self.seedNames[index].hasPrefix("weights") {
                do {
                    let weights = try KerasWeightsFile(contentsOf: url).mobileNetV2Weights()
                    Issue.record("iteration \(iteration): a two-layer file loaded as MobileNetV2 (\(weights.layers.count) layers)")
                } catch {
                    #expect(error.file == path)
                    outcomes["weights: " + "\(error.reason)".prefix { $0 != "(" }, default: 0] += 1
                }
            } else {
                do {
                    let model = try PCAModel(contentsOf: url)
                    #expect(model.components.count == model.componentCount * model.dimension)
                    #expect(model.mean.count == model.dimension)
                    outcomes["pca: loaded", default: 0] += 1
                } catch {
                    #expect(error.description.contains(path), "iteration \(iteration): \(error)")
                    let kind: String = switch error {
                    case .file: "file"
                    case .invalidModel: "invalidModel"
                    default: "other"
                    }
                    outcomes["pca: " + kind, default: 0] += 1
                }
            }
            unlink(path)
        }
        #expect(outcomes.values.reduce(0, +) == iterations)
        // Every kind of mutation ran, and the PCA reader both loaded and refused files.
        for kind in ["shape", "chunk", "link", "bytes"] { #expect(kinds[kind, default: 0] > 0, "\(kinds)") }
        #expect(outcomes["pca: loaded", default: 0] > 0, "\(outcomes)")
        #expect(outcomes["pca: invalidModel", default: 0] > 0, "\(outcomes)")
    }

    /// Found by the loop above: one flipped bit in the object index of a variable-length string's heap
    /// reference (the `format` attribute of a PCA file) makes libhdf5 1.10's `H5HG_read` read past the
    /// collection's object table and crash. The file is now refused before libhdf5 opens it.
    @Test func aHeapReferenceToNoObjectIsAnErrorNotACrash() throws {
        var bytes = try [UInt8](Data(contentsOf: ReliabilitySizeLimitTests.hostile("pca_seed.h5")))
        let collection = try #require(Self.occurrences(of: UInt64(0x4C4F_4347), width: 4, in: bytes).first)  // "GCOL"
        // The reference of the 17-byte string "FruitFeatures PCA": length 17, collection address, index.
        let reference = Array([UInt8]([17, 0, 0, 0]) + (0..<8).map { UInt8(truncatingIfNeeded: collection >> (8 * $0)) })
        let start = try #require((0...(bytes.count - 16)).first { Array(bytes[$0..<($0 + 12)]) == reference })
        #expect(Array(bytes[(start + 12)..<(start + 16)]) == [1, 0, 0, 0])
        bytes[start + 15] = 0x20
        let path = try makeScratchFolder("ff-heapref") + "/pca.h5"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        #expect {
            try PCAModel(contentsOf: URL(fileURLWithPath: path))
        } throws: { error in
            "\(error)".contains("damaged global heap collection at byte \(collection): the attribute at byte ")
                && "\(error)".contains("refers to object 536870913, which the collection does not hold")
        }
        // Sound files pass the reference check: every weights fixture and every seed.
        for url in WeightFixtures.validVariants.map(WeightFixtures.variant) + [AnalysisFixture.weights] {
            let data = try Data(contentsOf: url)
            #expect(data.withUnsafeBytes { HDF5GlobalHeapCheck.firstDamage(in: $0) } == nil, "\(url.lastPathComponent)")
        }
        for name in Self.seedNames {
            let data = try Data(contentsOf: ReliabilitySizeLimitTests.hostile(name))
            #expect(data.withUnsafeBytes { HDF5GlobalHeapCheck.firstDamage(in: $0) } == nil, "\(name)")
        }
    }
}
