import SystemPackage

/// One finished batch as the checkpoint journal stores it: the outcome of each listed entry, in path order.
struct JournalRecord: Sendable, Equatable {
    /// The outcome of one listed entry.
    enum Entry: Sendable, Equatable {
        /// An image with features (they are in ``JournalRecord/features``, in entry order).
        case features(path: String, label: String)
        /// A file that could not be used, and why.
        case failure(path: String, reason: String)

        /// The path of the entry.
        var path: String {
            switch self {
            case .features(let path, _), .failure(let path, _): path
            }
        }
    }

    /// The outcomes, in path order.
    var entries: [Entry] = []
    // features: (number of .features entries, featureCount)
    var features: [Float] = []
    /// The content identity of each `.features` entry, in order; empty when the record carries none.
    var identities: [ImageIdentity] = []
    /// The `.features` entries (their index among them, ascending) whose features came out of the network in this
    /// run, rather than being reused: summary.json's network-pass count, and what a resumed run can copy.
    var networkRows: [Int] = []
    /// Seconds the batch spent reading, preprocessing and in the network (for summary.json).
    var readSeconds = 0.0
    var preprocessSeconds = 0.0
    var networkSeconds = 0.0
}

/// Why the journal cannot be read past some offset: a torn or damaged record (or an I/O error).
struct JournalDamage: Error, CustomStringConvertible {
    /// The byte offset of the first record that could not be read.
    var offset: Int
    /// What is wrong with it.
    var reason: String

    var description: String { "damaged record at byte \(offset): \(reason)" }
}

/// The checkpoint journal's file format.
///
/// A file is a sequence of records, one per finished batch:
/// `u32 payload length, u32 CRC-32 of the payload, payload`, all little-endian. The payload is
/// `u32 entry count, f64 read seconds, f64 preprocess seconds, f64 network seconds`, then per entry
/// `u8 kind (0 features, 1 failure, 2 features with identity, 3 features with identity computed by the network),
/// u32 length + UTF-8 path, u32 length + UTF-8 label or reason`, for kinds 0, 2 and 3 `featureCount × f32`, and
/// for kinds 2 and 3 `u32 length + hexadecimal SHA-256, i64 size, i64 modification time (ns)`. A record written
/// in part (the process was killed, the disk filled up) fails its length or CRC check, and so does everything
/// after it.
enum JournalFormat {
    /// The record header: length and CRC-32.
    static let headerSize = 8
    /// A record larger than this is taken for damage rather than allocated.
    static let maximumPayload = 1 << 30

    static func encode(_ record: JournalRecord, featureCount: Int) -> [UInt8] {
        var payload: [UInt8] = []
        payload.reserveCapacity(28 + record.entries.count * 64 + record.features.count * 4)
        append(UInt32(record.entries.count), to: &payload)
        for seconds in [record.readSeconds, record.preprocessSeconds, record.networkSeconds] {
            append(seconds.bitPattern, to: &payload)
        }
        var row = 0
        var networkRows = record.networkRows[...]
        for entry in record.entries {
            switch entry {
            case .features(let path, let label):
                let identity = row < record.identities.count ? record.identities[row] : nil
                let computed = networkRows.first == row
                if computed { networkRows.removeFirst() }
                payload.append(identity == nil ? 0 : computed ? 3 : 2)
                appendText(path, to: &payload)
                appendText(label, to: &payload)
                for value in record.features[(row * featureCount)..<((row + 1) * featureCount)] {
                    append(value.bitPattern, to: &payload)
                }
                if let identity {
                    appendText(identity.sha256, to: &payload)
                    append(UInt64(bitPattern: identity.size), to: &payload)
                    append(UInt64(bitPattern: identity.modificationTimeNanoseconds), to: &payload)
                }
                row += 1
            case .failure(let path, let reason):
                payload.append(1)
                appendText(path, to: &payload)
                appendText(reason, to: &payload)
            }
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(headerSize + payload.count)
        append(UInt32(payload.count), to: &bytes)
        append(payload.withUnsafeBytes { PageChecksum.crc32($0) }, to: &bytes)
        bytes.append(contentsOf: payload)
        return bytes
    }

    /// Parses a payload whose CRC has been checked; still bounds-checked, as the file is external data.
    static func decode(_ payload: [UInt8], featureCount: Int) -> JournalRecord? {
        var cursor = 0
        func take(_ count: Int) -> ArraySlice<UInt8>? {
            guard count >= 0, count <= payload.count - cursor else { return nil }
            defer { cursor += count }
            return payload[cursor..<(cursor + count)]
        }
        func integer<T: FixedWidthInteger>(_: T.Type) -> T? {
            guard let bytes = take(MemoryLayout<T>.size) else { return nil }
            return bytes.reversed().reduce(T(0)) { ($0 << 8) | T($1) }
        }
        func text() -> String? {
            guard let length = integer(UInt32.self), let bytes = take(Int(length)) else { return nil }
            return String(validating: bytes, as: UTF8.self)
        }
        guard let count = integer(UInt32.self), let read = integer(UInt64.self),
              let preprocess = integer(UInt64.self), let network = integer(UInt64.self) else { return nil }
        var record = JournalRecord(
            readSeconds: Double(bitPattern: read), preprocessSeconds: Double(bitPattern: preprocess),
            networkSeconds: Double(bitPattern: network))
        // Each entry takes at least 9 bytes: a cheap bound before reserving anything.
        guard Int(count) <= payload.count / 9 else { return nil }
        record.entries.reserveCapacity(Int(count))
        var failures = 0
        for _ in 0..<count {
            guard let kind = take(1)?.first, let path = text(), let second = text() else { return nil }
            switch kind {
            case 0, 2, 3:
                guard let values = take(featureCount * 4) else { return nil }
                var index = values.startIndex
                for _ in 0..<featureCount {
                    let bits = UInt32(values[index]) | UInt32(values[index + 1]) << 8
                        | UInt32(values[index + 2]) << 16 | UInt32(values[index + 3]) << 24
                    record.features.append(Float(bitPattern: bits))
                    index += 4
                }
                record.entries.append(.features(path: path, label: second))
                // Identities are all or nothing within a record: they are matched to rows by position.
                if kind != 0 {
                    guard record.identities.count == record.entries.count - 1 - failures,
                          let sha256 = text(), let size = integer(UInt64.self), let time = integer(UInt64.self) else { return nil }
                    if kind == 3 { record.networkRows.append(record.identities.count) }
                    record.identities.append(ImageIdentity(
                        sha256: sha256, size: Int64(bitPattern: size), modificationTimeNanoseconds: Int64(bitPattern: time)))
                } else if !record.identities.isEmpty {
                    return nil
                }
            case 1:
                record.entries.append(.failure(path: path, reason: second))
                failures += 1
            default:
                return nil
            }
        }
        return cursor == payload.count ? record : nil
    }

    /// Where each `.features` entry's features start in the encoded record (header included), in entry order:
    /// a later reader finds one row's features without decoding the record.
    static func featureOffsets(of record: JournalRecord, featureCount: Int) -> [Int] {
        var offsets: [Int] = []
        var offset = headerSize + 4 + 3 * 8
        var row = 0
        for entry in record.entries {
            switch entry {
            case .features(let path, let label):
                offset += 1 + 4 + path.utf8.count + 4 + label.utf8.count
                offsets.append(offset)
                offset += featureCount * 4
                if row < record.identities.count { offset += 4 + record.identities[row].sha256.utf8.count + 16 }
                row += 1
            case .failure(let path, let reason):
                offset += 1 + 4 + path.utf8.count + 4 + reason.utf8.count
            }
        }
        return offsets
    }

    private static func append<T: FixedWidthInteger>(_ value: T, to bytes: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    private static func appendText(_ text: String, to bytes: inout [UInt8]) {
        append(UInt32(text.utf8.count), to: &bytes)
        bytes.append(contentsOf: text.utf8)
    }
}

/// Appends records to the checkpoint journal, each one synced to disk before the next batch counts as done, and
/// reads features back from records already written.
final class CheckpointJournalWriter {
    let path: String
    let featureCount: Int
    private let descriptor: FileDescriptor
    /// The end of the last complete record.
    private(set) var length: Int

    /// Opens (or creates) the journal and cuts it to its first `length` bytes (the valid records).
    init(path: String, featureCount: Int, keepingFirst length: Int) throws(OutputError) {
        self.path = path
        self.featureCount = featureCount
        self.length = length
        do {
            // Non-blocking, so that a FIFO in its place fails instead of waiting for a reader; then it must be regular.
            descriptor = try FileDescriptor.open(
                FilePath(path), .readWrite, options: [.create, .closeOnExec, .nonBlocking],
                permissions: [.ownerReadWrite, .groupRead, .otherRead])
        } catch {
            throw OutputError(.create, path: path, reason: "cannot open the checkpoint journal: \(error)")
        }
        // From here on a failure closes the descriptor through deinit (self is fully initialised).
        do {
            let status = try SystemCalls.status(of: descriptor)
            guard status.kind == .regular else {
                throw OutputError(.create, path: path,
                                  reason: "cannot open the checkpoint journal: \(FileProblem(path, .notRegular(status.kind)).reasonText)")
            }
            try descriptor.resize(to: Int64(length))
            _ = try descriptor.seek(offset: Int64(length), from: .start)
        } catch let error as OutputError {
            throw error
        } catch {
            throw OutputError(.write, path: path, reason: "cannot cut the checkpoint journal to its valid records: \(error)")
        }
    }

    deinit { try? descriptor.close() }

    /// Appends one record and, unless `sync` is false, syncs it (and every record before it) to disk; returns the
    /// offset it starts at. On failure the journal is cut back to its previous end (when possible).
    ///
    /// An unsynced record may be lost or torn by a machine crash (not by a killed process); a resumed run then
    /// cuts the journal there and does that work again, so only records of cheap work should skip the sync.
    @discardableResult
    func append(_ record: JournalRecord, sync: Bool = true) throws(OutputError) -> Int {
        let bytes = JournalFormat.encode(record, featureCount: featureCount)
        var failure = bytes.withUnsafeBytes { raw -> String? in
            do throws(FileProblem) {
                try writeAll(raw, to: descriptor, path: path)
                return nil
            } catch {
                return "cannot write the checkpoint journal: \(error.reasonText)"
            }
        }
        if failure == nil && sync {
            do {
                try SystemCalls.syncData(descriptor)
            } catch {
                failure = "cannot sync the checkpoint journal: \(error)"
            }
        }
        if let failure {
            // A torn record would be cut off by a resumed run anyway; cutting it now keeps the file tidy.
            try? descriptor.resize(to: Int64(length))
            _ = try? descriptor.seek(offset: Int64(length), from: .start)
            throw OutputError(.write, path: path, reason: failure)
        }
        defer { length += bytes.count }
        return length
    }

    /// The `featureCount` features stored at `offset` (one of ``JournalFormat/featureOffsets(of:featureCount:)``
    /// added to a record's start), read back without moving the append position.
    func features(at offset: Int) throws(OutputError) -> [Float] {
        var bytes = [UInt8](repeating: 0, count: featureCount * 4)
        var done = 0
        while done < bytes.count {
            let count: Int
            do {
                count = try bytes.withUnsafeMutableBytes { raw in
                    try descriptor.read(
                        fromAbsoluteOffset: Int64(offset + done),
                        into: UnsafeMutableRawBufferPointer(rebasing: raw[done...]), retryOnInterrupt: true)
                }
            } catch {
                throw OutputError(.write, path: path, reason: "cannot read back the checkpoint journal: \(error)")
            }
            guard count > 0 else {
                throw OutputError(.write, path: path, reason: "cannot read back the checkpoint journal: it ends at byte \(offset + done)")
            }
            done += count
        }
        return (0..<featureCount).map { index in
            let at = index * 4
            return Float(bitPattern: UInt32(bytes[at]) | UInt32(bytes[at + 1]) << 8 | UInt32(bytes[at + 2]) << 16
                | UInt32(bytes[at + 3]) << 24)
        }
    }
}

/// Reads the checkpoint journal record by record.
final class CheckpointJournalReader {
    let path: String
    let featureCount: Int
    private let file: RegularFileReader
    /// The end of the last record read.
    private(set) var offset = 0

    /// Opens the journal; `nil` when it does not exist.
    init?(path: String, featureCount: Int) throws(OutputError) {
        do {
            file = try RegularFileReader(path: path, limit: nil)
        } catch {
            if case .system(.noSuchFileOrDirectory) = error.reason { return nil }
            throw OutputError(.create, path: path, reason: "cannot read the checkpoint journal: \(error.reasonText)")
        }
        self.path = path
        self.featureCount = featureCount
    }

    private var fileSize: Int { file.size }

    /// The next record; `nil` at the end of the file.
    /// - Throws: ``JournalDamage`` when the next record is torn or damaged.
    func next() throws(JournalDamage) -> JournalRecord? {
        if offset == fileSize { return nil }
        func damage(_ reason: String) -> JournalDamage { JournalDamage(offset: offset, reason: reason) }
        var header = [UInt8](repeating: 0, count: JournalFormat.headerSize)
        guard read(into: &header) else { throw damage("incomplete record header") }
        let length = Int(UInt32(header[0]) | UInt32(header[1]) << 8 | UInt32(header[2]) << 16 | UInt32(header[3]) << 24)
        let crc = UInt32(header[4]) | UInt32(header[5]) << 8 | UInt32(header[6]) << 16 | UInt32(header[7]) << 24
        guard length <= JournalFormat.maximumPayload, length <= fileSize - offset - JournalFormat.headerSize else {
            throw damage("record of \(length) bytes runs past the end of the file")
        }
        var payload = [UInt8](repeating: 0, count: length)
        guard read(into: &payload) else { throw damage("incomplete record") }
        guard payload.withUnsafeBytes({ PageChecksum.crc32($0) }) == crc else { throw damage("checksum mismatch") }
        guard let record = JournalFormat.decode(payload, featureCount: featureCount) else {
            throw damage("malformed record")
        }
        offset += JournalFormat.headerSize + length
        return record
    }

    private func read(into bytes: inout [UInt8]) -> Bool {
        let count = bytes.count
        guard count > 0 else { return true }
        return bytes.withUnsafeMutableBytes { raw in (try? file.readFully(into: raw)) == count }
    }
}
