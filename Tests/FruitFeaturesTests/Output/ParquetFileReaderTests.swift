import Foundation
import Testing
@testable import FruitFeatures

/// ``ParquetFileReader`` reads back what ``ParquetResultWriter`` writes, and what pyarrow writes with the same
/// schema (dictionary and plain encodings, data pages version 1 and 2, every codec the project uses).
@Suite struct ParquetFileReaderTests {
    static func identity(_ row: Int) -> ImageIdentity {
        ImageIdentity(sha256: String(format: "%064x", row * 7919 % 97), size: Int64(1000 + 37 * row),
                      modificationTimeNanoseconds: 1_700_000_000_123_456_789 + Int64(row) * 1_000_000_007)
    }

    /// Writes rows with the project's writer (every codec, identity columns, null rows, small row groups and
    /// pages) and reads every column back exactly.
    @Test(arguments: [ParquetCompression.snappy, .zstd, .uncompressed])
    func readsWhatTheWriterWrites(compression: ParquetCompression) throws {
        let directory = ParquetTestFiles.makeDirectory("ff-parquet-reader")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let file = directory + "/raw.parquet"
        let featureCount = 37
        let options = ParquetWriterOptions(compression: compression, rowGroupRowLimit: 50, pageByteLimit: 2000)
        let writer = try ParquetResultWriter(
            destination: file, featureCount: featureCount, options: options, metadata: ["fruitfeatures.test": "yes"],
            identityColumns: .sha256SizeAndModificationTime)
        var random = SeededGenerator(seed: 7)
        var expected: [[Float]?] = []
        let rowCount = 333
        for row in 0..<rowCount {
            let features: [Float]? = row % 41 == 3 ? nil : (0..<featureCount).map { _ in
                Float(bitPattern: UInt32(truncatingIfNeeded: random.next() >> 7) & 0x7F7F_FFFF)
            }
            expected.append(features)
            try writer.write(path: ParquetReaderTests.path(row), label: ParquetReaderTests.label(row), features: features,
                             identity: Self.identity(row))
        }
        try writer.finish()

        let reader = try ParquetFileReader(path: file)
        #expect(reader.rowCount == rowCount)
        #expect(reader.columnNames == ["path", "label", "features", "sha256", "size", "mtime_ns"])
        #expect(reader.keyValueMetadata["fruitfeatures.test"] == "yes")
        #expect(reader.keyValueMetadata[ParquetResultWriter.featureCountKey] == "37")
        #expect(try reader.strings("path") == (0..<rowCount).map(ParquetReaderTests.path))
        #expect(try reader.strings("label") == (0..<rowCount).map(ParquetReaderTests.label))
        #expect(try reader.strings("sha256") == (0..<rowCount).map { Self.identity($0).sha256 })
        #expect(try reader.int64s("size") == (0..<rowCount).map { Self.identity($0).size })
        #expect(try reader.int64s("mtime_ns") == (0..<rowCount).map { Self.identity($0).modificationTimeNanoseconds })
        let features = try reader.floatLists("features")
        #expect(features.count == rowCount)
        for (row, (got, want)) in zip(features, expected).enumerated() {
            #expect(got?.map(\.bitPattern) == want?.map(\.bitPattern), "row \(row)")
        }
    }

    @Test func readsTheNotebookColumnsAndAnEmptyFile() throws {
        let directory = ParquetTestFiles.makeDirectory("ff-parquet-reader")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let file = directory + "/features.parquet"
        let writer = try ParquetResultWriter(destination: file, featureCount: 2)
        try writer.write([FeatureRow(path: "a", label: "x", features: [1, -2]), FeatureRow(path: "b", label: "", features: [.infinity, 0])])
        try writer.finish()
        let reader = try ParquetFileReader(path: file)
        #expect(reader.columnNames == ["path", "label", "features"])
        #expect(try reader.floatLists("features") == [[1, -2], [.infinity, 0]])
        #expect(!reader.hasColumn("sha256"))
        #expect(throws: ParquetReadError.self) { try reader.strings("sha256") }
        #expect(throws: ParquetReadError.self) { try reader.strings("features") }

        let empty = directory + "/empty.parquet"
        let emptyWriter = try ParquetResultWriter(destination: empty, featureCount: 5, identityColumns: .sha256)
        try emptyWriter.finish()
        let emptyReader = try ParquetFileReader(path: empty)
        #expect(emptyReader.rowCount == 0)
        #expect(try emptyReader.strings("sha256") == [])
        #expect(try emptyReader.floatLists("features") == [])
    }

    /// Damaged files give errors naming the file, never a trap: every truncation and many flipped bytes.
    @Test func damagedFilesAreErrors() throws {
        let directory = ParquetTestFiles.makeDirectory("ff-parquet-reader")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let file = directory + "/good.parquet"
        let writer = try ParquetResultWriter(destination: file, featureCount: 3, identityColumns: .sha256SizeAndModificationTime)
        for row in 0..<20 {
            try writer.write(path: "p\(row)", label: "l", features: [1, 2, Float(row)], identity: Self.identity(row))
        }
        try writer.finish()
        let bytes = try Array(Data(contentsOf: URL(fileURLWithPath: file)))
        let damaged = directory + "/damaged.parquet"
        func readAll() throws {
            let reader = try ParquetFileReader(path: damaged)
            _ = try reader.strings("path")
            _ = try reader.strings("sha256")
            _ = try reader.int64s("size")
            _ = try reader.floatLists("features")
        }
        for length in stride(from: 0, to: bytes.count, by: 7) {
            try Data(bytes[..<length]).write(to: URL(fileURLWithPath: damaged))
            #expect(throws: ParquetReadError.self) { try readAll() }
        }
        var random = SeededGenerator(seed: 11)
        var failures = 0
        for _ in 0..<300 {
            var copy = bytes
            copy[Int(random.next() % UInt64(copy.count))] ^= UInt8(truncatingIfNeeded: random.next() | 1)
            try Data(copy).write(to: URL(fileURLWithPath: damaged))
            do { try readAll() } catch let error as ParquetReadError {
                #expect(error.path == damaged)
                failures += 1
            }
        }
        // Page checksums and the footer's structure catch most flips (a flip in a statistic may go unseen).
        #expect(failures > 100)
        #expect(throws: ParquetReadError.self) { try ParquetFileReader(path: directory + "/missing.parquet") }
        #expect(throws: ParquetReadError.self) { try ParquetFileReader(path: directory) }
    }

    /// pyarrow writes files with the same schema and the settings users meet; the reader gives exactly the
    /// values pyarrow reads back. And pyarrow reads the identity columns the project writes.
    @Test(.enabled(if: PythonRunner.isAvailable, "set FRUITFEATURES_PYTHON to a Python with pyarrow"))
    func readsFilesWrittenByPyarrow() throws {
        let directory = ParquetTestFiles.makeDirectory("ff-parquet-pyarrow")
        let script = ParquetTestFiles.repositoryRoot.appendingPathComponent("Scripts/parquet_reader_cases.py").path
        let written = try PythonRunner.runScript(script, arguments: ["write", directory])
        try #require(written.status == 0, "\(written.output)")
        let expected = try #require(JSONSerialization.jsonObject(
            with: Data(contentsOf: URL(fileURLWithPath: directory + "/expected.json"))) as? [[String: Any]])
        #expect(expected.count == 6)
        for entry in expected {
            let name = entry["name"] as? String ?? "?"
            let reader = try ParquetFileReader(path: entry["file"] as? String ?? "")
            let columns = entry["columns"] as? [String] ?? []
            #expect(reader.rowCount == entry["row_count"] as? Int, "\(name)")
            #expect(reader.columnNames == columns, "\(name)")
            for column in ["path", "label", "sha256"] where columns.contains(column) {
                let want = (entry[column] as? [Any] ?? []).map { $0 as? String }
                #expect(try reader.strings(column) == want, "\(name).\(column)")
            }
            for column in ["size", "mtime_ns"] where columns.contains(column) {
                let want = (entry[column] as? [Any] ?? []).map { ($0 as? NSNumber)?.int64Value }
                #expect(try reader.int64s(column) == want, "\(name).\(column)")
            }
            let want = (entry["features"] as? [Any] ?? []).map { value in
                (value as? [NSNumber])?.map { $0.uint32Value }
            }
            let got = try reader.floatLists("features").map { $0?.map(\.bitPattern) }
            #expect(got == want, "\(name).features")
        }

        // The other way round: pyarrow reads the identity columns as string and int64.
        let file = directory + "/ours.parquet"
        let writer = try ParquetResultWriter(
            destination: file, featureCount: 4, options: ParquetWriterOptions(compression: .zstd),
            identityColumns: .sha256SizeAndModificationTime)
        for row in 0..<10 {
            try writer.write(path: "p\(row)", label: "l\(row % 3)", features: row == 4 ? nil : [Float(row), 1, 2, 3],
                             identity: Self.identity(row))
        }
        try writer.finish()
        let dumped = try PythonRunner.runScript(script, arguments: ["dump", file])
        try #require(dumped.status == 0, "\(dumped.output)")
        let table = try #require(JSONSerialization.jsonObject(with: Data(dumped.output.utf8)) as? [String: Any])
        #expect(table["columns"] as? [String] == ["path", "label", "features", "sha256", "size", "mtime_ns"])
        let schema = table["schema"] as? String ?? ""
        #expect(schema.contains("sha256: string") && schema.contains("size: int64") && schema.contains("mtime_ns: int64"), "\(schema)")
        #expect(table["sha256"] as? [String] == (0..<10).map { Self.identity($0).sha256 })
        #expect((table["size"] as? [NSNumber])?.map(\.int64Value) == (0..<10).map { Self.identity($0).size })
        #expect((table["mtime_ns"] as? [NSNumber])?.map(\.int64Value)
                == (0..<10).map { Self.identity($0).modificationTimeNanoseconds })
        try? FileManager.default.removeItem(atPath: directory)
    }
}

extension PythonRunner {
    /// Runs `python script arguments…` (stdout only in the output, stderr appended after it on failure).
    static func runScript(_ script: String, arguments: [String]) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: ProcessInfo.processInfo.environment["FRUITFEATURES_PYTHON"] ?? "python3")
        process.arguments = [script] + arguments
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        let errorData = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        return Result(status: process.terminationStatus,
                      output: process.terminationStatus == 0 ? text : text + String(decoding: errorData, as: UTF8.self))
    }
}
