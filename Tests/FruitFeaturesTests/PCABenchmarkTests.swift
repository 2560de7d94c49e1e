import Foundation
import Testing
@testable import FruitFeatures

/// Speed figures for PCA and the CSV writer at the pipeline's sizes (1280-d in, k = 200 out).
/// Prints figures, asserts nothing about speed. Run with:
///
///     FRUITFEATURES_BENCHMARK=1 swift test -c release -Xswiftc -enable-testing --filter PCABenchmarkTests
@Suite(.serialized, .enabled(if: ProcessInfo.processInfo.environment["FRUITFEATURES_BENCHMARK"] != nil))
struct PCABenchmarkTests {
    static let d = 1280, rows = 4096, batch = 64, k = 200

    static func data() -> [Float] {
        var generator = SeededGenerator(seed: 7)
        return (0..<(rows * d)).map { _ in Float(max(generator.normal() + 0.5, 0)) }
    }

    static func seconds(_ body: () throws -> Void) rethrows -> Double {
        let start = DispatchTime.now().uptimeNanoseconds
        try body()
        return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }

    @Test func pcaAtRawFeatureSize() throws {
        let (d, rows, batch, k) = (Self.d, Self.rows, Self.batch, Self.k)
        let data = Self.data()
        var statistics = try PCAAccumulator(dimension: d)
        let accumulate = try Self.seconds {
            for start in stride(from: 0, to: rows, by: batch) {
                try statistics.add(Array(data[(start * d)..<((start + batch) * d)]), rowCount: batch)
            }
        }
        var model: PCAModel?
        let fitTop = try Self.seconds { model = try LAPACKPCA(components: .count(k)).fit(statistics) }
        let fitAll = try Self.seconds { _ = try LAPACKPCA(components: .varianceShare(0.95)).fit(statistics) }
        let fitted = try #require(model)
        let project = try Self.seconds { _ = try fitted.project(data, rowCount: rows) }
        print(String(format: "PCA d=%d: accumulate %.0f rows/s (batches of %d; state %.1f MB), fit k=%d (dsyevr) %.2f s, "
                     + "fit by variance share (dsyevd) %.2f s, project %.0f rows/s",
                     d, Double(rows) / accumulate, batch, Double(d * d * 8) / 1e6, k, fitTop, fitAll, Double(rows) / project))
        #expect(fitted.componentCount == k)
    }

    @Test(arguments: [200, 1280])
    func csvWriting(featureCount: Int) throws {
        let data = Self.data()
        let rows = (0..<1024).map { i in
            FeatureRow(path: "/data/fruits/Apple/img_\(i).jpg", label: "Apple",
                       features: Array(data[(i * Self.d)..<(i * Self.d + featureCount)]))
        }
        let destination = NSTemporaryDirectory() + "ff-bench-\(UUID().uuidString).csv"
        let writer = try CSVResultWriter(destination: destination, featureCount: featureCount)
        let time = try Self.seconds {
            for start in stride(from: 0, to: rows.count, by: 64) { try writer.write(Array(rows[start..<(start + 64)])) }
            try writer.finish()
        }
        let size = (try FileManager.default.attributesOfItem(atPath: destination)[.size] as? Int) ?? 0
        try? FileManager.default.removeItem(atPath: destination)
        print(String(format: "CSV %d features: %.0f rows/s, %.1f MB/s, %.0f bytes/row",
                     featureCount, Double(rows.count) / time, Double(size) / time / 1e6, Double(size) / Double(rows.count)))
        #expect(size > 0)
    }
}
