import Foundation
import Testing
@testable import FruitFeatures

/// Speed of the analysis kernels; prints figures, asserts nothing about speed. Run with:
///
///     FRUITFEATURES_BENCHMARK=1 swift test -c release -Xswiftc -enable-testing --filter AnalysisBenchmarkTests
@Suite(.serialized, .enabled(if: ProcessInfo.processInfo.environment["FRUITFEATURES_BENCHMARK"] != nil))
struct AnalysisBenchmarkTests {
    static func seconds(_ body: () throws -> Void) rethrows -> Double {
        let start = DispatchTime.now().uptimeNanoseconds
        try body()
        return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }

    @Test func searchAndParsing() throws {
        let rows = 20000, k = 200
        let table = try AnalysisNearestNeighbourTests.randomTable(seed: 1, rows: rows, featureCount: k, labels: (0..<131).map { "l\($0)" })
        var sink: Float = 0
        let kernel = Self.seconds {
            table.values.withUnsafeBufferPointer { values in
                let base = values.baseAddress!
                for row in 0..<rows { sink += squaredEuclideanDistance(base, base + row * k, count: k) }
            }
        }
        print(String(format: "distance kernel: %.2f GFLOP/s (%.1f ms for %d rows)", Double(rows * k * 3) / kernel / 1e9, kernel * 1000, rows), sink)
        let classifier = try NearestNeighbourClassifier(training: table)
        let query = Array(table.features(ofRow: 5))
        let one = try Self.seconds { _ = try classifier.prediction(for: query) }
        print(String(format: "one prediction over %d rows: %.1f ms", rows, one * 1000))
        let queries = table.subset(Array(0..<500))
        let batch = try Self.seconds { _ = try classifier.predictedLabels(for: queries) }
        print(String(format: "500 predicted labels: %.1f ms (%.2f ms each)", batch * 1000, batch * 2))

        let directory = try makeScratchFolder("ff-bench")
        let writer = try CSVResultWriter(destination: directory + "/features.csv", featureCount: k)
        try writer.write(table.rows)
        try writer.finish()
        let parse = try Self.seconds { _ = try FeatureTable(contentsOfCSV: URL(fileURLWithPath: directory + "/features.csv")) }
        print(String(format: "features.csv of %d × %d: %.2f s", rows, k, parse))
    }

    @Test func loadingAndAnsweringAPhoto() async throws {
        let extraction = try await AnalysisFixture.extract(componentCount: 8)
        let hash = try Self.seconds { _ = try sha256HexDigest(ofFileAt: AnalysisFixture.weights.path) }
        var recognizer: FruitRecognizer?
        let load = try Self.seconds { recognizer = try FruitRecognizer(contentsOf: extraction.directory) }
        let photo = AnalysisFixture.nearCopies.appendingPathComponent("Apple_0_100_q70.jpg").path
        let first = try Self.seconds { _ = try recognizer?.recognize(photoAt: photo) }
        let again = try Self.seconds { for _ in 0..<10 { _ = try recognizer?.recognize(photoAt: photo) } } / 10
        print(String(format: "SHA-256 of the 14 MB weights: %.0f ms; loading a folder (weights, PCA, features): %.0f ms; "
                     + "first photo: %.0f ms; then %.1f ms per photo", hash * 1000, load * 1000, first * 1000, again * 1000))
    }
}
