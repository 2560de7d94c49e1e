import Foundation
import Testing
@testable import FruitFeatures

/// The checkpoint journal keeps every complete record and nothing torn, whatever the damage.
@Suite struct ReliabilityCheckpointJournalTests {
    static let featureCount = 5

    static func records(count: Int, seed: UInt64) -> [JournalRecord] {
        var random = SeededGenerator(seed: seed)
        return (0..<count).map { index in
            var record = JournalRecord(readSeconds: Double(index) * 0.25, preprocessSeconds: 1.5, networkSeconds: .pi)
            for entry in 0..<(1 + index % 4) {
                if (index + entry) % 3 == 2 {
                    record.entries.append(.failure(path: "dir/bad \(index),\"\(entry)\".jpg", reason: "corrupt JPEG: ünïcødé\nline"))
                } else {
                    record.entries.append(.features(path: "dir/🍎 \(index)-\(entry).jpg", label: index % 2 == 0 ? "Apple" : ""))
                    record.features += (0..<featureCount).map { _ in Float.random(in: -1e6...1e6, using: &random) }
                }
            }
            if index == 1 { record.features[0] = .nan }
            return record
        }
    }

    static func read(_ path: String) throws -> (records: [JournalRecord], offset: Int, damage: JournalDamage?) {
        guard let reader = try CheckpointJournalReader(path: path, featureCount: featureCount) else { return ([], 0, nil) }
        var records: [JournalRecord] = []
        do {
            while let record = try reader.next() { records.append(record) }
            return (records, reader.offset, nil)
        } catch {
            return (records, reader.offset, error)
        }
    }

    @Test func recordsRoundTrip() throws {
        let path = try makeScratchFolder() + "/journal"
        let records = Self.records(count: 6, seed: 1)
        let writer = try CheckpointJournalWriter(path: path, featureCount: Self.featureCount, keepingFirst: 0)
        for record in records { try writer.append(record) }
        let (read, offset, damage) = try Self.read(path)
        #expect(damage == nil)
        #expect(offset == writer.length)
        #expect(read.count == records.count)
        for (a, b) in zip(read, records) {
            #expect(a.entries == b.entries)
            #expect(a.features.map(\.bitPattern) == b.features.map(\.bitPattern))
            #expect(a.readSeconds == b.readSeconds && a.preprocessSeconds == b.preprocessSeconds && a.networkSeconds == b.networkSeconds)
        }
        #expect(try CheckpointJournalReader(path: path + ".none", featureCount: 1) == nil)
    }

    /// Rows marked as computed by the network come back marked, and each row's features can be read back from
    /// the journal at the offset the format gives for it.
    @Test func networkRowsRoundTripAndFeaturesAreReadBackInPlace() throws {
        let path = try makeScratchFolder() + "/journal"
        var records = Self.records(count: 5, seed: 4)
        for index in records.indices {
            var row = 0
            for entry in records[index].entries {
                guard case .features = entry else { continue }
                records[index].identities.append(ImageIdentity(
                    sha256: String(repeating: "\(row % 10)", count: 64), size: Int64(index * 100 + row),
                    modificationTimeNanoseconds: -Int64(row)))
                if (index + row) % 2 == 0 { records[index].networkRows.append(row) }
                row += 1
            }
        }
        let writer = try CheckpointJournalWriter(path: path, featureCount: Self.featureCount, keepingFirst: 0)
        var starts: [Int] = []
        for record in records { starts.append(try writer.append(record)) }
        let (read, _, damage) = try Self.read(path)
        #expect(damage == nil)
        #expect(read.count == records.count)
        for (a, b) in zip(read, records) {
            #expect(a.entries == b.entries && a.identities == b.identities && a.networkRows == b.networkRows)
            #expect(a.features.map(\.bitPattern) == b.features.map(\.bitPattern))
        }
        for (record, start) in zip(records, starts) {
            let offsets = JournalFormat.featureOffsets(of: record, featureCount: Self.featureCount)
            #expect(offsets.count == record.identities.count)
            for (row, offset) in offsets.enumerated() {
                let expected = record.features[(row * Self.featureCount)..<((row + 1) * Self.featureCount)]
                #expect(try writer.features(at: start + offset).map(\.bitPattern) == expected.map(\.bitPattern))
            }
        }
    }

    /// A journal cut at any byte (a crash mid-write) keeps exactly the records that were complete, and
    /// a writer reopened on it continues right after them.
    @Test func aJournalCutAnywhereKeepsItsCompleteRecords() throws {
        let folder = try makeScratchFolder()
        let path = folder + "/journal"
        let records = Self.records(count: 4, seed: 2)
        var ends: [Int] = []
        let writer = try CheckpointJournalWriter(path: path, featureCount: Self.featureCount, keepingFirst: 0)
        for record in records {
            try writer.append(record)
            ends.append(writer.length)
        }
        let whole = try Data(contentsOf: URL(fileURLWithPath: path))
        for length in 0...whole.count {
            let cut = folder + "/cut"
            try whole.prefix(length).write(to: URL(fileURLWithPath: cut))
            let (read, offset, damage) = try Self.read(cut)
            let complete = ends.filter { $0 <= length }.count
            #expect(read.count == complete, "cut at \(length)")
            #expect(offset == (complete == 0 ? 0 : ends[complete - 1]))
            #expect((damage == nil) == (length == offset), "cut at \(length)")
        }

        // Reopened on a torn journal: the tail goes, the next record follows the last complete one.
        try whole.prefix(ends[1] + 7).write(to: URL(fileURLWithPath: path))
        let reopened = try CheckpointJournalWriter(path: path, featureCount: Self.featureCount, keepingFirst: ends[1])
        try reopened.append(records[2])
        try reopened.append(records[3])
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == whole)
    }

    /// Damage inside the file (a flipped bit, a wild length) stops reading at the damaged record.
    @Test func damagedRecordsAreDetected() throws {
        let folder = try makeScratchFolder()
        let path = folder + "/journal"
        let records = Self.records(count: 3, seed: 3)
        var ends: [Int] = []
        let writer = try CheckpointJournalWriter(path: path, featureCount: Self.featureCount, keepingFirst: 0)
        for record in records {
            try writer.append(record)
            ends.append(writer.length)
        }
        let whole = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        var random = SeededGenerator(seed: 4)
        for _ in 0..<300 {
            var bytes = whole
            let position = Int.random(in: 0..<bytes.count, using: &random)
            bytes[position] ^= 1 << UInt8.random(in: 0...7, using: &random)
            let damaged = folder + "/damaged"
            try Data(bytes).write(to: URL(fileURLWithPath: damaged))
            let (read, offset, damage) = try Self.read(damaged)
            let hit = ends.firstIndex { position < $0 } ?? 0
            #expect(read.count == hit, "bit flip at \(position)")
            #expect(offset == (hit == 0 ? 0 : ends[hit - 1]))
            #expect(damage != nil)
        }
        // A length field claiming more than the file holds is damage, not an allocation.
        let wild = folder + "/wild"
        try Data([0xFF, 0xFF, 0xFF, 0x7F, 0, 0, 0, 0] + [UInt8](repeating: 0, count: 16)).write(to: URL(fileURLWithPath: wild))
        #expect(try Self.read(wild).damage?.reason == "record of 2147483647 bytes runs past the end of the file")
    }

    @Test func malformedPayloadsAreRefusedEvenWithAGoodChecksum() {
        let good = JournalFormat.encode(Self.records(count: 1, seed: 5)[0], featureCount: Self.featureCount)
        let payload = Array(good[JournalFormat.headerSize...])
        #expect(JournalFormat.decode(payload, featureCount: Self.featureCount) != nil)
        for length in 0..<payload.count {
            #expect(JournalFormat.decode(Array(payload.prefix(length)), featureCount: Self.featureCount) == nil)
        }
        #expect(JournalFormat.decode(payload + [0], featureCount: Self.featureCount) == nil)
        var badKind = payload
        badKind[28] = 7
        #expect(JournalFormat.decode(badKind, featureCount: Self.featureCount) == nil)
        var hugeCount = payload
        hugeCount[0...3] = [0xFF, 0xFF, 0xFF, 0xFF]
        #expect(JournalFormat.decode(hugeCount, featureCount: Self.featureCount) == nil)
    }

    /// Every field a resumed run must share with the checkpoint is compared, and named when it differs.
    @Test func aManifestMismatchNamesTheDifference() {
        let base = CheckpointManifest(
            version: "1.0", input: "photos", glob: "*.jpg", weightsSHA256: "ab", featureCount: 1280, inputSize: 224)
        #expect(base.mismatch(with: base) == nil)
        var other = base
        other.version = "1.1"
        #expect(base.mismatch(with: other) == "it was made by fruitfeatures 1.0, not 1.1")
        other = base
        other.input = "./photos"
        #expect(base.mismatch(with: other) == "it was made from the input 'photos', not './photos'")
        other = base
        other.glob = "*.jpeg"
        #expect(base.mismatch(with: other) == "it was made with --glob '*.jpg', not '*.jpeg'")
        other = base
        other.weightsSHA256 = "cd"
        #expect(base.mismatch(with: other) == "it was made with other weights (SHA-256 ab)")
        var unknown = base
        unknown.weightsSHA256 = ""
        #expect(unknown.mismatch(with: unknown) == "it was made with other weights (SHA-256 unknown)")
        other = base
        other.inputSize = 160
        #expect(base.mismatch(with: other) == "it holds 1280 features per image at input size 224, not 1280 at 160")
        other = base
        other.format = base.format + 1
        #expect(base.mismatch(with: other) == "its format (\(base.format)) is not the one this version writes (\(base.format + 1))")
    }
}
