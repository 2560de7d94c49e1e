// The subset of parquet.thrift (apache/parquet-format) this writer emits, with the Thrift field ids of
// the IDL. Optional fields the writer never sets are left out.

/// Physical types (`Type` in parquet.thrift).
enum ParquetPhysicalType: Int32 {
    case boolean = 0
    case int32 = 1
    case int64 = 2
    case int96 = 3
    case float = 4
    case double = 5
    case byteArray = 6
    case fixedLenByteArray = 7
}

/// Legacy type annotations (`ConvertedType`), still written beside logical types for older readers.
enum ParquetConvertedType: Int32 {
    case utf8 = 0
    case list = 3
}

/// `FieldRepetitionType`.
enum ParquetRepetition: Int32 {
    case required = 0
    case optional = 1
    case repeated = 2
}

/// `Encoding`.
enum ParquetEncoding: Int32 {
    case plain = 0
    case rle = 3
}

/// `CompressionCodec`.
enum ParquetCodec: Int32 {
    case uncompressed = 0
    case snappy = 1
    case zstd = 6
}

/// `PageType`.
enum ParquetPageType: Int32 {
    case dataPage = 0
}

/// The `LogicalType` union members this writer uses; each is an empty struct in the IDL.
enum ParquetLogicalType {
    case string
    case list

    var unionFieldID: Int16 {
        switch self {
        case .string: 1
        case .list: 3
        }
    }
}

/// `SchemaElement`: one node of the depth-first flattened schema tree.
struct ParquetSchemaElement {
    var type: ParquetPhysicalType?
    var repetition: ParquetRepetition?
    var name: String
    var childCount: Int32?
    var convertedType: ParquetConvertedType?
    var logicalType: ParquetLogicalType?

    func encode(to encoder: inout ThriftCompactEncoder) {
        if let type { encoder.writeI32Field(1, type.rawValue) }
        if let repetition { encoder.writeI32Field(3, repetition.rawValue) }
        encoder.writeStringField(4, name)
        if let childCount { encoder.writeI32Field(5, childCount) }
        if let convertedType { encoder.writeI32Field(6, convertedType.rawValue) }
        if let logicalType {
            encoder.writeStructField(10) { union in
                union.writeStructField(logicalType.unionFieldID) { _ in }
            }
        }
    }
}

/// `Statistics` of a column chunk: min/max by the column order, and the null count.
struct ParquetStatistics {
    var nullCount: Int64
    var minValue: [UInt8]?
    var maxValue: [UInt8]?

    func encode(to encoder: inout ThriftCompactEncoder) {
        encoder.writeI64Field(3, nullCount)
        if let maxValue { encoder.writeBinaryField(5, maxValue) }
        if let minValue { encoder.writeBinaryField(6, minValue) }
    }
}

/// `DataPageHeader` (version 1 data pages).
struct ParquetDataPageHeader {
    var valueCount: Int32
    var encoding: ParquetEncoding = .plain
    var definitionLevelEncoding: ParquetEncoding = .rle
    var repetitionLevelEncoding: ParquetEncoding = .rle

    func encode(to encoder: inout ThriftCompactEncoder) {
        encoder.writeI32Field(1, valueCount)
        encoder.writeI32Field(2, encoding.rawValue)
        encoder.writeI32Field(3, definitionLevelEncoding.rawValue)
        encoder.writeI32Field(4, repetitionLevelEncoding.rawValue)
    }
}

/// `PageHeader`, written in front of every page.
struct ParquetPageHeader {
    var type: ParquetPageType = .dataPage
    var uncompressedSize: Int32
    var compressedSize: Int32
    /// CRC-32 of the page bytes as stored (after compression), as a signed 32-bit pattern.
    var crc: Int32?
    var dataPageHeader: ParquetDataPageHeader

    func encoded() -> [UInt8] {
        var encoder = ThriftCompactEncoder()
        encoder.beginStruct()
        encoder.writeI32Field(1, type.rawValue)
        encoder.writeI32Field(2, uncompressedSize)
        encoder.writeI32Field(3, compressedSize)
        if let crc { encoder.writeI32Field(4, crc) }
        encoder.writeStructField(5) { dataPageHeader.encode(to: &$0) }
        encoder.endStruct()
        return encoder.bytes
    }
}

/// `KeyValue`.
struct ParquetKeyValue {
    var key: String
    var value: String

    func encode(to encoder: inout ThriftCompactEncoder) {
        encoder.writeStringField(1, key)
        encoder.writeStringField(2, value)
    }
}

/// `ColumnMetaData` of one column chunk.
struct ParquetColumnMetaData {
    var type: ParquetPhysicalType
    var encodings: [ParquetEncoding]
    var pathInSchema: [String]
    var codec: ParquetCodec
    var valueCount: Int64
    var totalUncompressedSize: Int64
    var totalCompressedSize: Int64
    var dataPageOffset: Int64
    var statistics: ParquetStatistics?

    func encode(to encoder: inout ThriftCompactEncoder) {
        encoder.writeI32Field(1, type.rawValue)
        encoder.writeI32ListField(2, encodings.map(\.rawValue))
        encoder.writeStringListField(3, pathInSchema)
        encoder.writeI32Field(4, codec.rawValue)
        encoder.writeI64Field(5, valueCount)
        encoder.writeI64Field(6, totalUncompressedSize)
        encoder.writeI64Field(7, totalCompressedSize)
        encoder.writeI64Field(9, dataPageOffset)
        if let statistics { encoder.writeStructField(12) { statistics.encode(to: &$0) } }
    }
}

/// `ColumnChunk`: the metadata lives in the footer, so `file_offset` is 0 as the IDL asks.
struct ParquetColumnChunk {
    var metaData: ParquetColumnMetaData

    func encode(to encoder: inout ThriftCompactEncoder) {
        encoder.writeI64Field(2, 0)
        encoder.writeStructField(3) { metaData.encode(to: &$0) }
    }
}

/// `RowGroup`.
struct ParquetRowGroup {
    var columns: [ParquetColumnChunk]
    var totalByteSize: Int64
    var rowCount: Int64
    var fileOffset: Int64
    var totalCompressedSize: Int64
    var ordinal: Int16

    func encode(to encoder: inout ThriftCompactEncoder) {
        encoder.writeStructListField(1, columns) { $1.encode(to: &$0) }
        encoder.writeI64Field(2, totalByteSize)
        encoder.writeI64Field(3, rowCount)
        encoder.writeI64Field(5, fileOffset)
        encoder.writeI64Field(6, totalCompressedSize)
        encoder.writeI16Field(7, ordinal)
    }
}

/// `FileMetaData`, the footer.
struct ParquetFileMetaData {
    var schema: [ParquetSchemaElement]
    var rowCount: Int64
    var rowGroups: [ParquetRowGroup]
    var keyValueMetadata: [ParquetKeyValue]
    var createdBy: String
    /// Number of leaf columns; each gets the type-defined order (`TypeDefinedOrder`), which for UTF-8
    /// strings is unsigned byte-wise comparison — the order the min/max statistics follow.
    var leafColumnCount: Int

    func encoded() -> [UInt8] {
        var encoder = ThriftCompactEncoder()
        encoder.beginStruct()
        // Version 1: the spec asks writers to always write 1 for the widest compatibility.
        encoder.writeI32Field(1, 1)
        encoder.writeStructListField(2, schema) { $1.encode(to: &$0) }
        encoder.writeI64Field(3, rowCount)
        encoder.writeStructListField(4, rowGroups) { $1.encode(to: &$0) }
        if !keyValueMetadata.isEmpty {
            encoder.writeStructListField(5, keyValueMetadata) { $1.encode(to: &$0) }
        }
        encoder.writeStringField(6, createdBy)
        encoder.writeStructListField(7, Array(repeating: (), count: leafColumnCount)) { order, _ in
            order.writeStructField(1) { _ in }
        }
        encoder.endStruct()
        return encoder.bytes
    }
}
