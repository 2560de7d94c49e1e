import CSnappy
import CZstd
import Foundation

/// Why a Parquet file could not be read, naming the file.
public struct ParquetReadError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The file.
    public var path: String
    /// What is wrong.
    public var reason: String

    /// Creates an error.
    public init(path: String, reason: String) {
        self.path = path
        self.reason = reason
    }

    public var description: String { "\(path): \(reason)" }
}

/// Reads the columns of a Parquet file such as the ones ``ParquetResultWriter`` writes: top-level
/// strings, 64-bit integers and lists of floats.
///
/// Written from the same specification as the writer (parquet.thrift, Encodings.md), it reads what the
/// project and the common writers produce for such tables: version-1 and version-2 data pages, PLAIN and
/// dictionary encodings (PLAIN_DICTIONARY, RLE_DICTIONARY), RLE levels, Snappy, Zstandard or no
/// compression, checking page CRCs when present. Anything else (other codecs, nested lists, null list
/// elements) is a ``ParquetReadError`` naming what was found.
///
/// The footer is read when the reader is made; each column is read when asked for, one column chunk at
/// a time, so memory is the column asked for plus one chunk.
public final class ParquetFileReader {
    /// The file.
    public let path: String
    /// Rows in the file.
    public let rowCount: Int
    /// The footer's key-value metadata.
    public let keyValueMetadata: [String: String]
    /// The top-level field names, in schema order.
    public let columnNames: [String]

    private let file: RegularFileReader
    private let fileSize: Int
    private let leaves: [Leaf]
    private let rowGroups: [RowGroup]

    /// A leaf column of the schema.
    private struct Leaf {
        var path: [String]
        var type: ParquetPhysicalType
        var maxDefinition: Int
        var maxRepetition: Int
        /// The definition level at which the repeated node (the list) is present; 0 without one.
        var repeatedDefinition: Int
    }

    private struct Chunk {
        var codec: Int64
        var start: Int
        var length: Int
        var valueCount: Int
    }

    private struct RowGroup {
        var rowCount: Int
        var chunks: [Chunk]
    }

    private static let magic = Array("PAR1".utf8)
    /// A footer larger than this is taken for damage rather than read.
    private static let maximumFooter = 64 << 20

    /// Opens the file and reads its footer.
    public init(path: String) throws(ParquetReadError) {
        self.path = path
        func failure(_ reason: String) -> ParquetReadError { ParquetReadError(path: path, reason: reason) }
        let file: RegularFileReader
        do {
            file = try RegularFileReader(path: path, limit: nil)
        } catch {
            if case .notRegular = error.reason { throw failure(error.reasonText) }
            throw failure("cannot open: \(error.reasonText)")
        }
        self.file = file
        fileSize = file.size
        guard fileSize >= 12 else { throw failure("too short for a Parquet file (\(fileSize) bytes)") }
        let tail = try Self.read(file, at: fileSize - 8, count: 8)
        let head = try Self.read(file, at: 0, count: 4)
        guard Array(tail[4...]) == Self.magic, head == Self.magic else { throw failure("not a Parquet file (no PAR1 magic)") }
        let footerLength = Int(UInt32(tail[0]) | UInt32(tail[1]) << 8 | UInt32(tail[2]) << 16 | UInt32(tail[3]) << 24)
        guard footerLength <= Self.maximumFooter, footerLength <= fileSize - 12 else {
            throw failure("footer length \(footerLength) does not fit the file")
        }
        let footerBytes = try Self.read(file, at: fileSize - 8 - footerLength, count: footerLength)
        let footer: ThriftStruct
        switch Self.decodeStruct(footerBytes, at: 0) {
        case .success(let decoded): footer = decoded.value
        case .failure(let error): throw failure("malformed footer: \(error.reason)")
        }
        (columnNames, leaves) = try Self.schema(footer, failure)
        guard let rows = footer.integer(3), rows >= 0 else { throw failure("the footer has no row count") }
        rowCount = Int(rows)
        var metadata: [String: String] = [:]
        for entry in footer.list(5) ?? [] {
            if let pair = entry.structure, let key = pair.string(1) { metadata[key] = pair.string(2) ?? "" }
        }
        keyValueMetadata = metadata
        var groups: [RowGroup] = []
        var total = 0
        for value in footer.list(4) ?? [] {
            guard let group = value.structure, let rows = group.integer(3), rows >= 0,
                  let columns = group.list(1), columns.count == leaves.count else {
                throw failure("a row group does not match the schema")
            }
            var chunks: [Chunk] = []
            for column in columns {
                guard let meta = column.structure?.structure(3), let codec = meta.integer(4),
                      let values = meta.integer(5), let compressed = meta.integer(7), let dataOffset = meta.integer(9) else {
                    throw failure("a column chunk has no metadata")
                }
                // The chunk begins with its dictionary page when it has one. (pyarrow writes a data page
                // offset of 0 for a chunk without values.)
                let offsets = [dataOffset, meta.integer(11) ?? 0].filter { $0 >= 4 }
                if values == 0 {
                    chunks.append(Chunk(codec: codec, start: 4, length: 0, valueCount: 0))
                    continue
                }
                guard let start = offsets.min(), compressed >= 0, start + compressed <= Int64(fileSize) - 8 - Int64(footerLength), values >= 0 else {
                    throw failure("a column chunk lies outside the file")
                }
                chunks.append(Chunk(codec: codec, start: Int(start), length: Int(compressed), valueCount: Int(values)))
            }
            groups.append(RowGroup(rowCount: Int(rows), chunks: chunks))
            total += Int(rows)
        }
        guard total == rowCount else { throw failure("row groups hold \(total) rows, the footer says \(rowCount)") }
        rowGroups = groups
    }

    /// Whether the file has a top-level field of this name.
    public func hasColumn(_ name: String) -> Bool { columnNames.contains(name) }

    /// A top-level string column (`binary (STRING)`); nil for null values.
    public func strings(_ name: String) throws(ParquetReadError) -> [String?] {
        let leaf = try leafIndex(name, type: .byteArray, listed: false)
        var result: [String?] = []
        result.reserveCapacity(rowCount)
        try forEachPage(ofLeaf: leaf) { page throws(ParquetReadError) in
            var valueIndex = 0
            for level in page.definitionLevels {
                if level == leaves[leaf].maxDefinition {
                    result.append(page.byteArrayValue(valueIndex))
                    valueIndex += 1
                } else {
                    result.append(nil)
                }
            }
        }
        return result
    }

    /// A top-level 64-bit integer column; nil for null values.
    public func int64s(_ name: String) throws(ParquetReadError) -> [Int64?] {
        let leaf = try leafIndex(name, type: .int64, listed: false)
        var result: [Int64?] = []
        result.reserveCapacity(rowCount)
        try forEachPage(ofLeaf: leaf) { page throws(ParquetReadError) in
            var valueIndex = 0
            for level in page.definitionLevels {
                if level == leaves[leaf].maxDefinition {
                    result.append(page.fixedValue(valueIndex, as: UInt64.self).map { Int64(bitPattern: $0) })
                    valueIndex += 1
                } else {
                    result.append(nil)
                }
            }
        }
        return result
    }

    /// A top-level `list<float>` column: each row's floats, nil for a null list.
    public func floatLists(_ name: String) throws(ParquetReadError) -> [[Float]?] {
        let leaf = try leafIndex(name, type: .float, listed: true)
        let column = leaves[leaf]
        var result: [[Float]?] = []
        result.reserveCapacity(rowCount)
        try forEachPage(ofLeaf: leaf) { page throws(ParquetReadError) in
            var valueIndex = 0
            for (repetition, definition) in zip(page.repetitionLevels, page.definitionLevels) {
                if repetition == 0 {
                    // A new row: null, empty, or the first element.
                    result.append(definition >= column.repeatedDefinition - 1 ? [] : nil)
                } else if result.isEmpty || result[result.count - 1] == nil {
                    throw ParquetReadError(path: path, reason: "column \(name): a list continues a null row")
                }
                guard definition >= column.repeatedDefinition else { continue }
                guard definition == column.maxDefinition else {
                    throw ParquetReadError(path: path, reason: "column \(name): null list elements are not supported")
                }
                guard let bits = page.fixedValue(valueIndex, as: UInt32.self) else {
                    throw ParquetReadError(path: path, reason: "column \(name): fewer values than levels")
                }
                result[result.count - 1]!.append(Float(bitPattern: bits))
                valueIndex += 1
            }
        }
        return result
    }

    // MARK: Schema

    private static func schema(
        _ footer: ThriftStruct, _ failure: (String) -> ParquetReadError
    ) throws(ParquetReadError) -> (names: [String], leaves: [Leaf]) {
        guard let elements = footer.list(2)?.compactMap(\.structure), let root = elements.first else {
            throw failure("the footer has no schema")
        }
        var names: [String] = []
        var leaves: [Leaf] = []
        var index = 1
        // Walks the depth-first flattened tree; `definition`/`repetition` are the levels of the parent.
        func walk(parentPath: [String], definition: Int, repetition: Int, repeatedDefinition: Int) throws(ParquetReadError) {
            guard index < elements.count else { throw failure("the schema ends early") }
            let element = elements[index]
            index += 1
            guard let name = element.string(4) else { throw failure("a schema element has no name") }
            let kind = element.integer(3) ?? Int64(ParquetRepetition.required.rawValue)
            let ownDefinition = definition + (kind == Int64(ParquetRepetition.required.rawValue) ? 0 : 1)
            let ownRepetition = repetition + (kind == Int64(ParquetRepetition.repeated.rawValue) ? 1 : 0)
            let ownRepeated = kind == Int64(ParquetRepetition.repeated.rawValue) ? ownDefinition : repeatedDefinition
            let path = parentPath + [name]
            if let children = element.integer(5), children > 0 {
                for _ in 0..<children {
                    try walk(parentPath: path, definition: ownDefinition, repetition: ownRepetition,
                             repeatedDefinition: ownRepeated)
                }
            } else {
                guard let rawType = element.integer(1), let type = ParquetPhysicalType(rawValue: Int32(truncatingIfNeeded: rawType)) else {
                    throw failure("column \(path.joined(separator: ".")) has no physical type")
                }
                leaves.append(Leaf(path: path, type: type, maxDefinition: ownDefinition, maxRepetition: ownRepetition,
                                   repeatedDefinition: ownRepeated))
            }
        }
        let topLevel = root.integer(5) ?? 0
        guard topLevel >= 0, topLevel < Int64(elements.count) else { throw failure("the schema root has \(topLevel) children") }
        for _ in 0..<topLevel {
            guard index < elements.count, let name = elements[index].string(4) else { throw failure("the schema ends early") }
            names.append(name)
            try walk(parentPath: [], definition: 0, repetition: 0, repeatedDefinition: 0)
        }
        return (names, leaves)
    }

    private func leafIndex(_ name: String, type: ParquetPhysicalType, listed: Bool) throws(ParquetReadError) -> Int {
        let matching = leaves.indices.filter { leaves[$0].path.first == name }
        guard let index = matching.first else {
            throw ParquetReadError(path: path, reason: "no column \(name) (columns: \(columnNames.joined(separator: ", ")))")
        }
        let leaf = leaves[index]
        guard matching.count == 1, leaf.type == type, leaf.maxRepetition == (listed ? 1 : 0) else {
            throw ParquetReadError(
                path: path, reason: "column \(name) is not a \(listed ? "list of \(type)" : "\(type)") column")
        }
        return index
    }

    // MARK: Pages

    /// One decoded data page: its levels and its values (PLAIN bytes, or looked up in the dictionary).
    private struct Page {
        var repetitionLevels: [UInt32]
        var definitionLevels: [UInt32]
        /// PLAIN-encoded values, when the page is not dictionary-encoded.
        var plain: [UInt8]
        /// Offsets of each byte-array value in `plain` (start of the bytes, after the length).
        var byteArrayRanges: [Range<Int>]
        /// Dictionary indices, when the page is dictionary-encoded.
        var indices: [UInt32]?
        var dictionary: DictionaryPage?

        func byteArrayValue(_ index: Int) -> String? {
            if let indices, let dictionary {
                guard index < indices.count, Int(indices[index]) < dictionary.byteArrayRanges.count else { return nil }
                let range = dictionary.byteArrayRanges[Int(indices[index])]
                return String(decoding: dictionary.plain[range], as: UTF8.self)
            }
            guard index < byteArrayRanges.count else { return nil }
            return String(decoding: plain[byteArrayRanges[index]], as: UTF8.self)
        }

        func fixedValue<T: FixedWidthInteger>(_ index: Int, as: T.Type) -> T? {
            let size = MemoryLayout<T>.size
            let source: [UInt8]
            var position = index
            if let indices, let dictionary {
                guard index < indices.count else { return nil }
                source = dictionary.plain
                position = Int(indices[index])
            } else {
                source = plain
            }
            guard position >= 0, (position + 1) * size <= source.count else { return nil }
            var value: T = 0
            for byte in 0..<size { value |= T(source[position * size + byte]) << (8 * byte) }
            return value
        }
    }

    private struct DictionaryPage {
        var plain: [UInt8]
        var byteArrayRanges: [Range<Int>]
    }

    /// Decodes every data page of one leaf column, row group by row group.
    private func forEachPage(ofLeaf leaf: Int, _ handle: (Page) throws(ParquetReadError) -> Void) throws(ParquetReadError) {
        let column = leaves[leaf]
        let name = column.path.joined(separator: ".")
        func failure(_ reason: String) -> ParquetReadError { ParquetReadError(path: path, reason: "column \(name): \(reason)") }
        for group in rowGroups {
            let chunk = group.chunks[leaf]
            let bytes = try Self.read(file, at: chunk.start, count: chunk.length)
            var offset = 0
            var levelsSeen = 0
            var dictionary: DictionaryPage?
            while levelsSeen < chunk.valueCount {
                let header: ThriftStruct
                switch Self.decodeStruct(bytes, at: offset) {
                case .success(let decoded):
                    header = decoded.value
                    offset = decoded.end
                case .failure(let error):
                    throw failure("malformed page header: \(error.reason)")
                }
                guard let type = header.integer(1), let uncompressedSize = header.integer(2),
                      let compressedSize = header.integer(3), compressedSize >= 0, uncompressedSize >= 0,
                      compressedSize <= Int64(bytes.count - offset) else {
                    throw failure("a page header does not fit its column chunk")
                }
                let body = Array(bytes[offset..<(offset + Int(compressedSize))])
                offset += Int(compressedSize)
                if let crc = header.integer(4) {
                    let actual = body.withUnsafeBytes { PageChecksum.crc32($0) }
                    guard Int32(truncatingIfNeeded: crc) == Int32(bitPattern: actual) else { throw failure("page checksum mismatch") }
                }
                switch type {
                case 2:  // dictionary page
                    guard let dictionaryHeader = header.structure(7), let count = dictionaryHeader.integer(1), count >= 0 else {
                        throw failure("a dictionary page without its header")
                    }
                    let plain = try decompress(body, codec: chunk.codec, size: Int(uncompressedSize), failure)
                    let ranges = column.type == .byteArray ? try Self.byteArrayRanges(plain, count: Int(count), failure) : []
                    dictionary = DictionaryPage(plain: plain, byteArrayRanges: ranges)
                case 0, 3:
                    let page = try dataPage(header: header, body: body, version2: type == 3, codec: chunk.codec,
                                            uncompressedSize: Int(uncompressedSize), column: column, dictionary: dictionary,
                                            failure)
                    levelsSeen += page.definitionLevels.count
                    try handle(page)
                default:
                    continue  // index pages and unknown page types carry no values
                }
            }
        }
    }

    private func dataPage(
        header: ThriftStruct, body: [UInt8], version2: Bool, codec: Int64, uncompressedSize: Int, column: Leaf,
        dictionary: DictionaryPage?, _ failure: (String) -> ParquetReadError
    ) throws(ParquetReadError) -> Page {
        var repetition: [UInt32] = []
        var definition: [UInt32] = []
        let valueBytes: [UInt8]
        let encoding: Int64
        let levelCount: Int
        if version2 {
            guard let pageHeader = header.structure(8), let count = pageHeader.integer(1), count >= 0,
                  let encodingValue = pageHeader.integer(4),
                  let definitionLength = pageHeader.integer(5), let repetitionLength = pageHeader.integer(6),
                  definitionLength >= 0, repetitionLength >= 0, definitionLength + repetitionLength <= Int64(body.count) else {
                throw failure("a version-2 data page without a valid header")
            }
            levelCount = Int(count)
            encoding = encodingValue
            let levelsEnd = Int(repetitionLength + definitionLength)
            // Version 2 levels are not length-prefixed and never compressed.
            try decodeLevels(Array(body[0..<Int(repetitionLength)]), maximum: column.maxRepetition, count: levelCount,
                             into: &repetition, failure)
            try decodeLevels(Array(body[Int(repetitionLength)..<levelsEnd]), maximum: column.maxDefinition,
                             count: levelCount, into: &definition, failure)
            let compressed = pageHeader[7]?.bool ?? true
            let rest = Array(body[levelsEnd...])
            valueBytes = compressed ? try decompress(rest, codec: codec, size: uncompressedSize - levelsEnd, failure) : rest
        } else {
            guard let pageHeader = header.structure(5), let count = pageHeader.integer(1), count >= 0,
                  let encodingValue = pageHeader.integer(2) else {
                throw failure("a data page without its header")
            }
            levelCount = Int(count)
            encoding = encodingValue
            let plain = try decompress(body, codec: codec, size: uncompressedSize, failure)
            var offset = 0
            // Version 1: each level stream is prefixed by its 4-byte length.
            func levels(maximum: Int, into output: inout [UInt32]) throws(ParquetReadError) {
                guard maximum > 0 else { return }
                guard offset + 4 <= plain.count else { throw failure("a data page ends inside its levels") }
                let length = Int(UInt32(plain[offset]) | UInt32(plain[offset + 1]) << 8 | UInt32(plain[offset + 2]) << 16
                                 | UInt32(plain[offset + 3]) << 24)
                offset += 4
                guard length <= plain.count - offset else { throw failure("levels run past the end of their page") }
                try decodeLevels(Array(plain[offset..<(offset + length)]), maximum: maximum, count: levelCount,
                                 into: &output, failure)
                offset += length
            }
            try levels(maximum: column.maxRepetition, into: &repetition)
            try levels(maximum: column.maxDefinition, into: &definition)
            valueBytes = Array(plain[offset...])
        }
        if column.maxRepetition == 0 { repetition = [UInt32](repeating: 0, count: levelCount) }
        if column.maxDefinition == 0 { definition = [UInt32](repeating: 0, count: levelCount) }
        let valueCount = definition.reduce(0) { $0 + ($1 == UInt32(column.maxDefinition) ? 1 : 0) }
        var page = Page(repetitionLevels: repetition, definitionLevels: definition, plain: [], byteArrayRanges: [])
        switch encoding {
        case Int64(ParquetEncoding.plain.rawValue):
            page.plain = valueBytes
            if column.type == .byteArray {
                page.byteArrayRanges = try Self.byteArrayRanges(valueBytes, count: valueCount, failure)
            } else {
                let size = column.type == .int64 || column.type == .double ? 8 : 4
                guard valueBytes.count >= valueCount * size else { throw failure("a page holds fewer values than its levels say") }
            }
        case 2, 8:  // PLAIN_DICTIONARY, RLE_DICTIONARY: a bit width, then the hybrid-encoded indices
            guard let dictionary else { throw failure("a dictionary-encoded page without a dictionary page") }
            guard let bitWidth = valueBytes.first else {
                guard valueCount == 0 else { throw failure("a dictionary-encoded page without indices") }
                page.indices = []
                page.dictionary = dictionary
                break
            }
            var indices: [UInt32] = []
            let decoded = valueBytes.withUnsafeBytes { raw in
                HybridDecoder.decode(UnsafeRawBufferPointer(rebasing: raw[1...]), bitWidth: Int(bitWidth), count: valueCount,
                                     into: &indices)
            }
            guard decoded else { throw failure("damaged dictionary indices") }
            page.indices = indices
            page.dictionary = dictionary
        default:
            throw failure("unsupported value encoding \(encoding)")
        }
        return page
    }

    private func decodeLevels(
        _ bytes: [UInt8], maximum: Int, count: Int, into output: inout [UInt32], _ failure: (String) -> ParquetReadError
    ) throws(ParquetReadError) {
        guard maximum > 0 else { return }
        let bitWidth = LevelEncoder.bitWidth(forMaximum: maximum)
        let decoded = bytes.withUnsafeBytes { HybridDecoder.decode($0, bitWidth: bitWidth, count: count, into: &output) }
        guard decoded, !output.contains(where: { $0 > UInt32(maximum) }) else { throw failure("damaged levels") }
    }

    private static func byteArrayRanges(
        _ bytes: [UInt8], count: Int, _ failure: (String) -> ParquetReadError
    ) throws(ParquetReadError) -> [Range<Int>] {
        var ranges: [Range<Int>] = []
        ranges.reserveCapacity(count)
        var offset = 0
        for _ in 0..<count {
            guard offset + 4 <= bytes.count else { throw failure("byte-array values end early") }
            let length = Int(UInt32(bytes[offset]) | UInt32(bytes[offset + 1]) << 8 | UInt32(bytes[offset + 2]) << 16
                             | UInt32(bytes[offset + 3]) << 24)
            offset += 4
            guard length <= bytes.count - offset else { throw failure("a byte-array value runs past its page") }
            ranges.append(offset..<(offset + length))
            offset += length
        }
        return ranges
    }

    private func decompress(
        _ body: [UInt8], codec: Int64, size: Int, _ failure: (String) -> ParquetReadError
    ) throws(ParquetReadError) -> [UInt8] {
        guard size >= 0, size <= 1 << 30 else { throw failure("a page of \(size) bytes") }
        switch codec {
        case Int64(ParquetCodec.uncompressed.rawValue):
            return body
        case Int64(ParquetCodec.snappy.rawValue):
            var output = [UInt8](repeating: 0, count: size)
            var length = size
            let status = body.withUnsafeBytes { input in
                output.withUnsafeMutableBytes { out in
                    snappy_uncompress(input.baseAddress?.assumingMemoryBound(to: CChar.self), input.count,
                                      out.baseAddress?.assumingMemoryBound(to: CChar.self), &length)
                }
            }
            guard status == SNAPPY_OK, length == size else { throw failure("damaged Snappy page") }
            return output
        case Int64(ParquetCodec.zstd.rawValue):
            var output = [UInt8](repeating: 0, count: size)
            let length = body.withUnsafeBytes { input in
                output.withUnsafeMutableBytes { out in
                    ZSTD_decompress(out.baseAddress, out.count, input.baseAddress, input.count)
                }
            }
            guard ZSTD_isError(length) == 0, length == size else { throw failure("damaged Zstandard page") }
            return output
        default:
            throw failure("unsupported compression codec \(codec) (this reader knows uncompressed, Snappy and Zstandard)")
        }
    }

    /// Decodes the Thrift struct starting at `offset`; returns it and the offset after it.
    private static func decodeStruct(_ bytes: [UInt8], at offset: Int) -> Result<(value: ThriftStruct, end: Int), ThriftDecodingError> {
        bytes.withUnsafeBytes { raw in
            var decoder = ThriftCompactDecoder(raw, offset: offset)
            do throws(ThriftDecodingError) {
                let value = try decoder.readStruct()
                return .success((value, decoder.offset))
            } catch {
                return .failure(error)
            }
        }
    }

    /// Reads `count` bytes at `offset`.
    private static func read(_ file: RegularFileReader, at offset: Int, count: Int) throws(ParquetReadError) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var filled = 0
        while filled < count {
            let result = bytes.withUnsafeMutableBytes { raw in
                Result { () throws(FileProblem) in
                    try file.read(atOffset: offset + filled, into: UnsafeMutableRawBufferPointer(rebasing: raw[filled...]))
                }
            }
            let got: Int
            switch result {
            case .success(let count): got = count
            case .failure(let error): throw ParquetReadError(path: file.path, reason: "cannot read: \(error.reasonText)")
            }
            guard got > 0 else { throw ParquetReadError(path: file.path, reason: "the file ends early") }
            filled += got
        }
        return bytes
    }
}
