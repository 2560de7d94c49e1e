import Foundation
import Testing
@testable import FruitFeatures

/// The Parquet writer's own behaviour: file framing, validation, atomicity and failures.
@Suite final class ParquetWriterTests {
    let directory = ParquetTestFiles.makeDirectory("ff-parquet-writer")

    deinit { try? FileManager.default.removeItem(atPath: directory) }

    @Test func fileIsFramedByMagicAndFooterLength() throws {
        let destination = directory + "/framed.parquet"
        let writer = try ParquetResultWriter(destination: destination, featureCount: 2)
        try writer.write([FeatureRow(path: "a.jpg", label: "a", features: [1, 2])])
        try writer.finish()
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: destination)))
        #expect(Array(bytes.prefix(4)) == Array("PAR1".utf8))
        #expect(Array(bytes.suffix(4)) == Array("PAR1".utf8))
        let length = bytes[(bytes.count - 8)..<(bytes.count - 4)].reversed().reduce(0) { $0 << 8 | Int($1) }
        // Magic, at least one page, footer, length, magic.
        #expect(length > 0 && 4 + length + 8 < bytes.count)
        #expect(writer.rowCount == 1)
    }

    @Test func wrongFeatureCountIsRejectedAndTheWriterStaysUsable() throws {
        let destination = directory + "/rejects.parquet"
        let writer = try ParquetResultWriter(destination: destination, featureCount: 3)
        let good = FeatureRow(path: "good.jpg", label: "x", features: [1, 2, 3])
        let bad = FeatureRow(path: "bad.jpg", label: "x", features: [1, 2])
        #expect(throws: OutputError.self) { try writer.write([good, bad]) }
        #expect(writer.rowCount == 0, "a batch with a bad row writes nothing")
        do {
            try writer.write(path: "bad.jpg", label: "x", features: [1, 2, 3, 4])
            Issue.record("a row with 4 features was accepted")
        } catch {
            #expect(error.kind == .invalidRow)
            #expect(error.path == destination)
            #expect(error.description.contains("bad.jpg"))
        }
        try writer.write([good])
        try writer.write(path: "null.jpg", label: "x", features: nil)
        try writer.finish()
        #expect(writer.rowCount == 2)
        #expect(FileManager.default.fileExists(atPath: destination))
    }

    @Test func discardAndDroppingLeaveNothing() throws {
        let discarded = directory + "/discarded.parquet"
        let writer = try ParquetResultWriter(destination: discarded, featureCount: 1)
        try writer.write([FeatureRow(path: "a", label: "b", features: [0])])
        writer.discard()
        #expect(throws: OutputError.self) { try writer.write([FeatureRow(path: "a", label: "b", features: [0])]) }
        #expect(throws: OutputError.self) { try writer.finish() }

        do {
            let dropped = try ParquetResultWriter(destination: directory + "/dropped.parquet", featureCount: 1)
            try dropped.write(path: "a", label: "b", features: [1])
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory).isEmpty)
    }

    @Test func usingAFinishedWriterFails() throws {
        let writer = try ParquetResultWriter(destination: directory + "/done.parquet", featureCount: 1)
        try writer.finish()
        do {
            try writer.write(path: "late", label: "b", features: [1])
            Issue.record("writing after finish was accepted")
        } catch {
            #expect(error.kind == .closed)
        }
    }

    @Test func badSettingsAreRejectedBeforeAnythingIsCreated() {
        let destination = directory + "/never.parquet"
        let attempts: [(Int, ParquetWriterOptions, [String: String])] = [
            (0, ParquetWriterOptions(), [:]),
            (3, ParquetWriterOptions(compression: .zstd, zstdLevel: 99), [:]),
            (3, ParquetWriterOptions(rowGroupByteLimit: 0), [:]),
            (3, ParquetWriterOptions(rowGroupRowLimit: 0), [:]),
            (3, ParquetWriterOptions(pageByteLimit: 0), [:]),
            (3, ParquetWriterOptions(), [ParquetResultWriter.featureCountKey: "7"]),
        ]
        for (featureCount, options, metadata) in attempts {
            do {
                _ = try ParquetResultWriter(destination: destination, featureCount: featureCount,
                                            options: options, metadata: metadata)
                Issue.record("accepted feature count \(featureCount), \(options), \(metadata)")
            } catch {
                #expect(error.kind == .create)
            }
        }
        #expect((try? FileManager.default.contentsOfDirectory(atPath: directory))?.isEmpty == true)
    }

    @Test func aFullDiskFailsTheWriteAndLeavesNothing() throws {
        let destination = directory + "/full.parquet"
        // Small row groups, so row groups reach the file (and its 1 MiB buffer fills) while rows arrive.
        let writer = try ParquetResultWriter(
            destination: destination, featureCount: 1280,
            options: ParquetWriterOptions(compression: .uncompressed, rowGroupByteLimit: 100_000))
        try writer.redirectFileForTesting(to: "/dev/full")
        let features = [Float](repeating: 0.5, count: 1280)
        var failure: OutputError?
        for index in 0..<1000 where failure == nil {
            do {
                try writer.write(path: "\(index).jpg", label: "x", features: features)
            } catch {
                failure = error
            }
        }
        #expect(failure?.kind == .write)
        #expect(throws: OutputError.self) { try writer.finish() }
        #expect(!FileManager.default.fileExists(atPath: destination))
    }
}

/// Shared pieces of the Parquet tests: temporary folders and the repository root.
enum ParquetTestFiles {
    static func makeDirectory(_ prefix: String) -> String {
        let path = TestScratch.root + "/\(prefix)-\(UUID().uuidString)"
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// The repository root: this file is Tests/FruitFeaturesTests/Output/<file>.
    static let repositoryRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
}
