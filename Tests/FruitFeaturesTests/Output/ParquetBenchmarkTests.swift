import Foundation
import Testing
@testable import FruitFeatures

/// Prints the Parquet writer's throughput and memory; measures, asserts nothing about speed.
///
///     FRUITFEATURES_BENCHMARK=1 swift test -c release -Xswiftc -enable-testing --filter ParquetBenchmark
///
/// Writes 1280-feature rows of random values (their generation included in the time) with each
/// codec: 4,000, 16,000 and 48,000 rows. The peak resident memory (reset before each run) grows
/// with the row-group size (64 MiB by default), not with the number of rows: from 16,000 rows on
/// (more than one row group) it should plateau near the row-group size above the baseline.
@Suite struct ParquetBenchmark {
    @Test(.enabled(if: ProcessInfo.processInfo.environment["FRUITFEATURES_BENCHMARK"] != nil))
    func writeThroughputAndPeakMemory() throws {
        let directory = ParquetTestFiles.makeDirectory("ff-parquet-benchmark")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let featureCount = 1280
        var random = SeededGenerator(seed: 3)
        var features = [Float](repeating: 0, count: featureCount)
        Self.resetPeakResidentMemory()
        print(String(format: "resident memory before writing: %.0f MB", Self.peakResidentMegabytes()))
        print("rows\tcodec\tseconds\tMB/s (float data)\tfile MB\tpeak RSS MB")
        for rows in [4000, 16000, 48000] {
            for compression in ParquetCompression.allCases {
                let destination = directory + "/bench-\(compression.rawValue).parquet"
                Self.resetPeakResidentMemory()
                let start = Date()
                let writer = try ParquetResultWriter(
                    destination: destination, featureCount: featureCount,
                    options: ParquetWriterOptions(compression: compression))
                for row in 0..<rows {
                    // Pooled ReLU6 activations are non-negative and mostly small: [0, 6) skewed to 0.
                    for index in 0..<featureCount {
                        let u = Float(random.next() >> 40) / Float(1 << 24)
                        features[index] = 6 * u * u * u
                    }
                    try writer.write(path: "fruits/label\(row % 131)/image-\(row).jpg",
                                     label: "label\(row % 131)", features: features)
                }
                try writer.finish()
                let seconds = Date().timeIntervalSince(start)
                let megabytes = Double(rows * featureCount * 4) / 1e6
                let fileSize = (try FileManager.default.attributesOfItem(atPath: destination)[.size] as? Int) ?? 0
                print(String(format: "%d\t%@\t%.2f\t%.0f\t%.1f\t%.0f", rows, compression.rawValue, seconds,
                             megabytes / seconds, Double(fileSize) / 1e6, Self.peakResidentMegabytes()))
                try FileManager.default.removeItem(atPath: destination)
            }
        }
    }

    /// Resets the kernel's peak-RSS mark (VmHWM) to the current RSS, so each run's peak is its own.
    static func resetPeakResidentMemory() {
        try? "5".write(toFile: "/proc/self/clear_refs", atomically: false, encoding: .utf8)
    }

    /// The peak resident set size since the last reset (VmHWM in /proc/self/status).
    static func peakResidentMegabytes() -> Double {
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") }
        let kilobytes = line?.split(separator: " ").dropFirst().first.flatMap { Double($0) } ?? .nan
        return kilobytes / 1024
    }
}
