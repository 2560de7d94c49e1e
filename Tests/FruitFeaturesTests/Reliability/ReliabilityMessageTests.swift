import Foundation
import Testing
@testable import FruitFeatures

/// What the tool says about hostile names and bad files (Docs/reliability.md, "Messages").
@Suite struct ReliabilityMessageTests {
    /// A name with a newline, a carriage return, a tab and a terminal escape sequence (clear screen).
    static let hostileName = "evil\nfruitfeatures: error: fake\r\t\u{1B}[2J\u{7F}.jpg"

    @Test func controlCharactersAreMadeVisible() {
        #expect(DisplayText.escaped(Self.hostileName) == "evil\\nfruitfeatures: error: fake\\r\\t\\x1B[2J\\x7F.jpg")
        #expect(DisplayText.escaped("\u{9B}31m \u{202E}gpj.exe \u{2028}") == "\\u{009B}31m \\u{202E}gpj.exe \\u{2028}")
        // Everything else is left as it is.
        let plain = "Äpfel/Öl, \"quoted\" \\ back\\slash 🍎 ß.jpg"
        #expect(DisplayText.escaped(plain) == plain)
        #expect(DisplayText.escaped("") == "")
    }

    /// Checks that a child's stderr holds only whole, visible lines: no raw control character but the line ends.
    static func expectVisibleLines(_ text: String, _ context: String, sourceLocation: SourceLocation = #_sourceLocation) {
        let raw = text.unicodeScalars.filter { $0 != "\n" && ($0.value < 0x20 || $0.value == 0x7F) }
        #expect(raw.isEmpty, "\(context): raw control characters in \(text.debugDescription)", sourceLocation: sourceLocation)
        for line in text.split(separator: "\n") {
            #expect(line.hasPrefix("fruitfeatures: "), "\(context): a line split off: \(line.debugDescription)",
                    sourceLocation: sourceLocation)
        }
    }

    @Test func hostileNamesArePrintedEscapedInEveryMessage() async throws {
        let run = try await AnalysisFixture.extract(componentCount: 3)
        let folder = try makeScratchFolder("ff-names") + "/Apple"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let bad = folder + "/" + Self.hostileName
        try Data("not a photo".utf8).write(to: URL(fileURLWithPath: bad))

        let transform = try SpawnedCommand(["transform", folder, "--model", run.directory.path, "--glob", "*"]).finish()
        #expect(transform.status == 1)
        Self.expectVisibleLines(transform.standardError, "transform")
        #expect(transform.standardError.contains(DisplayText.escaped(bad)), "\(transform.standardError)")

        let predict = try SpawnedCommand(["predict", bad, "--model", run.directory.path]).finish()
        #expect(predict.status == 3)
        Self.expectVisibleLines(predict.standardError, "predict")
        #expect(predict.standardError.contains(DisplayText.escaped(bad)))

        let missing = folder + "/no\u{1B}]0;title\u{7}such"
        for arguments in [["extract", missing, "--output", folder + "/out", "--weights", Reliability.weights],
                          ["inspect", missing], ["report", missing], ["evaluate", missing],
                          ["weights", "locate", "--weights", missing]] {
            let result = try SpawnedCommand(arguments).finish()
            #expect(result.status == 1, "\(arguments[0]): \(result.standardError)")
            Self.expectVisibleLines(result.standardError, arguments[0])
            #expect(result.standardError.contains(DisplayText.escaped(missing)), "\(arguments[0]): \(result.standardError)")
        }
    }

    @Test func aBadPCAFileIsNamedOnce() async throws {
        let run = try await AnalysisFixture.extract(componentCount: 3)
        let out = run.directory.path
        let photo = try #require(run.photo("Apple/0_100.jpg"))
        let pca = try ExtractionRun(directory: run.directory).pcaModelFile.path
        let original = try Data(contentsOf: URL(fileURLWithPath: pca))
        let damaged: [(String, Data)] = [
            ("not HDF5", Data("not a model".utf8)),
            ("truncated", original.prefix(original.count / 2)),
            ("another HDF5 file", try Data(contentsOf: FixturePaths.root.appendingPathComponent("hdf5/types.h5"))),
        ]
        for (name, bytes) in damaged {
            try bytes.write(to: URL(fileURLWithPath: pca))
            for arguments in [["predict", photo, "--model", out], ["transform", photo, "--model", out], ["report", out]] {
                let result = try SpawnedCommand(arguments).finish()
                #expect(result.status == 1, "\(name), \(arguments[0]): \(result.standardError)")
                #expect(result.standardError.components(separatedBy: pca).count == 2,
                        "\(name), \(arguments[0]): \(result.standardError)")
            }
        }
    }

    @Test func weightsLocateFailsForWhatExtractCannotUse() throws {
        let scratch = try makeScratchFolder("ff-locate")
        let empty = scratch + "/empty.h5"
        FileManager.default.createFile(atPath: empty, contents: Data())
        let jpeg = FixturePaths.root.appendingPathComponent("images/Apple/0_100.jpg").path
        let otherHDF5 = ReliabilitySizeLimitTests.hostile("pca_seed.h5").path
        for (candidate, says) in [(scratch, "is a folder, not a file"), (empty, "an empty file, not a weights file"),
                                  (jpeg, "not an HDF5 file"), (otherHDF5, "no Keras weights")] {
            let result = try SpawnedCommand(["weights", "locate", "--weights", candidate]).finish()
            #expect(result.status == 1, "\(candidate): \(result.standardOutput)")
            #expect(result.standardOutput.isEmpty)
            #expect(result.standardError.contains(says), "\(candidate): \(result.standardError)")
        }
        let good = try SpawnedCommand(["weights", "locate", "--weights", Reliability.weights]).finish()
        #expect(good.status == 0)
        #expect(good.standardOutput == Reliability.weights + "\n")
    }
}
