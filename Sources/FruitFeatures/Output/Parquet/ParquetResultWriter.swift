/// How a ``ParquetResultWriter`` lays out and compresses its file.
public struct ParquetWriterOptions: Sendable, Equatable {
    /// The page codec; Snappy by default, as Spark writes.
    public var compression: ParquetCompression
    /// The Zstandard level when ``compression`` is ``ParquetCompression/zstd``.
    public var zstdLevel: Int
    /// A row group is closed once its uncompressed data reaches this many bytes; it bounds the
    /// writer's memory, which holds one row group.
    public var rowGroupByteLimit: Int
    /// A row group is closed once it holds this many rows.
    public var rowGroupRowLimit: Int
    /// A data page is closed once its uncompressed data reaches this many bytes (pages end on row
    /// boundaries, so a single large row can exceed it).
    public var pageByteLimit: Int
    /// Whether page headers carry the CRC-32 of the page, which readers can verify.
    public var writesPageChecksums: Bool

    /// Creates options; the defaults suit files of any size.
    public init(
        compression: ParquetCompression = .snappy,
        zstdLevel: Int = 3,
        rowGroupByteLimit: Int = 64 << 20,
        rowGroupRowLimit: Int = 1 << 20,
        pageByteLimit: Int = 1 << 20,
        writesPageChecksums: Bool = true
    ) {
        self.compression = compression
        self.zstdLevel = zstdLevel
        self.rowGroupByteLimit = rowGroupByteLimit
        self.rowGroupRowLimit = rowGroupRowLimit
        self.pageByteLimit = pageByteLimit
        self.writesPageChecksums = writesPageChecksums
    }
}

/// Which content-identity columns a ``ParquetResultWriter`` adds after `features`.
public enum ParquetIdentityColumns: Sendable, Equatable {
    /// None: the notebook's three columns.
    case none
    /// `sha256: string`, the hexadecimal SHA-256 of the image's bytes (features.parquet).
    case sha256
    /// `sha256: string`, `size: int64` and `mtime_ns: int64` (raw_features.parquet, what `--update` compares).
    case sha256SizeAndModificationTime

    var columnCount: Int {
        switch self {
        case .none: 0
        case .sha256: 1
        case .sha256SizeAndModificationTime: 3
        }
    }
}

/// Writes feature rows to one Parquet file with the columns `path: string`, `label: string` and
/// `features: list<float>` — the schema of the reference notebook's output, as Spark writes it.
///
/// The Parquet schema is
/// ```
/// message schema {
///   optional binary path (STRING);
///   optional binary label (STRING);
///   optional group features (LIST) {
///     repeated group list {
///       optional float element;
///     }
///   }
/// }
/// ```
/// which pyarrow reads as `list<element: float>`, DuckDB as `FLOAT[]` and Spark as `array<float>`.
/// Every row holds exactly ``featureCount`` features, or a null list (see
/// ``write(path:label:features:)``).
///
/// Rows are buffered, encoded and compressed one row group at a time, so memory is bounded by
/// ``ParquetWriterOptions/rowGroupByteLimit``, not by the number of rows. The file appears at
/// ``destination`` only when ``finish()`` succeeds; until then it is a hidden temporary sibling that
/// ``discard()``, a failure, or dropping the writer removes.
public final class ParquetResultWriter: ResultWriter {
    /// The file the writer produces once finished.
    public let destination: String
    /// The number of features of every non-null row.
    public let featureCount: Int
    /// The layout and compression settings.
    public let options: ParquetWriterOptions
    /// Rows written so far.
    public private(set) var rowCount = 0

    /// The key under which the footer's key-value metadata records ``featureCount``.
    public static let featureCountKey = "fruitfeatures.feature_count"

    /// The identity columns after `features`.
    public let identityColumns: ParquetIdentityColumns

    private var file: AtomicFile?
    private var columns: [ParquetColumnBuffer]
    private let compressor: PageCompressor
    private var rowGroups: [ParquetRowGroup] = []
    private var rowsInGroup = 0
    private let keyValueMetadata: [ParquetKeyValue]

    private static let magic: [UInt8] = Array("PAR1".utf8)
    private static let pathColumn = 0
    private static let labelColumn = 1
    private static let featuresColumn = 2
    private static let sha256Column = 3
    private static let sizeColumn = 4
    private static let modificationTimeColumn = 5

    /// Creates the temporary file and writes the leading magic bytes.
    ///
    /// - Parameters:
    ///   - destination: the final path of the file.
    ///   - featureCount: the length of every feature vector, at least 1.
    ///   - options: layout and compression.
    ///   - metadata: extra key-value pairs stored in the footer (for example how the features were
    ///     made); ``featureCountKey`` is always added.
    ///   - identityColumns: content-identity columns after `features`; every row then needs its
    ///     ``FeatureRow/identity``.
    public init(
        destination: String,
        featureCount: Int,
        options: ParquetWriterOptions = ParquetWriterOptions(),
        metadata: [String: String] = [:],
        identityColumns: ParquetIdentityColumns = .none
    ) throws(OutputError) {
        func invalid(_ reason: String) -> OutputError { OutputError(.create, path: destination, reason: reason) }
        guard featureCount >= 1 else { throw invalid("the feature count must be at least 1, not \(featureCount)") }
        // Keeps every page of one row within Int32 sizes.
        guard featureCount <= 1 << 26 else { throw invalid("feature count \(featureCount) is too large") }
        guard options.rowGroupByteLimit >= 1 else { throw invalid("the row-group byte limit must be positive") }
        guard options.rowGroupRowLimit >= 1 else { throw invalid("the row-group row limit must be positive") }
        guard options.pageByteLimit >= 1 && options.pageByteLimit <= 1 << 30 else {
            throw invalid("the page byte limit must be between 1 and 2^30")
        }
        if options.compression == .zstd && !PageCompressor.zstdLevels.contains(options.zstdLevel) {
            throw invalid("Zstandard level \(options.zstdLevel) is outside \(PageCompressor.zstdLevels)")
        }
        guard metadata[Self.featureCountKey] == nil else {
            throw invalid("the metadata key \(Self.featureCountKey) is reserved")
        }
        self.destination = destination
        self.featureCount = featureCount
        self.options = options
        self.identityColumns = identityColumns
        compressor = PageCompressor(compression: options.compression, zstdLevel: Int32(clamping: options.zstdLevel))
        columns = [
            ParquetColumnBuffer(column: ParquetLeafColumn(
                pathInSchema: ["path"], type: .byteArray,
                maxDefinitionLevel: 1, maxRepetitionLevel: 0, keepsByteStatistics: true)),
            ParquetColumnBuffer(column: ParquetLeafColumn(
                pathInSchema: ["label"], type: .byteArray,
                maxDefinitionLevel: 1, maxRepetitionLevel: 0, keepsByteStatistics: true)),
            // features (optional) → list (repeated) → element (optional): three definition levels,
            // one repetition level.
            ParquetColumnBuffer(column: ParquetLeafColumn(
                pathInSchema: ["features", "list", "element"], type: .float,
                maxDefinitionLevel: 3, maxRepetitionLevel: 1, keepsByteStatistics: false)),
            ParquetColumnBuffer(column: ParquetLeafColumn(
                pathInSchema: ["sha256"], type: .byteArray,
                maxDefinitionLevel: 1, maxRepetitionLevel: 0, keepsByteStatistics: true)),
            ParquetColumnBuffer(column: ParquetLeafColumn(
                pathInSchema: ["size"], type: .int64,
                maxDefinitionLevel: 1, maxRepetitionLevel: 0, keepsByteStatistics: false)),
            ParquetColumnBuffer(column: ParquetLeafColumn(
                pathInSchema: ["mtime_ns"], type: .int64,
                maxDefinitionLevel: 1, maxRepetitionLevel: 0, keepsByteStatistics: false)),
        ].prefix(3 + identityColumns.columnCount).map { $0 }
        keyValueMetadata = ([(Self.featureCountKey, String(featureCount))] + metadata.map { ($0.key, $0.value) })
            .sorted { $0.0 < $1.0 }
            .map { ParquetKeyValue(key: $0.0, value: $0.1) }
        let file = try AtomicFile(destination: destination)
        try file.write(Self.magic)
        self.file = file
    }

    /// Appends rows; every row must have ``featureCount`` features. A batch with a bad row writes nothing.
    public func write(_ rows: [FeatureRow]) throws(OutputError) {
        _ = try openFile()
        for row in rows {
            try validate(path: row.path, label: row.label, featureCount: row.features.count, identity: row.identity)
        }
        for row in rows {
            try row.features.withUnsafeBufferPointer { features throws(OutputError) in
                try append(path: row.path, label: row.label, features: features, identity: row.identity)
            }
        }
    }

    /// Appends one row; `features` is `nil` for a row without features (a null list, as Spark stores
    /// for an image that could not be processed), otherwise it has ``featureCount`` values.
    public func write(path: String, label: String, features: [Float]?, identity: ImageIdentity? = nil) throws(OutputError) {
        _ = try openFile()
        try validate(path: path, label: label, featureCount: features?.count, identity: identity)
        if let features {
            try features.withUnsafeBufferPointer { buffer throws(OutputError) in
                try append(path: path, label: label, features: buffer, identity: identity)
            }
        } else {
            try append(path: path, label: label, features: nil, identity: identity)
        }
    }

    /// Writes the last row group and the footer, then moves the file to ``destination``.
    public func finish() throws(OutputError) {
        let file = try openFile()
        do throws(OutputError) {
            if rowsInGroup > 0 { try writeRowGroup(to: file) }
            let footer = ParquetFileMetaData(
                schema: Self.schema(identityColumns),
                rowCount: Int64(rowCount),
                rowGroups: rowGroups,
                keyValueMetadata: keyValueMetadata,
                createdBy: "fruitfeatures version \(fruitFeaturesVersion)",
                leafColumnCount: columns.count
            ).encoded()
            try file.write(footer)
            let length = UInt32(truncatingIfNeeded: footer.count)
            try file.write((0..<4).map { UInt8(truncatingIfNeeded: length >> (8 * $0)) })
            try file.write(Self.magic)
            try file.commit()
            self.file = nil
            releaseMemory()
        } catch {
            discard()
            throw error
        }
    }

    /// Abandons the file: removes what was written so far.
    public func discard() {
        file?.discard()
        file = nil
        releaseMemory()
    }

    // MARK: Rows

    private func openFile() throws(OutputError) -> AtomicFile {
        guard let file else { throw OutputError(.closed, path: destination, reason: "the Parquet writer is finished or discarded") }
        return file
    }

    private func validate(path: String, label: String, featureCount count: Int?, identity: ImageIdentity?) throws(OutputError) {
        if identityColumns != .none && identity == nil {
            throw OutputError(.invalidRow, path: destination, reason: "row \(path.debugDescription) has no SHA-256")
        }
        if let count, count != featureCount {
            throw OutputError(.invalidRow, path: destination,
                              reason: "row \(path.debugDescription) has \(count) features, expected \(featureCount)")
        }
        // A PLAIN byte array stores its length in 4 bytes; stay far below that.
        let longest = max(path.utf8.count, label.utf8.count)
        guard longest < 1 << 30 else {
            throw OutputError(.invalidRow, path: destination, reason: "a path or label of \(longest) bytes is too long")
        }
    }

    private func append(
        path: String, label: String, features: UnsafeBufferPointer<Float>?, identity: ImageIdentity?
    ) throws(OutputError) {
        let file = try openFile()
        columns[Self.pathColumn].appendByteArray(path.utf8)
        columns[Self.labelColumn].appendByteArray(label.utf8)
        if let features {
            columns[Self.featuresColumn].appendFloatList(features)
        } else {
            columns[Self.featuresColumn].appendNull()
        }
        if identityColumns != .none, let identity {
            columns[Self.sha256Column].appendByteArray(identity.sha256.utf8)
            if identityColumns == .sha256SizeAndModificationTime {
                columns[Self.sizeColumn].appendInt64(identity.size)
                columns[Self.modificationTimeColumn].appendInt64(identity.modificationTimeNanoseconds)
            }
        }
        rowCount += 1
        rowsInGroup += 1
        do throws(OutputError) {
            for index in columns.indices where columns[index].pendingPageBytes >= options.pageByteLimit {
                try columns[index].finishPage(
                    compressor: compressor, writesChecksum: options.writesPageChecksums, path: destination)
            }
            let groupBytes = columns.reduce(0) { $0 + $1.rowGroupBytes }
            if rowsInGroup >= options.rowGroupRowLimit || groupBytes >= options.rowGroupByteLimit {
                try writeRowGroup(to: file)
            }
        } catch {
            // The buffered row group is now incomplete: nothing sound can follow.
            discard()
            throw error
        }
    }

    /// Closes the pages of the current row group and writes its column chunks one after another.
    private func writeRowGroup(to file: AtomicFile) throws(OutputError) {
        guard rowGroups.count < Int(Int16.max) else {
            throw OutputError(.write, path: destination, reason: "more than \(Int16.max) row groups; raise the row-group limits")
        }
        let groupOffset = file.offset
        var chunks: [ParquetColumnChunk] = []
        for index in columns.indices {
            try columns[index].finishPage(
                compressor: compressor, writesChecksum: options.writesPageChecksums, path: destination)
            let column = columns[index]
            let chunkOffset = file.offset
            for page in column.pages { try file.write(page) }
            chunks.append(ParquetColumnChunk(metaData: ParquetColumnMetaData(
                type: column.column.type,
                encodings: [.plain, .rle],
                pathInSchema: column.column.pathInSchema,
                codec: options.compression.codec,
                valueCount: column.chunkValueCount,
                totalUncompressedSize: column.chunkUncompressedSize,
                totalCompressedSize: column.chunkSize,
                dataPageOffset: Int64(chunkOffset),
                statistics: column.column.keepsByteStatistics ? column.statistics : nil
            )))
            columns[index].startRowGroup()
        }
        rowGroups.append(ParquetRowGroup(
            columns: chunks,
            totalByteSize: chunks.reduce(0) { $0 + $1.metaData.totalUncompressedSize },
            rowCount: Int64(rowsInGroup),
            fileOffset: Int64(groupOffset),
            totalCompressedSize: Int64(file.offset - groupOffset),
            ordinal: Int16(rowGroups.count)
        ))
        rowsInGroup = 0
    }

    /// Sends further file writes elsewhere (such as `/dev/full`) to exercise write failures in tests.
    func redirectFileForTesting(to path: String) throws(OutputError) {
        try openFile().redirectForTesting(to: path)
    }

    private func releaseMemory() {
        for index in columns.indices { columns[index].releaseMemory() }
    }

    /// The flattened schema tree, depth first, root first.
    private static func schema(_ identityColumns: ParquetIdentityColumns) -> [ParquetSchemaElement] {
        let identity = [
            ParquetSchemaElement(type: .byteArray, repetition: .optional, name: "sha256",
                                 convertedType: .utf8, logicalType: .string),
            ParquetSchemaElement(type: .int64, repetition: .optional, name: "size"),
            ParquetSchemaElement(type: .int64, repetition: .optional, name: "mtime_ns"),
        ]
        return [ParquetSchemaElement(name: "schema", childCount: Int32(3 + identityColumns.columnCount))]
            + notebookColumns + identity.prefix(identityColumns.columnCount)
    }

    /// path, label, features: the notebook's columns.
    private static let notebookColumns: [ParquetSchemaElement] = [
        ParquetSchemaElement(type: .byteArray, repetition: .optional, name: "path",
                             convertedType: .utf8, logicalType: .string),
        ParquetSchemaElement(type: .byteArray, repetition: .optional, name: "label",
                             convertedType: .utf8, logicalType: .string),
        ParquetSchemaElement(repetition: .optional, name: "features", childCount: 1,
                             convertedType: .list, logicalType: .list),
        ParquetSchemaElement(repetition: .repeated, name: "list", childCount: 1),
        ParquetSchemaElement(type: .float, repetition: .optional, name: "element"),
    ]
}
