import CKernels
import Foundation
import Testing
@testable import FruitFeatures

/// The kernel levels: which ones this machine runs, the per-thread and environment caps, and the whole forward
/// pass at every supported level against the Keras goldens and against the other levels.
@Suite struct KernelLevelTests {
    static let tolerance: Float = 1e-4

    /// Prints the levels the kernel tests run here (CI logs show whether AVX-512 was exercised).
    @Test func levelsThisMachineRuns() throws {
        let supported = KernelLevel.supported
        print("kernel levels tested on this machine: \(supported.map(\.name).joined(separator: ", "))"
              + " (CPU best \(KernelLevel.cpuBest), process level \(KernelLevel.active))")
        #expect(supported.first == .portable)
        #expect(supported.last == KernelLevel.cpuBest)
        #expect(KernelLevel.active <= KernelLevel.cpuBest)
        #expect(MobileNetV2Extractor.usesAVX2 == (KernelLevel.cpuBest >= .avx2))
        // A thread cap lowers the level and never raises it above the process level.
        for level in KernelLevel.allCases {
            let running = KernelLevel.withThreadLevel(level) { Int(ffk_kernel_level()) }
            #expect(running == min(level, KernelLevel.active).rawValue, "capped at \(level)")
        }
        #expect(Int(ffk_kernel_level()) == KernelLevel.active.rawValue)
    }

    @Test func namesRoundTrip() {
        for level in KernelLevel.allCases {
            #expect(KernelLevel(name: level.name) == level)
            #expect(KernelLevel(name: level.name.uppercased()) == level)
        }
        #expect(KernelLevel.allCases.map(\.name) == ["portable", "avx2", "avx512"])
        #expect(KernelLevel(name: "sse9") == nil)
        #expect(KernelLevel(name: "") == nil)
    }

    /// The alpha-1.0 goldens at every level, each image alone and in one call (identical within a level),
    /// and the levels against each other (rounding only: portable builds do not fuse multiply-adds).
    @Test func everyLevelGivesKerasFeatures() throws {
        let index = try KerasGoldens.index()
        let model = try #require(index.models["alpha_1.0"])
        let golden = try KerasGoldens.features(model.inputs, featureCount: model.feature_count)
        let inputs = try golden.map { name, _ in try KerasGoldens.input(name) }
        let extractor = try MobileNetV2Extractor(weightsAt: WeightFixtures.main)
        var byLevel: [(KernelLevel, [[Float]])] = []
        for level in KernelLevel.supported {
            let (together, alone) = try KernelLevel.withThreadLevel(level) { () throws -> ([[Float]], [[Float]]) in
                (try extractor.features(of: inputs), try inputs.map { try extractor.features(of: $0) })
            }
            #expect(together == alone, "\(level): features depend on the batch")
            for ((name, expected), actual) in zip(golden, together) {
                let difference = maxAbsoluteDifference(actual, expected)
                #expect(difference <= Self.tolerance, "\(level), \(name): max |swift − keras| = \(difference)")
            }
            byLevel.append((level, together))
        }
        for (level, features) in byLevel.dropFirst() {
            let difference = maxAbsoluteDifference(features.flatMap { $0 }, byLevel[0].1.flatMap { $0 })
            print("features at \(level) vs \(byLevel[0].0): max |difference| \(difference)")
            #expect(difference <= Self.tolerance, "\(level) vs \(byLevel[0].0): \(difference)")
        }
    }

    /// Every MobileNetV3 fixture (Large, Small, minimalistic; legacy and Keras 3 files) at every level, from the
    /// fixture JPEGs: ≤ 1e-4 from tf.keras; the images in one call (groups of 8 and of 2) give the same bits as
    /// each image alone; the levels against each other.
    @Test func everyLevelGivesKerasFeaturesForMobileNetV3() throws {
        let index = try Keras3Goldens.index()
        let preprocessor = KerasPreprocessor()
        let inputs = try index.images.map {
            try preprocessor.preprocessFile(atPath: FixturePaths.root.appendingPathComponent($0).path)
        }
        let files = index.files.filter { $0.value.architecture.hasPrefix("MobileNetV3") }.sorted { $0.key < $1.key }
        #expect(files.count >= 3)
        for (name, file) in files {
            let golden = try Keras3Goldens.features(file, images: inputs.count)
            let weights = try KerasWeightsFile(contentsOf: Keras3Goldens.weightsURL(name)).mobileNetV3Weights()
            let extractor = try MobileNetV3Extractor(weights: weights)
            let pairs = try MobileNetV3Extractor(weights: weights, groupSize: 2)
            var byLevel: [(KernelLevel, [[Float]])] = []
            for level in KernelLevel.supported {
                let (together, inPairs, alone) = try KernelLevel.withThreadLevel(level) {
                    () throws -> ([[Float]], [[Float]], [[Float]]) in
                    (try extractor.features(of: inputs), try pairs.features(of: inputs),
                     try inputs.map { try extractor.features(of: $0) })
                }
                #expect(together == alone, "\(name) at \(level): features depend on the batch")
                #expect(inPairs == alone, "\(name) at \(level): features depend on the group size")
                for ((path, expected), actual) in zip(zip(index.images, golden), together) {
                    let difference = maxAbsoluteDifference(actual, expected)
                    #expect(difference <= Self.tolerance, "\(name) at \(level), \(path): max |swift − keras| = \(difference)")
                }
                byLevel.append((level, together))
            }
            for (level, features) in byLevel.dropFirst() {
                let difference = maxAbsoluteDifference(features.flatMap { $0 }, byLevel[0].1.flatMap { $0 })
                #expect(difference <= Self.tolerance, "\(name): \(level) vs \(byLevel[0].0): \(difference)")
            }
            // AVX-512 and AVX2 compute each element with the same multiply-adds.
            let simd = byLevel.filter { $0.0 >= .avx2 }
            for (level, features) in simd.dropFirst() {
                #expect(features == simd[0].1, "\(name): \(level) vs \(simd[0].0) not bit-identical")
            }
        }
    }

    /// Small input sizes and every execution plan, at every level: bit-identical within the level, and within
    /// the tolerance of the double-precision reference.
    @Test(arguments: [33, 45])
    func everyLevelMatchesTheReferenceForEveryPlan(_ size: Int) throws {
        let weights = try MobileNetV2ReferenceTests.smallWeights()
        var random = TestRandom(seed: UInt64(size) + 1000)
        let images = (0..<3).map { _ in random.floats(size * size * 3, -1, 1) }
        let expected = images.map { ReferenceMobileNetV2.features(weights, image: $0, size: size) }
        for level in KernelLevel.supported {
            try KernelLevel.withThreadLevel(level) { () throws -> Void in
                let alone = try images.map { try MobileNetV2Extractor(weights: weights, inputSize: size).features(of: $0) }
                for (budget, groupSize) in [(1, 1), (5_000, 2), (FoldedMobileNetV2.defaultBandBudget, 8)] {
                    let plan = MobileNetV2Extractor.ExecutionPlan(bandFloats: budget, groupSize: groupSize)
                    let features = try MobileNetV2Extractor(weights: weights, inputSize: size, plan: plan).features(of: images)
                    #expect(features == alone, "\(level), size \(size), plan \(budget)/\(groupSize): not bit-identical")
                }
                for (actual, wanted) in zip(alone, expected) {
                    let difference = maxAbsoluteDifference(actual, wanted)
                    #expect(difference <= Self.tolerance, "\(level), size \(size): \(difference)")
                }
            }
        }
    }

    /// FRUITFEATURES_KERNEL_LEVEL lowers the level of a whole `fruitfeatures extract` run, never raises it above
    /// the CPU's, is ignored (with a warning) when it names no level, and summary.json records the level used
    /// (`feature_model.kernel_level`).
    @Test func theEnvironmentVariableLowersTheLevelOfARun() throws {
        let input = try ExtractCommandTests.inputTree()
        let cases: [(String, KernelLevel)] = [
            ("portable", .portable), ("AVX2", min(.avx2, KernelLevel.cpuBest)), ("avx512", KernelLevel.cpuBest),
            ("sse9", KernelLevel.cpuBest),
        ]
        for (value, expected) in cases {
            let out = try makeScratchFolder("ff-level") + "/out"
            let result = try CommandRunner.run(
                ["extract", input, "--output", out, "--weights", ExtractCommandTests.weights, "--no-progress",
                 "--components", "2"],
                environment: [KernelLevel.variable: value])
            #expect(result.status == 0, "\(value): \(result.standardError)")
            let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/summary.json")))
            let recorded = ((json as? [String: Any])?["feature_model"] as? [String: Any])?["kernel_level"] as? String
            #expect(recorded == expected.name, "\(KernelLevel.variable)=\(value)")
            if KernelLevel(name: value) == nil {
                #expect(result.standardError.contains(KernelLevel.variable), "no warning for \(value)")
            }
        }
    }

    /// The large Pillow goldens (phone photos, odd sizes) decoded and resized at every level: Pillow's bytes.
    @Test func largePillowGoldensAtEveryLevel() throws {
        let golden = try PillowGolden.load()
        let large = golden.images.filter { $0.width * $0.height > 300_000 }
        #expect(large.count >= 4)
        let preprocessor = KerasPreprocessor()
        for entry in large {
            let bytes = fixtureBytes(entry.file)
            for level in KernelLevel.supported {
                let resized = try KernelLevel.withThreadLevel(level) { () throws -> RGBImage in
                    try bytes.withUnsafeBytes { raw in try preprocessor.resizedImage(raw, path: entry.file) }
                }
                #expect(crc32(resized.bytes) == entry.resized_crc32, "\(entry.name) at \(level)")
            }
        }
    }
}
