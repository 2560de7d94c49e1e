import Foundation
import Testing
@testable import FruitFeatures

/// summary.json, evaluation.json and evaluation_heldout.json read back as untrusted input (Docs/reliability.md,
/// "Our own files"): a tampered field is a clear error naming the file and the field, never a trap.
@Suite struct ReliabilitySummaryTests {
    /// A step into a JSON value: a key of an object or an index of an array.
    enum Step: Sendable, CustomStringConvertible {
        case key(String)
        case index(Int)
        var description: String {
            switch self {
            case .key(let key): key
            case .index(let index): "[\(index)]"
            }
        }
    }

    /// `root` with the value at `path` replaced by `value` (removed when nil); unchanged when the path is absent.
    static func replacing(_ root: Any, at path: ArraySlice<Step>, with value: Any?) -> Any? {
        guard let step = path.first else { return value }
        switch step {
        case .key(let key):
            guard var object = root as? [String: Any] else { return root }
            if path.count == 1 {
                object[key] = value
            } else if let child = object[key] {
                object[key] = replacing(child, at: path.dropFirst(), with: value)
            }
            return object
        case .index(let index):
            guard var array = root as? [Any], array.indices.contains(index) else { return root }
            if path.count == 1 {
                if let value { array[index] = value } else { array.remove(at: index) }
            } else {
                array[index] = replacing(array[index], at: path.dropFirst(), with: value) ?? NSNull()
            }
            return array
        }
    }

    static func path(_ dotted: String) -> [Step] {
        dotted.split(separator: ".").flatMap { part -> [Step] in
            var steps: [Step] = []
            var name = Substring(part)
            var indices: [Int] = []
            while let open = name.lastIndex(of: "["), name.hasSuffix("]"), let index = Int(name[name.index(after: open)..<name.index(before: name.endIndex)]) {
                indices.insert(index, at: 0)
                name = name[..<open]
            }
            steps.append(.key(String(name)))
            return steps + indices.map(Step.index)
        }
    }

    /// One tampered field of summary.json and the field the error must name.
    struct Tampering: Sendable, CustomStringConvertible {
        var path: String
        var value: @Sendable () -> Any?
        var field: String
        var description: String { "\(path) → \(String(describing: value()))" }
        init(_ path: String, _ value: @autoclosure @escaping @Sendable () -> Any?, names field: String? = nil) {
            self.path = path
            self.value = value
            self.field = field ?? path
        }
    }

    static let otherDigest = String(repeating: "ab", count: 32)

    static let tamperings: [Tampering] = [
        Tampering("images.processed", -1),
        Tampering("images.processed", 0),
        Tampering("images.processed", 1_000_000, names: "images.processed"),   // more than found
        Tampering("images.found", Int.max),
        Tampering("images.failed", Int.min),
        Tampering("images.failed", 1e30),                                       // not an Int
        Tampering("images.resumed", -7),
        Tampering("images.processed", "many"),
        Tampering("images", nil),                                               // missing
        Tampering("images_per_second", -5.0),
        Tampering("seconds.total", -1.0),
        Tampering("seconds.pca_fit", "slow"),
        Tampering("pca.components", 0),
        Tampering("pca.components", 5000),
        Tampering("pca.components", Int.max),
        Tampering("pca.explained_variance[2]", nil, names: "pca.explained_variance"),   // one value short
        Tampering("pca.explained_variance_ratio[0]", 1e308),
        Tampering("pca.explained_variance_ratio[1]", -0.25),
        Tampering("pca.explained_variance_ratio", [0.9, 0.9, 0.9]),
        Tampering("pca.explained_variance[0]", -3.0),
        Tampering("pca.explained_variance_ratio_total", 2.0),
        Tampering("pca.explained_variance_ratio_total", 0.0),                   // not the sum of the ratios
        Tampering("feature_model.input_size", 5),
        Tampering("feature_model.input_size", 1 << 40),
        Tampering("feature_model.feature_count", 0),
        Tampering("feature_model.feature_count", 1 << 50),
        Tampering("feature_model.alpha", 1e300),
        Tampering("feature_model.alpha", -1.0),
        Tampering("feature_model.architecture", ""),
        Tampering("feature_model.preprocessing", String(repeating: "p", count: 5000)),
        Tampering("feature_model.weights_sha256", otherDigest),
        Tampering("feature_model.kernel_level", 3),
        Tampering("weights.sha256", "abc"),
        Tampering("weights.path", String(repeating: "a/", count: 4000)),
        Tampering("weights.path", "a\u{0}b"),
        Tampering("weights.alpha", 1e300),
        Tampering("weights.alpha", 0.0),
        Tampering("input", ""),
        Tampering("input_absolute", String(repeating: "x", count: 10_000)),
        Tampering("version", 5),
        Tampering("settings.formats", ["exe"], names: "settings.formats[0]"),
        Tampering("settings.formats", [String](repeating: "csv", count: 1000)),
        Tampering("settings.formats", [String]()),
        Tampering("settings.compression", "lzma"),
        Tampering("settings.batch_size", 0),
        Tampering("settings.jobs", -3),
        Tampering("settings.components", 99_999),
        Tampering("settings.variance", 2.5),
        Tampering("settings.glob", String(repeating: "*", count: 100_000)),
        Tampering("warnings", [String](repeating: "w", count: 5000)),
        Tampering("warnings", [String(repeating: "w", count: 100_000)], names: "warnings[0]"),
        Tampering("duplicates.groups", -1),
        Tampering("duplicates.label_conflicts", 99),
        Tampering("duplicates", ["groups": 1, "files": 1, "label_conflicts": 0], names: "duplicates.files"),
        Tampering("update", ["reused": 1, "new": 0, "changed": 0, "moved": 0, "removed": -4, "failed": 0,
                             "network_passes": 0, "pca": "refit"] as [String: Any], names: "update.removed"),
        Tampering("update", ["reused": 1, "new": 0, "changed": 0, "moved": 0, "removed": 0, "failed": 0,
                             "network_passes": 0, "pca": "maybe"] as [String: Any], names: "update.pca"),
    ]

    static func writeJSON(_ root: Any, to url: URL) throws {
        try JSONSerialization.data(withJSONObject: root, options: [.sortedKeys]).write(to: url)
    }

    @Test func eachTamperedSummaryFieldIsNamed() async throws {
        let extraction = try await AnalysisFixture.extract(componentCount: 3)
        let run = try ExtractionRun(directory: extraction.directory)
        let file = run.summaryFile
        let original = try Data(contentsOf: file)
        let root = try JSONSerialization.jsonObject(with: original)
        // The file as extract wrote it passes every check, including the feature model's.
        #expect(try run.readSummary()?.featureModel?.architecture == "mobilenet_v2")
        #expect(try run.readSummary()?.pca.components == 3)

        for tampering in Self.tamperings {
            let edited = try #require(Self.replacing(root, at: Self.path(tampering.path)[...], with: tampering.value()))
            try Self.writeJSON(edited, to: file)
            let error = #expect(throws: AnalysisError.self, "\(tampering)") {
                try ExtractionRun(directory: extraction.directory).readSummary()
            }
            #expect(error?.kind == .malformed, "\(tampering)")
            #expect(error?.path == file.path, "\(tampering)")
            #expect(error?.reason.hasPrefix("not the summary of a finished extraction: field \(tampering.field)") == true,
                    "\(tampering): \(error?.reason.prefix(300) ?? "")")
        }

        // Through the command: one line naming the file and the field, exit 1, no signal.
        for tampering in [Tampering("weights.alpha", 1e300), Tampering("pca.components", Int.max)] {
            var edited = try #require(Self.replacing(root, at: Self.path(tampering.path)[...], with: tampering.value()))
            if tampering.path == "weights.alpha" {
                // A run made before feature_model: its feature count comes from the alpha (a trap before it was checked).
                edited = try #require(Self.replacing(edited, at: [.key("feature_model")], with: nil))
            }
            try Self.writeJSON(edited, to: file)
            let exit = try SpawnedCommand(["report", extraction.directory.path]).finish()
            #expect(exit.signal == nil, "\(tampering): killed by signal \(exit.signal ?? 0)")
            #expect(exit.status == 1, "\(tampering): \(exit.standardError)")
            #expect(exit.standardError == "fruitfeatures: error: \(file.path): not the summary of a finished extraction: "
                    + "field \(tampering.field): \(tampering.path == "weights.alpha" ? "1e+300 is not a width multiplier in (0, 4.0]" : "\(Int.max) is not in 1…1280 (the feature count)")\n",
                    "\(exit.standardError)")
        }
        try original.write(to: file)
        #expect(try SpawnedCommand(["report", extraction.directory.path]).finish().status == 0)
    }

    /// Replacement values a mutation draws from: the edges of every JSON type.
    static func hostileValue(_ generator: inout SeededGenerator) -> Any? {
        let values: [Any?] = [
            nil, NSNull(), 0, -1, 1, 2, 3, Int.max, Int.min, Int.max - 1, 1 << 48, (1 << 48) + 1, 1e308, -1e308, 5e-324,
            0.5, 1.0000001, -0.0, 1e30, "", "x", String(repeating: "é", count: 3000), String(repeating: "z", count: 70_000),
            "a\u{0}b", "\u{1B}[2J", true, false, [Any](), [String: Any](), [1, 2, 3], [Double](repeating: 0.5, count: 10_000),
            ["a": 1], String(repeating: "0", count: 64), "mobilenet_v3_large", "keras_mobilenet_v3", "zstd", "parquet",
        ]
        return values[generator.int(0...(values.count - 1))] ?? nil
    }

    /// Every path to a value in `root` (objects and arrays included), so a mutation can hit any of them.
    static func allPaths(_ root: Any, prefix: [Step] = []) -> [[Step]] {
        var paths: [[Step]] = prefix.isEmpty ? [] : [prefix]
        if let object = root as? [String: Any] {
            for key in object.keys.sorted() { paths += allPaths(object[key]!, prefix: prefix + [.key(key)]) }
        } else if let array = root as? [Any] {
            for index in array.indices.prefix(4) { paths += allPaths(array[index], prefix: prefix + [.index(index)]) }
        }
        return paths
    }

    /// One random mutation of a JSON file's bytes: a value replaced or removed (one to three times), or the text
    /// itself damaged (a byte changed, cut short, a number made huge, nesting made deep).
    static func mutate(_ original: Data, _ generator: inout SeededGenerator) throws -> Data {
        let root = try JSONSerialization.jsonObject(with: original)
        switch generator.int(0...9) {
        case 0...5:
            var edited: Any = root
            let paths = allPaths(root)
            for _ in 0...generator.int(0...2) {
                let path = paths[generator.int(0...(paths.count - 1))]
                edited = replacing(edited, at: path[...], with: hostileValue(&generator)) ?? edited
            }
            return try JSONSerialization.data(withJSONObject: edited, options: [.sortedKeys])
        case 6:
            var bytes = [UInt8](original)
            for _ in 0...generator.int(0...3) { bytes[generator.int(0...(bytes.count - 1))] = UInt8(truncatingIfNeeded: generator.next()) }
            return Data(bytes)
        case 7:
            return original.prefix(generator.int(0...(original.count - 1)))
        case 8:
            // A number JSON can spell but no field can hold.
            let text = String(decoding: original, as: UTF8.self)
            let numbers = ["1e999", "-1e999", "123456789012345678901234567890", "1e-400", "-0", "9223372036854775808"]
            let number = numbers[generator.int(0...(numbers.count - 1))]
            let digits = text.indices.filter { text[$0].isNumber }
            guard let at = digits.isEmpty ? nil : digits[generator.int(0...(digits.count - 1))] else { return original }
            return Data((String(text[..<at]) + number + String(text[text.index(after: at)...])).utf8)
        default:
            // Deep nesting in place of one value: the decoders must refuse it, not recurse until the stack ends.
            let depth = [100, 1000, 100_000][generator.int(0...2)]
            let text = String(decoding: original, as: UTF8.self)
            let nested = String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
            guard let colon = text.firstIndex(of: ":") else { return original }
            let end = text[colon...].firstIndex(where: { $0 == "," || $0 == "}" }) ?? text.endIndex
            return Data((String(text[...colon]) + nested + String(text[end...])).utf8)
        }
    }

    /// Reads everything `report` and `evaluate` read from a run, and builds the page: returns normally or throws a
    /// typed error; a trap ends the whole test run.
    static func exercise(_ directory: URL) -> AnalysisError? {
        do throws(AnalysisError) {
            let run = try ExtractionRun(directory: directory)
            if let summary = try run.readSummary() {
                _ = summary.featureModelIdentity
            }
            _ = try run.readEvaluation()?.formatted()
            _ = try run.readHeldOutEvaluation()?.formatted()
            _ = try ReportPage(folder: run).html()
            return nil
        } catch {
            return error
        }
    }

    @Test func randomMutationsOfOurJSONFilesNeverTrap() async throws {
        let extraction = try await AnalysisFixture.extract(componentCount: 3)
        let run = try ExtractionRun(directory: extraction.directory)
        // evaluation.json as evaluate writes it, and a held-out evaluation with one mistake.
        let features = try run.readFeatures()
        try CrossValidation(neighbourCount: 1, foldCount: 3, seed: 7).evaluate(features).write(to: run.evaluationFile)
        let truth = features.labels
        var predicted = truth
        predicted[0] = truth.last!
        let heldOut = HeldOutEvaluation(
            neighbourCount: 1, testDirectory: "/test", rowCount: truth.count, trainingRowCount: truth.count,
            report: try ClassificationReport(trueLabels: truth, predictedLabels: predicted),
            misclassified: [.init(path: "/test/a.jpg", label: truth[0], predicted: predicted[0])],
            failed: [], notes: [], version: fruitFeaturesVersion)
        try heldOut.write(to: run.heldOutEvaluationFile)
        #expect(Self.exercise(extraction.directory) == nil)

        let files = [run.summaryFile, run.evaluationFile, run.heldOutEvaluationFile]
        let originals = try files.map { try Data(contentsOf: $0) }
        var generator = SeededGenerator(seed: 0x5EED_0018)
        var refused = 0
        let rounds = 600
        for round in 0..<rounds {
            let which = generator.int(0...2)
            let mutated = try Self.mutate(originals[which], &generator)
            try mutated.write(to: files[which])
            if let error = Self.exercise(extraction.directory) {
                refused += 1
                // A typed error that names a file of the run (the one mutated, or one a changed summary disagrees with).
                #expect(error.path != nil, "round \(round): \(error)")
                #expect(!error.reason.isEmpty, "round \(round)")
            }
            try originals[which].write(to: files[which])
        }
        // Most mutations break something; the loop proves nothing if they all pass.
        #expect(refused > rounds / 3, "only \(refused) of \(rounds) mutations were refused")
        #expect(Self.exercise(extraction.directory) == nil)
    }

    @Test func aTamperedHeldOutEvaluationIsAClearErrorNeverACrash() async throws {
        let extraction = try await AnalysisFixture.extract(componentCount: 3)
        let run = try ExtractionRun(directory: extraction.directory)
        let truth = try run.readFeatures().labels
        var predicted = truth
        predicted[0] = truth.last!
        try HeldOutEvaluation(
            neighbourCount: 1, testDirectory: "/test", rowCount: truth.count, trainingRowCount: truth.count,
            report: try ClassificationReport(trueLabels: truth, predictedLabels: predicted),
            misclassified: [.init(path: "/test/a.jpg", label: truth[0], predicted: predicted[0])],
            failed: [], notes: [], version: fruitFeaturesVersion
        ).write(to: run.heldOutEvaluationFile)
        let file = run.heldOutEvaluationFile
        let root = try JSONSerialization.jsonObject(with: Data(contentsOf: file))
        let tamperings: [(String, Any?, String)] = [
            ("row_count", Int.min, "row_count"),             // rowCount − misclassified overflowed in the report
            ("neighbour_count", 0, "neighbour_count"),
            ("training_row_count", -1, "training_row_count"),
            ("report.accuracy", 7.5, "report.accuracy"),
            ("report.confusion_matrix[0]", nil, "report.confusion_matrix"),
            ("report.sample_count", Int.max, "report.confusion_matrix"),
            ("report.per_label[0].recall", -1.0, "report.per_label[0].recall"),
            ("report.labels", [String](), "report.labels"),
            ("test_directory", String(repeating: "t", count: 10_000), "test_directory"),
        ]
        for (path, value, field) in tamperings {
            try Self.writeJSON(try #require(Self.replacing(root, at: Self.path(path)[...], with: value)), to: file)
            let error = #expect(throws: AnalysisError.self, "\(path)") { try HeldOutEvaluation(contentsOf: file) }
            #expect(error?.path == file.path)
            #expect(error?.reason.hasPrefix("not a valid held-out evaluation (\(field)") == true, "\(path): \(error?.reason ?? "")")
            #expect(error?.reason.hasSuffix("run fruitfeatures evaluate --test again") == true)
        }
        let exit = try SpawnedCommand(["report", extraction.directory.path]).finish()
        #expect(exit.signal == nil && exit.status == 1, "\(exit.standardError)")
        #expect(exit.standardError.hasPrefix("fruitfeatures: error: \(file.path): not a valid held-out evaluation ("))
    }
    @Test func aTamperedCheckpointManifestIsRefusedNeverTrusted() throws {
        let output = try makeScratchFolder("ff-manifest")
        let manifest = CheckpointManifest(
            version: fruitFeaturesVersion, input: "/in", glob: "*.jpg", weightsSHA256: String(repeating: "a", count: 64),
            featureCount: 1280, inputSize: 224)
        let directory = output + "/" + ExtractionOutput.checkpoint
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let file = URL(fileURLWithPath: directory + "/" + ExtractionCheckpoint.manifestName)
        let original = try JSONSerialization.jsonObject(with: JSONEncoder().encode(manifest))
        // Every field is compared with the manifest of the run resuming it: a tampered one is a mismatch, named.
        let edits: [(String, Any?, String)] = [
            ("featureCount", Int.max, "it holds 9223372036854775807 features per image at input size 224, not 1280 at 224"),
            ("featureCount", 1e30, "is unreadable: field featureCount: "),
            ("inputSize", -1, "at input size -1"),
            ("input", String(repeating: "x", count: 100_000), "it was made from the input 'xxxx"),
            ("format", 99, "its format (99) is not the one this version writes (\(manifest.format))"),
            ("weightsSHA256", "", "it was made with other weights (SHA-256 unknown)"),
            ("glob", nil, "is unreadable: field glob is missing"),
            ("version", [1, 2], "is unreadable: field version: "),
        ]
        for (key, value, words) in edits {
            let edited = try #require(Self.replacing(original, at: [.key(key)], with: value))
            try Self.writeJSON(edited, to: file)
            #expect {
                _ = try ExtractionCheckpoint.open(in: output, manifest: manifest, resume: true)
            } throws: { error in
                guard case .cannotResume(let folder, let reason)? = error as? ExtractionError else { return false }
                return folder == output && reason.contains(words)
            }
        }
        // Larger than any manifest can be: refused before it is read.
        try Data(repeating: 0x20, count: FileSizeLimit.summary + 1).write(to: file)
        #expect {
            _ = try ExtractionCheckpoint.open(in: output, manifest: manifest, resume: true)
        } throws: { error in
            "\(error)".contains("cannot read the checkpoint manifest") && "\(error)".contains("limit")
        }
        // The manifest as written opens.
        try Self.writeJSON(original, to: file)
        #expect(try ExtractionCheckpoint.open(in: output, manifest: manifest, resume: true).completed.isEmpty)
    }
}
