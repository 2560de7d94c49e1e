import ArgumentParser
import Foundation
import FruitFeatures

/// `fruitfeatures predict PHOTO… --model OUT_DIR`: the most likely labels of photos, by their nearest labelled images.
struct PredictCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "predict",
        abstract: "Name the fruit in photos: the most likely labels, with the nearest images of OUT_DIR and their distances.",
        discussion: """
            Each photo goes through the extract pipeline (MobileNetV2 with the run's weights, then OUT_DIR/pca.h5) \
            and is compared with every image of OUT_DIR/features.csv. Labels are ranked by their votes among the \
            --neighbors nearest images, then by the distance to their nearest image. A photo that cannot be read is \
            reported on stderr and the others are still answered; the exit status is then 3.
            """)

    @Argument(help: ArgumentHelp("Photos (JPEG files).", valueName: "photo"))
    var photos: [String]

    @Option(help: ArgumentHelp("An output folder of fruitfeatures extract.", valueName: "out-dir"))
    var model: String

    @Option(help: "How many labels to show per photo.")
    var top: Int = 5

    @Option(name: .customLong("neighbors"), help: "k: how many nearest images vote.")
    var neighbours: Int = 5

    @Option(help: ArgumentHelp(
        "The MobileNetV2 weights (default: the file summary.json names, else $FRUITFEATURES_WEIGHTS, else the Keras cache).",
        valueName: "file"))
    var weights: String?

    @Flag(help: "Print one JSON object per photo (JSON Lines) instead of text.")
    var json = false

    func validate() throws {
        guard !photos.isEmpty else { throw ValidationError("give at least one photo") }
        guard top >= 1 else { throw ValidationError("--top must be at least 1") }
        guard neighbours >= 1 else { throw ValidationError("--neighbors must be at least 1") }
    }

    func run() throws {
        let recognizer: FruitRecognizer
        do {
            recognizer = try FruitRecognizer(
                contentsOf: URL(fileURLWithPath: model), weights: weights.map { URL(fileURLWithPath: $0) },
                neighbourCount: neighbours)
        } catch {
            throw CLIFailure(error.description, code: .fatal)
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        var failures = 0
        var answered = 0
        for photo in photos {
            do {
                let recognition = try recognizer.recognize(photoAt: photo, labelCount: top)
                if json {
                    let data = try encoder.encode(recognition)
                    writeToStandardOutput(String(decoding: data, as: UTF8.self) + "\n")
                } else {
                    writeToStandardOutput((answered > 0 ? "\n" : "") + Self.formatted(recognition) + "\n")
                }
                answered += 1
            } catch let error as AnalysisError {
                failures += 1
                writeMessage("fruitfeatures: \(error.description)")
            } catch {
                failures += 1
                writeMessage("fruitfeatures: \(photo): \(error)")
            }
        }
        if failures > 0 {
            throw CLIFailure("\(failures) of \(photos.count) photos could not be read", code: .badImages)
        }
    }

    /// The text answer for one photo: the ranked labels, then the nearest images.
    static func formatted(_ recognition: Recognition) -> String {
        let k = recognition.neighbours.count
        let width = max(5, recognition.labels.map(\.label.count).max() ?? 0)
        func pad(_ text: String, _ length: Int) -> String { text + String(repeating: " ", count: max(0, length - text.count)) }
        var lines = ["\(recognition.photo): \(recognition.label)"]
        lines.append("  " + pad("label", width) + "  votes  nearest  nearest image")
        for score in recognition.labels {
            lines.append("  " + pad(score.label, width) + "  " + pad("\(score.votes)/\(k)", 5)
                         + String(format: "  %7.3f  ", score.nearestDistance) + score.nearestPath)
        }
        lines.append("  nearest images:")
        let labelWidth = max(5, recognition.neighbours.map(\.label.count).max() ?? 0)
        for (rank, neighbour) in recognition.neighbours.enumerated() {
            lines.append(String(format: "  %2d. %7.3f  ", rank + 1, neighbour.distance) + pad(neighbour.label, labelWidth)
                         + "  " + neighbour.path)
        }
        // Each line is one line: names are shown escaped (a newline in a name cannot fake an answer).
        return lines.map(DisplayText.escaped).joined(separator: "\n")
    }
}
