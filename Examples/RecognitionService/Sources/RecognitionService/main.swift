// Opens a finished `fruitfeatures extract` run once and answers photos from many concurrent tasks, as a
// service's request handlers would.
//
//     recognition-service OUT_DIR PHOTO...
//
// Prints one line per photo, in the order given: `PHOTO<TAB>LABEL<TAB>SHARE`, or `PHOTO<TAB>error<TAB>KIND: REASON`.
import FruitFeatures
import Foundation

let arguments = CommandLine.arguments.dropFirst()
guard let runFolder = arguments.first, arguments.count >= 2 else {
    FileHandle.standardError.write(Data("usage: recognition-service OUT_DIR PHOTO...\n".utf8))
    exit(64)
}
let photos = Array(arguments.dropFirst())

// One recognizer for the whole service: it is Sendable and safe to share between tasks. The weights are
// found by the library's one rule (the run's recorded file, $FRUITFEATURES_WEIGHTS, the Keras cache), each
// candidate checked against the run's SHA-256.
let recognizer: FruitRecognizer
do {
    recognizer = try FruitRecognizer(contentsOf: URL(fileURLWithPath: runFolder))
} catch {
    FileHandle.standardError.write(Data("recognition-service: \(error)\n".utf8))
    exit(1)
}

// Every photo in its own task, as concurrent requests would arrive. The library runs the network on its
// own threads, so these tasks do not tie up the cooperative pool while they wait.
let lines = await withTaskGroup(of: (Int, String).self) { group in
    for (index, photo) in photos.enumerated() {
        group.addTask {
            do {
                // A service holding the request's bytes calls recognize(encodedPhoto:name:labelCount:);
                // reading a file goes through the library's bounded reader (same size limit as extract).
                let answer = try recognizer.recognize(photoAt: photo, labelCount: 3)
                let share = answer.labels.first.map { String(format: "%.2f", $0.share) } ?? "-"
                return (index, "\(photo)\t\(answer.label)\t\(share)")
            } catch {
                // Typed throws: `error` is an AnalysisError, with a machine-readable kind.
                return (index, "\(photo)\terror\t\(error.kind): \(error.reason)")
            }
        }
    }
    var lines = [String](repeating: "", count: photos.count)
    for await (index, line) in group { lines[index] = line }
    return lines
}
print(lines.joined(separator: "\n"))
