/// A leaf column of the schema: where it sits and its maximum levels.
struct ParquetLeafColumn {
    var pathInSchema: [String]
    var type: ParquetPhysicalType
    /// The number of optional or repeated nodes on the path from the root (inclusive of the leaf).
    var maxDefinitionLevel: UInt8
    /// The number of repeated nodes on that path.
    var maxRepetitionLevel: UInt8
    /// Whether to keep min/max statistics (strings, compared as unsigned bytes).
    var keepsByteStatistics: Bool
}

/// The part of one column inside the current row group: the page being filled and the finished,
/// compressed pages (headers included), kept until the row group is written.
///
/// Pages are PLAIN-encoded version-1 data pages: repetition levels then definition levels (each
/// RLE/bit-packed hybrid with a 4-byte length, left out when the maximum level is 0), then the values;
/// that body is compressed as a whole and preceded by an uncompressed Thrift `PageHeader`.
struct ParquetColumnBuffer {
    let column: ParquetLeafColumn
    private let repetitionBitWidth: Int
    private let definitionBitWidth: Int

    // The page being filled.
    private var repetitionLevels: [UInt8] = []
    private var definitionLevels: [UInt8] = []
    private var values: [UInt8] = []
    private var pageBody: [UInt8] = []

    /// Finished pages of this row group, each with its header. Separate arrays rather than one growing
    /// buffer, so holding a row group never costs a reallocation of all of it.
    private(set) var pages: [[UInt8]] = []
    /// The bytes in ``pages``.
    private(set) var chunkSize: Int64 = 0
    /// Level entries (values and nulls) in the finished pages.
    private(set) var chunkValueCount: Int64 = 0
    /// Size of the finished pages were they not compressed, headers included.
    private(set) var chunkUncompressedSize: Int64 = 0
    private(set) var nullCount: Int64 = 0
    private(set) var minimum: [UInt8]?
    private(set) var maximum: [UInt8]?

    init(column: ParquetLeafColumn) {
        self.column = column
        repetitionBitWidth = LevelEncoder.bitWidth(forMaximum: Int(column.maxRepetitionLevel))
        definitionBitWidth = LevelEncoder.bitWidth(forMaximum: Int(column.maxDefinitionLevel))
    }

    /// Bytes in the page being filled, roughly as they will be encoded (levels take at most a byte each).
    var pendingPageBytes: Int { values.count + (definitionLevels.count * definitionBitWidth + 7) / 8 }

    /// Uncompressed bytes of this column in the row group so far, for sizing row groups.
    var rowGroupBytes: Int { Int(chunkUncompressedSize) + pendingPageBytes }

    /// Appends a top-level value (definition level = maximum, no repetition) in PLAIN encoding:
    /// a 4-byte little-endian length, then the bytes.
    mutating func appendByteArray(_ bytes: some Collection<UInt8>) {
        definitionLevels.append(column.maxDefinitionLevel)
        appendLittleEndian(UInt32(truncatingIfNeeded: bytes.count))
        values.append(contentsOf: bytes)
        if column.keepsByteStatistics { updateStatistics(bytes) }
    }

    /// Appends a top-level 64-bit integer in PLAIN encoding (8 bytes, little endian).
    mutating func appendInt64(_ value: Int64) {
        definitionLevels.append(column.maxDefinitionLevel)
        let bits = UInt64(bitPattern: value)
        appendLittleEndian(UInt32(truncatingIfNeeded: bits))
        appendLittleEndian(UInt32(truncatingIfNeeded: bits >> 32))
    }

    /// Appends a list of `elements` as one row of a `optional group (LIST) { repeated group list
    /// { optional float element } }` column: the first entry has repetition level 0 and later ones 1
    /// (they continue the same row); all are defined down to the element.
    mutating func appendFloatList(_ elements: UnsafeBufferPointer<Float>) {
        guard !elements.isEmpty else {
            // An empty list is defined only down to the LIST group.
            repetitionLevels.append(0)
            definitionLevels.append(column.maxDefinitionLevel - 2)
            return
        }
        repetitionLevels.append(0)
        repetitionLevels.append(contentsOf: repeatElement(column.maxRepetitionLevel, count: elements.count - 1))
        definitionLevels.append(contentsOf: repeatElement(column.maxDefinitionLevel, count: elements.count))
        #if _endian(little)
        values.append(contentsOf: UnsafeRawBufferPointer(elements))
        #else
        for element in elements { appendLittleEndian(element.bitPattern) }
        #endif
    }

    /// Appends a null at the top level: one entry with repetition and definition level 0 and no value.
    mutating func appendNull() {
        if column.maxRepetitionLevel > 0 { repetitionLevels.append(0) }
        definitionLevels.append(0)
        nullCount += 1
    }

    /// Compresses the page being filled and appends it, with its header, to ``pages``.
    mutating func finishPage(compressor: PageCompressor, writesChecksum: Bool, path: String) throws(OutputError) {
        let levelCount = definitionLevels.count
        guard levelCount > 0 else { return }
        pageBody.removeAll(keepingCapacity: true)
        if column.maxRepetitionLevel > 0 { appendLevels(repetitionLevels, bitWidth: repetitionBitWidth) }
        if column.maxDefinitionLevel > 0 { appendLevels(definitionLevels, bitWidth: definitionBitWidth) }
        pageBody.append(contentsOf: values)
        guard pageBody.count <= Int32.max, levelCount <= Int32.max else {
            throw OutputError(.invalidRow, path: path, reason: "a page of column \(column.pathInSchema.joined(separator: ".")) exceeds 2 GiB")
        }
        // withUnsafeBytes is untyped-rethrows: carry the typed error out by hand.
        let failure = pageBody.withUnsafeBytes { body -> OutputError? in
            do throws(OutputError) { try compressor.compress(body, path: path) } catch { return error }
            return nil
        }
        if let failure { throw failure }
        let compressed = compressor.compressed
        guard compressed.count <= Int32.max else {
            throw OutputError(.compression, path: path, reason: "a compressed page exceeds 2 GiB")
        }
        let crc = writesChecksum ? compressed.withUnsafeBytes { PageChecksum.crc32($0) } : nil
        let header = ParquetPageHeader(
            uncompressedSize: Int32(pageBody.count),
            compressedSize: Int32(compressed.count),
            crc: crc.map { Int32(bitPattern: $0) },
            dataPageHeader: ParquetDataPageHeader(valueCount: Int32(levelCount))
        ).encoded()
        var page = [UInt8]()
        page.reserveCapacity(header.count + compressed.count)
        page.append(contentsOf: header)
        page.append(contentsOf: compressed)
        pages.append(page)
        chunkSize += Int64(page.count)
        chunkValueCount += Int64(levelCount)
        chunkUncompressedSize += Int64(header.count + pageBody.count)
        repetitionLevels.removeAll(keepingCapacity: true)
        definitionLevels.removeAll(keepingCapacity: true)
        values.removeAll(keepingCapacity: true)
    }

    /// The statistics of the finished pages: null count always, min/max for byte columns.
    var statistics: ParquetStatistics {
        ParquetStatistics(nullCount: nullCount, minValue: minimum, maxValue: maximum)
    }

    /// Forgets the finished pages and statistics once the row group is written.
    mutating func startRowGroup() {
        pages.removeAll()
        chunkSize = 0
        chunkValueCount = 0
        chunkUncompressedSize = 0
        nullCount = 0
        minimum = nil
        maximum = nil
    }

    /// Releases every buffer.
    mutating func releaseMemory() {
        repetitionLevels = []
        definitionLevels = []
        values = []
        pageBody = []
        pages = []
    }

    private mutating func appendLevels(_ levels: [UInt8], bitWidth: Int) {
        let lengthOffset = pageBody.count
        pageBody.append(contentsOf: [0, 0, 0, 0])
        LevelEncoder.encode(levels, bitWidth: bitWidth, into: &pageBody)
        let length = UInt32(truncatingIfNeeded: pageBody.count - lengthOffset - 4)
        for byte in 0..<4 { pageBody[lengthOffset + byte] = UInt8(truncatingIfNeeded: length >> (8 * byte)) }
    }

    private mutating func appendLittleEndian(_ value: UInt32) {
        values.append(UInt8(truncatingIfNeeded: value))
        values.append(UInt8(truncatingIfNeeded: value >> 8))
        values.append(UInt8(truncatingIfNeeded: value >> 16))
        values.append(UInt8(truncatingIfNeeded: value >> 24))
    }

    /// Unsigned byte-wise order: the type-defined order of UTF-8 strings.
    private mutating func updateStatistics(_ bytes: some Collection<UInt8>) {
        if minimum.map({ bytes.lexicographicallyPrecedes($0) }) ?? true { minimum = Array(bytes) }
        if maximum.map({ $0.lexicographicallyPrecedes(bytes) }) ?? true { maximum = Array(bytes) }
    }
}
