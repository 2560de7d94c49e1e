import Foundation
import Testing
@testable import FruitFeatures

/// End-to-end runs of `fruitfeatures extract` on the fixture photos, compared with the Keras goldens.
@Suite struct ExtractCommandTests {
    static let weights = FixturePaths.root.appendingPathComponent("weights/mobilenet_v2_1.0_224_random.h5").path
    static let images = FixturePaths.root.appendingPathComponent("images").path

    /// Copies the fixture photos into a scratch folder (plus extra files), so that paths are predictable.
    static func inputTree(extra: [String: [UInt8]] = [:]) throws -> String {
        let root = try makeScratchFolder("ff-input") + "/photos"
        try FileManager.default.copyItem(atPath: images, toPath: root)
        for (relative, bytes) in extra {
            let path = root + "/" + relative
            try FileManager.default.createDirectory(
                atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try Data(bytes).write(to: URL(fileURLWithPath: path))
        }
        return root
    }

    static func extract(_ input: String, _ arguments: [String] = [], output: String? = nil) throws -> (CommandRunner.Result, String) {
        let out = try output ?? (makeScratchFolder("ff-out") + "/out")
        let result = try CommandRunner.run(["extract", input, "--output", out, "--weights", weights, "--no-progress"] + arguments)
        return (result, out)
    }

    static func csvRows(_ path: String) throws -> [[String]] {
        try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
    }

    @Test func featuresMatchKerasThroughTheWholePipeline() throws {
        let input = try Self.inputTree()
        let (result, out) = try Self.extract(input, ["--components", "5"])
        #expect(result.status == 0, "\(result.standardError)")
        #expect(result.standardError.isEmpty)

        // The PCA features are the projection of the Keras golden features by the saved model.
        let model = try PCAModel(contentsOf: URL(fileURLWithPath: out + "/pca.h5"))
        #expect(model.componentCount == 5)
        let index = try KerasGoldens.index()
        let goldenRows = try #require(index.models["alpha_1.0"]?.images)
        let golden = try KerasGoldens.features(goldenRows, featureCount: 1280)
        let rows = try Self.csvRows(out + "/features.csv")
        #expect(rows[0] == ["path", "label"] + (0..<5).map { "feature_\($0)" })
        #expect(rows.count == golden.count + 1)
        for (row, (name, features)) in zip(rows.dropFirst(), golden) {
            // Golden rows are named images/<Label>/<file>; the CLI keeps the input folder as given.
            #expect(row[0] == input + "/" + name.dropFirst("images/".count))
            #expect(row[1] == name.split(separator: "/")[1].description)
            let expected = try model.project(features, rowCount: 1)
            let actual = row[2...].compactMap(Float.init)
            #expect(maxAbsoluteDifference(actual, expected) <= 1e-4)
        }
        #expect(try String(contentsOfFile: out + "/errors.csv", encoding: .utf8) == "path,reason\n")

        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        let summary = try decoder.decode(ExtractionSummary.self, from: Data(contentsOf: URL(fileURLWithPath: out + "/summary.json")))
        #expect(summary.images == .init(found: 9, processed: 9, failed: 0, networkPasses: 9))
        #expect(summary.pca.components == 5)
        #expect(summary.pca.explainedVarianceRatio.map { Float($0) } == model.explainedVarianceRatio.map { Float($0) })
        #expect(summary.weights.sha256.count == 64)
        #expect(summary.weights.alpha == 1.0)
        #expect(summary.version == fruitFeaturesVersion)
        let files = try FileManager.default.contentsOfDirectory(atPath: out).sorted()
        #expect(files == [".fruitfeatures-run", ".generations", "current", "duplicates.csv", "errors.csv", "features.csv",
                          "features.parquet", "pca.h5", "raw_features.parquet", "summary.json"])
    }

    @Test func theRunIsPublishedAsAGeneration() throws {
        let input = try Self.inputTree()
        let (result, out) = try Self.extract(input, ["--components", "2"])
        #expect(result.status == 0, "\(result.standardError)")
        let manager = FileManager.default
        let generations = try manager.contentsOfDirectory(atPath: out + "/.generations")
        #expect(generations.count == 1)
        let generation = try #require(generations.first)
        #expect(try manager.destinationOfSymbolicLink(atPath: out + "/current") == ".generations/" + generation)
        let names = ["duplicates.csv", "errors.csv", "features.csv", "features.parquet", "pca.h5", "raw_features.parquet",
                     "summary.json"]
        #expect(try manager.contentsOfDirectory(atPath: out + "/.generations/" + generation).sorted() == names)
        for name in names {
            #expect(try manager.destinationOfSymbolicLink(atPath: out + "/" + name) == "current/" + name)
        }
        // summary.json names the feature model and the weights by absolute path.
        let run = try ExtractionRun(directory: URL(fileURLWithPath: out))
        #expect(run.generationDirectory.path == out + "/.generations/" + generation)
        let summary = try #require(try run.readSummary())
        let identity = try #require(summary.featureModel)
        #expect(identity.architecture == "mobilenet_v2")
        #expect(identity.alpha == 1.0)
        #expect(identity.inputSize == 224)
        #expect(identity.preprocessing == "keras_mobilenet_v2")
        #expect(identity.featureCount == 1280)
        #expect(identity.weightsSHA256 == summary.weights.sha256)
        #expect(identity.kernelLevel == FeatureModelIdentity.currentKernelLevel())
        #expect(summary.weights.path == Self.weights)
        let json = try String(contentsOfFile: out + "/summary.json", encoding: .utf8)
        for key in ["\"feature_model\"", "\"architecture\"", "\"input_size\"", "\"preprocessing\"", "\"feature_count\"",
                    "\"weights_sha256\"", "\"kernel_level\""] {
            #expect(json.contains(key), "\(key)")
        }
    }

    @Test(.enabled(if: PythonRunner.isAvailable)) func rawFeaturesParquetHoldsKerasFeatures() throws {
        let input = try Self.inputTree()
        let (result, out) = try Self.extract(input, ["--components", "3"])
        #expect(result.status == 0, "\(result.standardError)")
        let check = try PythonRunner.run("""
            import json, sys, numpy as np, pyarrow.parquet as pq
            out, golden_dir, input_dir = sys.argv[1:]
            index = json.load(open(golden_dir + '/index.json'))['models']['alpha_1.0']['images']
            golden = np.fromfile(golden_dir + '/' + index['file'], dtype='<f4').reshape(len(index['rows']), -1)
            table = pq.read_table(out + '/raw_features.parquet')
            assert str(table.schema.field('features').type) == 'list<element: float>', table.schema
            frame = table.to_pandas()
            assert list(frame.path) == [input_dir + '/' + r[len('images/'):] for r in index['rows']], list(frame.path)
            worst = max(float(np.abs(np.asarray(f, dtype=np.float32) - g).max()) for f, g in zip(frame.features, golden))
            assert worst <= 1e-4, worst
            k = pq.read_table(out + '/features.parquet').to_pandas()
            assert all(len(f) == 3 for f in k.features) and list(k.label) == list(frame.label)
            print('ok', worst)
            """, arguments: [out, KerasGoldens.directory.path, input])
        #expect(check.status == 0, "\(check.output)")
    }

    @Test func resultsAreIdenticalForAnyJobsAndBatchSize() throws {
        // A bad file among the good ones must not shift the others' results either.
        let input = try Self.inputTree(extra: ["Apple/0_bad.jpg": [0xFF, 0xD8, 0xFF, 0xE0]])
        var outputs: [[String: Data]] = []
        for arguments in [["--jobs", "1", "--batch-size", "1"], ["--jobs", "2", "--batch-size", "4"], ["--jobs", "3", "--batch-size", "16"]] {
            let (result, out) = try Self.extract(input, arguments + ["--components", "4"])
            #expect(result.status == 0, "\(result.standardError)")
            var files: [String: Data] = [:]
            for name in ["features.csv", "features.parquet", "raw_features.parquet", "errors.csv"] {
                files[name] = try Data(contentsOf: URL(fileURLWithPath: out + "/" + name))
            }
            outputs.append(files)
        }
        #expect(outputs[0] == outputs[1])
        #expect(outputs[0] == outputs[2])
    }

    @Test func badFilesAreListedAndTheRunGoesOn() throws {
        let png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13]
        let jpeg = try [UInt8](Data(contentsOf: URL(fileURLWithPath: Self.images + "/Apple/0_100.jpg")))
        let input = try Self.inputTree(extra: [
            "Apple/empty.jpg": [],
            "Banana/picture.jpg": png,
            "Lemon/cut.jpg": Array(jpeg.prefix(jpeg.count / 2)),
        ])
        let (result, out) = try Self.extract(input, ["--components", "2"])
        #expect(result.status == 0, "\(result.standardError)")
        let errors = try Self.csvRows(out + "/errors.csv")
        #expect(errors.map { $0[0] } == ["path", input + "/Apple/empty.jpg", input + "/Banana/picture.jpg", input + "/Lemon/cut.jpg"])
        #expect(errors[1][1] == "empty file")
        #expect(errors[2][1].contains("not a JPEG") && errors[2][1].contains("PNG"))
        #expect(errors[3][1].contains("truncated"))
        #expect(try Self.csvRows(out + "/features.csv").count == 10)

        let strict = try Self.extract(input, ["--components", "2", "--strict"])
        #expect(strict.0.status == 3)
        #expect(strict.0.standardError.contains("3 files could not be used"))
        #expect(FileManager.default.fileExists(atPath: strict.1 + "/summary.json"))
    }

    @Test func fatalErrorsExitNonZeroWithOneClearLine() throws {
        let input = try Self.inputTree()
        let (first, out) = try Self.extract(input, ["--components", "2"])
        #expect(first.status == 0)

        let again = try Self.extract(input, ["--components", "2"], output: out)
        #expect(again.0.status == 1)
        #expect(again.0.standardError == "fruitfeatures: error: output folder \(out) exists and is not empty (use --overwrite to write into it)\n")
        let overwrite = try Self.extract(input, ["--components", "2", "--overwrite"], output: out)
        #expect(overwrite.0.status == 0)

        let empty = try makeScratchFolder()
        let none = try Self.extract(empty)
        #expect(none.0.status == 1)
        #expect(none.0.standardError == "fruitfeatures: error: no images matching '*.jpg' under \(empty)\n")

        let missingWeights = try CommandRunner.run(["extract", input, "-o", empty + "/o", "--weights", empty + "/none.h5"])
        #expect(missingWeights.status == 1)
        #expect(missingWeights.standardError.contains("none.h5: cannot use the weights file: No such file or directory"))

        let notWeights = try CommandRunner.run(["extract", input, "-o", empty + "/o", "--weights", input + "/Apple/0_100.jpg"])
        #expect(notWeights.status == 1)
        #expect(notWeights.standardError.hasPrefix("fruitfeatures: error: "))
        #expect(notWeights.standardError.contains("0_100.jpg"))

        let usage = try CommandRunner.run(["extract", input, "-o", empty + "/o", "--components", "2", "--variance", "0.9"])
        #expect(usage.status == 64)
        #expect(usage.standardError.contains("give --components or --variance, not both"))

        let tooMany = try Self.extract(input, ["--components", "50"])
        #expect(tooMany.0.status == 1)
        #expect(tooMany.0.standardError.contains("PCA"))
        // Nothing is published, and the expensive part (the checkpoint) is kept: --resume finishes without the network.
        #expect(!FileManager.default.fileExists(atPath: tooMany.1 + "/raw_features.parquet"))
        #expect(!FileManager.default.fileExists(atPath: tooMany.1 + "/summary.json"))
        #expect(FileManager.default.fileExists(atPath: tooMany.1 + "/" + ExtractionOutput.checkpoint))
        let resumed = try Self.extract(input, ["--components", "2", "--resume"], output: tooMany.1)
        #expect(resumed.0.status == 0, "\(resumed.0.standardError)")
        let summary = try #require(try ExtractionRun(directory: URL(fileURLWithPath: tooMany.1)).readSummary())
        #expect(summary.images.resumed == 9)
    }

    @Test func defaultComponentCountShrinksToTheImagesWithAWarning() throws {
        let input = try Self.inputTree()
        let (result, out) = try Self.extract(input, ["--format", "csv"])
        #expect(result.status == 0)
        #expect(result.standardError == "fruitfeatures: warning: 200 PCA components need more than 9 images; kept 8\n")
        #expect(try Self.csvRows(out + "/features.csv")[0].count == 2 + 8)
        #expect(!FileManager.default.fileExists(atPath: out + "/features.parquet"))
    }

    @Test func varianceShareChoosesTheComponentCount() throws {
        let input = try Self.inputTree()
        let (result, out) = try Self.extract(input, ["--variance", "0.5", "--uncentered"])
        #expect(result.status == 0, "\(result.standardError)")
        let model = try PCAModel(contentsOf: URL(fileURLWithPath: out + "/pca.h5"))
        let ratios = model.explainedVarianceRatio
        #expect(ratios.reduce(0, +) >= 0.5)
        #expect(ratios.dropLast().reduce(0, +) < 0.5)
        #expect(model.centring == .uncentred)
    }

    @Test func helpListsTheCommands() throws {
        let help = try CommandRunner.run(["--help"])
        #expect(help.status == 0)
        for command in ["extract", "transform", "inspect", "weights"] { #expect(help.standardOutput.contains("  \(command) ")) }
    }
}
