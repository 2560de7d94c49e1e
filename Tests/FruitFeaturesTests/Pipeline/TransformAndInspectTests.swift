import Foundation
import Testing
@testable import FruitFeatures

@Suite struct TransformCommandTests {
    @Test func transformReproducesTheExtractedFeatures() throws {
        let input = try ExtractCommandTests.inputTree(extra: ["Kiwi/bad.jpg": [1, 2, 3]])
        let (extracted, out) = try ExtractCommandTests.extract(input, ["--components", "6"])
        #expect(extracted.status == 0, "\(extracted.standardError)")
        let expected = try ExtractCommandTests.csvRows(out + "/features.csv")

        let viaStdout = try CommandRunner.run(["transform", input + "/Apple/1_100.jpg", input + "/Lemon", "--model", out])
        #expect(viaStdout.status == 0, "\(viaStdout.standardError)")
        let rows = viaStdout.standardOutput.split(separator: "\n").map { $0.split(separator: ",").map(String.init) }
        #expect(rows[0] == expected[0])
        let wanted = [input + "/Apple/1_100.jpg"] + (0..<3).map { input + "/Lemon/\($0)_100.jpg" }
        #expect(rows.dropFirst().map { $0[0] } == wanted)
        for row in rows.dropFirst() {
            let reference = try #require(expected.first { $0[0] == row[0] })
            #expect(row[1] == reference[1])
            #expect(maxAbsoluteDifference(row[2...].compactMap(Float.init), reference[2...].compactMap(Float.init)) <= 1e-5)
        }

        let toFile = try makeScratchFolder() + "/new.csv"
        let written = try CommandRunner.run(["transform", input + "/Apple/1_100.jpg", "--model", out, "--output", toFile])
        #expect(written.status == 0)
        #expect(try String(contentsOfFile: toFile, encoding: .utf8) == viaStdout.standardOutput.split(separator: "\n").prefix(2).joined(separator: "\n") + "\n")

        let withBad = try CommandRunner.run(["transform", input + "/Kiwi", input + "/Apple/0_100.jpg", "--model", out])
        #expect(withBad.status == 3)
        #expect(withBad.standardError.contains("Kiwi/bad.jpg: not a JPEG"))
        #expect(withBad.standardOutput.split(separator: "\n").count == 2)
    }

    @Test func transformRefusesOtherWeightsAndUnfinishedFolders() throws {
        let input = try ExtractCommandTests.inputTree()
        let (_, out) = try ExtractCommandTests.extract(input, ["--components", "2"])
        let other = FixturePaths.root.appendingPathComponent("weights/variants/keras3_legacy_weights.h5").path
        let wrong = try CommandRunner.run(["transform", input + "/Apple/0_100.jpg", "--model", out, "--weights", other])
        #expect(wrong.status == 1)
        #expect(wrong.standardError.contains("are not those the PCA was fitted with"))
        let empty = try makeScratchFolder()
        let unfinished = try CommandRunner.run(["transform", input + "/Apple/0_100.jpg", "--model", empty])
        #expect(unfinished.status == 1)
        #expect(unfinished.standardError.contains("summary.json: no such file: not the output folder of a finished extraction"))
    }
}

@Suite struct InspectCommandTests {
    /// Keras's own parameter count for each alpha, from the layer shapes Scripts/make_keras_fixtures.py dumped.
    static func kerasParameterCount(alpha: String) throws -> Int {
        struct Entry: Decodable { let layer: String; let shapes: [[Int]] }
        let url = KerasGoldens.directory.appendingPathComponent("architecture_shapes.json")
        let all = try JSONDecoder().decode([String: [Entry]].self, from: Data(contentsOf: url))
        let layers = try #require(all[alpha])
        return layers.flatMap(\.shapes).map { $0.reduce(1, *) }.reduce(0, +)
    }

    @Test func inspectSummarisesTheFixtureWeights() throws {
        let path = FixturePaths.root.appendingPathComponent("weights/mobilenet_v2_1.0_224_random.h5").path
        let result = try CommandRunner.run(["inspect", path])
        #expect(result.status == 0, "\(result.standardError)")
        let lines = result.standardOutput.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines[0] == "File:      \(path)")
        #expect(lines[1].hasPrefix("Layout:    Keras 2 HDF5 (weight names with ':0'), weights only, "))
        #expect(lines[2] == "Model:     MobileNetV2, alpha 1.0, 17 inverted-residual blocks, 1280 features")
        #expect(lines[6].hasPrefix("Conv1                       3×3×3×32            864           128"))
        #expect(lines.filter { $0.hasPrefix("block_") }.count == 16 * 3)
        let total = try Self.kerasParameterCount(alpha: "1.0")
        let printed = try #require(lines.first { $0.hasPrefix("Backbone parameters: ") })
        let digits = printed.dropFirst("Backbone parameters: ".count).prefix { $0 != " " }.filter(\.isNumber)
        #expect(Int(digits) == total)
    }

    /// The layout line tells each saved form apart (the fixtures from Scripts/make_keras_fixtures.py).
    @Test(arguments: [
        ("keras3_legacy_weights.h5", "Keras 3 legacy HDF5, weights only"),
        ("keras3_whole_model.h5", "Keras 3 legacy HDF5, whole model (model_weights)"),
        ("classifier_nested_trainable.h5", "Keras 3 legacy HDF5, whole model (model_weights), MobileNetV2 nested in layer "),
        ("classifier_flat.h5", "Keras 3 legacy HDF5, whole model (model_weights), "),
        ("keras2_chunked_attributes.h5", "Keras 2 HDF5 (weight names with ':0'), weights only"),
    ])
    func inspectNamesTheLayout(_ file: String, _ layout: String) throws {
        let path = FixturePaths.root.appendingPathComponent("weights/variants/\(file)").path
        let result = try CommandRunner.run(["inspect", path])
        #expect(result.status == 0, "\(result.standardError)")
        let line = result.standardOutput.split(separator: "\n").dropFirst().first.map(String.init) ?? ""
        #expect(line.hasPrefix("Layout:    " + layout), "\(line)")
        if file == "classifier_flat.h5" { #expect(!line.contains("nested"), "\(line)") }
    }

    @Test func inspectNamesTheFileOfABrokenWeightsFile() throws {
        let path = FixturePaths.root.appendingPathComponent("weights/variants/broken_wrong_shape.h5").path
        let result = try CommandRunner.run(["inspect", path])
        #expect(result.status == 1)
        #expect(result.standardError.hasPrefix("fruitfeatures: error: "))
        #expect(result.standardError.contains("broken_wrong_shape.h5"))
    }
}
