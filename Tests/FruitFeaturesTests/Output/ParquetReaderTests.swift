import Foundation
import Testing
@testable import FruitFeatures

/// Parquet files written by ``ParquetResultWriter`` must read back exactly in pyarrow, pandas, DuckDB and
/// Spark. The files cover several row groups and pages, every codec, unicode paths with commas, quotes
/// and newlines, null feature lists, special floats, an empty file, and k = 1280.
///
/// Runs when FRUITFEATURES_PYTHON names a Python with pyarrow, pandas, duckdb and pyspark (Scripts/test.sh
/// sets it to the repository's .venv); FRUITFEATURES_PARQUET_READERS may restrict the readers
/// (for example `pyarrow,pandas,duckdb` to skip Spark's start-up while iterating locally).
@Suite struct ParquetReaderTests {
    static let python = ProcessInfo.processInfo.environment["FRUITFEATURES_PYTHON"]

    /// One file to write and check.
    struct Case {
        var name: String
        var featureCount: Int
        var rowCount: Int
        var options: ParquetWriterOptions
        var nullRows: Set<Int> = []
        var minimumRowGroups = 1
        var metadata: [String: String] = [:]
        /// Write through `write(_ rows:)` in batches rather than row by row.
        var batched = false
    }

    static let cases: [Case] = [
        // k = 1280 raw features; ~77 rows per row group and several pages per column chunk.
        Case(name: "snappy_k1280", featureCount: 1280, rowCount: 300,
             options: ParquetWriterOptions(compression: .snappy, rowGroupByteLimit: 400_000, pageByteLimit: 64 << 10),
             nullRows: [17, 250], minimumRowGroups: 3,
             metadata: ["fruitfeatures.model": "MobileNetV2 1.00 224"]),
        // Many small row groups and pages, special floats, a null row every 97.
        Case(name: "zstd_k7", featureCount: 7, rowCount: 1000,
             options: ParquetWriterOptions(compression: .zstd, zstdLevel: 9, rowGroupRowLimit: 128, pageByteLimit: 1024),
             nullRows: Set(stride(from: 0, to: 1000, by: 97)), minimumRowGroups: 8),
        Case(name: "uncompressed_k3_no_checksums", featureCount: 3, rowCount: 20,
             options: ParquetWriterOptions(compression: .uncompressed, writesPageChecksums: false),
             nullRows: [19]),
        Case(name: "snappy_k200_defaults_batched", featureCount: 200, rowCount: 50,
             options: ParquetWriterOptions(), batched: true),
        Case(name: "zstd_k1280_defaults", featureCount: 1280, rowCount: 40,
             options: ParquetWriterOptions(compression: .zstd), nullRows: [0]),
        Case(name: "all_null_k4", featureCount: 4, rowCount: 3,
             options: ParquetWriterOptions(), nullRows: [0, 1, 2]),
        Case(name: "empty_k200", featureCount: 200, rowCount: 0,
             options: ParquetWriterOptions(), minimumRowGroups: 0),
    ]

    @Test(.enabled(if: python != nil, "set FRUITFEATURES_PYTHON to a Python with pyarrow, pandas, duckdb and pyspark"))
    func externalReadersReadEveryFile() throws {
        let directory = ParquetTestFiles.makeDirectory("ff-parquet-readers")
        var specs: [[String: Any]] = []
        for testCase in Self.cases {
            specs.append(try Self.write(testCase, into: directory))
        }
        let expectedPath = directory + "/expected.json"
        try JSONSerialization.data(withJSONObject: ["files": specs], options: [.prettyPrinted, .sortedKeys])
            .write(to: URL(fileURLWithPath: expectedPath))

        let script = ParquetTestFiles.repositoryRoot.appendingPathComponent("Scripts/check_parquet.py").path
        var arguments = [script, expectedPath]
        if let readers = ProcessInfo.processInfo.environment["FRUITFEATURES_PARQUET_READERS"] {
            arguments += ["--readers", readers]
        }
        let (status, output) = try Self.run(Self.python ?? "python3", arguments, log: directory + "/check.log")
        #expect(status == 0, "check_parquet.py failed:\n\(output.suffix(8000))")
        if status == 0 { try? FileManager.default.removeItem(atPath: directory) }
    }

    // MARK: Test data

    static let pathStems = [
        "fruits/apple/",
        "fruits/Äpfel, \"rot\"/",
        "fruits/梨/line\nbreak ",
        "fruits/🍌 banana/tab\there,",
        "C:\\images\\quote'single ",
        "",
    ]
    static let labels = ["apple", "Äpfel, \"rot\"", "梨", "🍌 banana", "", "line\nbreak", "z,\"\r\n"]

    static func path(_ row: Int) -> String { pathStems[row % pathStems.count] + "\(row).jpg" }
    static func label(_ row: Int) -> String { labels[(row / 7) % labels.count] }

    /// Deterministic features: mostly ordinary values, some arbitrary bit patterns, and in row 1 the
    /// special values (signed zeros, infinities, NaN, subnormals, extremes).
    static func features(row: Int, count: Int, random: inout SeededGenerator) -> [Float] {
        let specials: [Float] = [-0.0, 0.0, .infinity, -.infinity, .nan, .leastNonzeroMagnitude,
                                 -.leastNormalMagnitude, .greatestFiniteMagnitude, -.greatestFiniteMagnitude,
                                 Float(bitPattern: 0x0000_1234)]
        return (0..<count).map { index in
            if row == 1 { return specials[index % specials.count] }
            let bits = random.next()
            if bits % 10 == 0 {
                let value = Float(bitPattern: UInt32(truncatingIfNeeded: bits >> 20))
                return value.isNaN ? .nan : value  // one NaN bit pattern, the canonical quiet NaN
            }
            return Float(Int32(truncatingIfNeeded: bits >> 32)) / Float(1 << 28)
        }
    }

    /// Writes one case and returns its entry for EXPECTED.json (plus the raw float file beside it).
    static func write(_ testCase: Case, into directory: String) throws -> [String: Any] {
        let file = directory + "/\(testCase.name).parquet"
        let writer = try ParquetResultWriter(destination: file, featureCount: testCase.featureCount,
                                             options: testCase.options, metadata: testCase.metadata)
        var random = SeededGenerator(seed: UInt64(testCase.rowCount * 31 + testCase.featureCount))
        var paths: [String] = []
        var rowLabels: [String] = []
        var rawFeatures = Data()
        var batch: [FeatureRow] = []
        for row in 0..<testCase.rowCount {
            let values = features(row: row, count: testCase.featureCount, random: &random)
            let isNull = testCase.nullRows.contains(row)
            paths.append(path(row))
            rowLabels.append(label(row))
            let stored = isNull ? [Float](repeating: 0, count: testCase.featureCount) : values
            stored.forEach { value in withUnsafeBytes(of: value.bitPattern.littleEndian) { rawFeatures.append(contentsOf: $0) } }
            if testCase.batched && !isNull {
                batch.append(FeatureRow(path: path(row), label: label(row), features: values))
                if batch.count == 16 {
                    try writer.write(batch)
                    batch.removeAll()
                }
            } else {
                try writer.write(batch)
                batch.removeAll()
                try writer.write(path: path(row), label: label(row), features: isNull ? nil : values)
            }
        }
        try writer.write(batch)
        try writer.finish()
        let featuresFile = directory + "/\(testCase.name).f32"
        try rawFeatures.write(to: URL(fileURLWithPath: featuresFile))
        let compression = switch testCase.options.compression {
        case .uncompressed: "UNCOMPRESSED"
        case .snappy: "SNAPPY"
        case .zstd: "ZSTD"
        }
        return [
            "file": file,
            "feature_count": testCase.featureCount,
            "compression": compression,
            "page_checksums": testCase.options.writesPageChecksums,
            "min_row_groups": testCase.minimumRowGroups,
            "metadata": testCase.metadata.merging([ParquetResultWriter.featureCountKey: String(testCase.featureCount)]) { $1 },
            "paths": paths,
            "labels": rowLabels,
            "null_rows": testCase.nullRows.sorted(),
            "features_file": featuresFile,
        ]
    }

    /// Runs a command with stdout and stderr going to `log`; returns its status and output.
    static func run(_ executable: String, _ arguments: [String], log: String) throws -> (Int32, String) {
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        defer { try? handle.close() }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        process.waitUntilExit()
        let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        return (process.terminationStatus, output)
    }
}
