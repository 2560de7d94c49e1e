import Testing
@testable import FruitFeatures

/// Byte-level checks of the encodings under the Parquet writer, against sequences worked out by hand
/// from the specifications (the Thrift compact protocol spec, parquet-format's Encodings.md and
/// parquet.thrift). The real proof that files are right is that pyarrow, DuckDB and Spark read them
/// (ParquetReaderTests); these pin the encoding rules themselves.
@Suite struct ParquetEncodingTests {
    // MARK: Thrift compact protocol

    @Test func varintMatchesTheSpecExample() {
        // The compact-protocol spec's worked example: 50399 = 0b11_0001001_1011111 → 7-bit groups
        // least significant first, continuation bit on all but the last: 0xDF 0x89 0x03.
        var encoder = ThriftCompactEncoder()
        encoder.writeVarint(50399)
        #expect(encoder.bytes == [0xDF, 0x89, 0x03])
    }

    @Test func zigzagFoldsSignedIntegers() {
        // The spec's table: 0, -1, 1, -2, 2 → 0, 1, 2, 3, 4.
        #expect([0, -1, 1, -2, 2].map { ThriftCompactEncoder.zigzag($0) } == [0, 1, 2, 3, 4])
        #expect(ThriftCompactEncoder.zigzag(Int64.min) == UInt64.max)
    }

    @Test func shortFieldHeadersCarryTheIdDelta() {
        // Field 1 i32 = 1: header (delta 1 << 4 | type i32 5) = 0x15, value zigzag(1) = 2.
        // Field 2 string "ab": header (1 << 4 | binary 8) = 0x18, length 2, 'a' 'b'. Stop byte 0.
        var encoder = ThriftCompactEncoder()
        encoder.beginStruct()
        encoder.writeI32Field(1, 1)
        encoder.writeStringField(2, "ab")
        encoder.endStruct()
        #expect(encoder.bytes == [0x15, 0x02, 0x18, 0x02, 0x61, 0x62, 0x00])
    }

    @Test func largeIdJumpsUseTheLongForm() {
        // Field 1 bool true: the value lives in the type nibble (true = 1): 0x11.
        // Field 17 i64 = -1: delta 16 > 15, so type byte 0x06 then the id as zigzag varint
        // (17 → 34 = 0x22), then zigzag(-1) = 1. Field 18 bool false: delta 1, type 2 → 0x12.
        var encoder = ThriftCompactEncoder()
        encoder.beginStruct()
        encoder.writeBoolField(1, true)
        encoder.writeI64Field(17, -1)
        encoder.writeBoolField(18, false)
        encoder.endStruct()
        #expect(encoder.bytes == [0x11, 0x06, 0x22, 0x01, 0x12, 0x00])
    }

    @Test func nestedStructsKeepTheirOwnIdDeltas() {
        // Outer field 1 struct: 0x1C. Inside, ids restart: field 1 i32 0 → 0x15 0x00, stop 0x00.
        // Outer field 2 i32 0 is a delta of 1 from outer field 1 → 0x15 0x00. Outer stop 0x00.
        var encoder = ThriftCompactEncoder()
        encoder.beginStruct()
        encoder.writeStructField(1) { $0.writeI32Field(1, 0) }
        encoder.writeI32Field(2, 0)
        encoder.endStruct()
        #expect(encoder.bytes == [0x1C, 0x15, 0x00, 0x00, 0x15, 0x00, 0x00])
    }

    @Test func listHeadersUseShortFormBelowFifteen() {
        // Field 2 list: delta 2, type list 9 → 0x29; header (size 3 << 4 | i32 5) = 0x35; values 2 4 6.
        var encoder = ThriftCompactEncoder()
        encoder.beginStruct()
        encoder.writeI32ListField(2, [1, 2, 3])
        encoder.endStruct()
        #expect(encoder.bytes == [0x29, 0x35, 0x02, 0x04, 0x06, 0x00])
        // 15 elements: 0xF0 | type, then the size as a varint (0x0F).
        var long = ThriftCompactEncoder()
        long.writeListHeader(elementType: .i32, count: 15)
        #expect(long.bytes == [0xF5, 0x0F])
        var empty = ThriftCompactEncoder()
        empty.writeListHeader(elementType: .struct, count: 0)
        #expect(empty.bytes == [0x0C])
    }

    @Test func dataPageHeaderEncoding() {
        // PageHeader { 1: type DATA_PAGE 0 → 0x15 0x00; 2: uncompressed 10 → 0x15 0x14;
        //   3: compressed 8 → 0x15 0x10; 5 (delta 2, struct 12): 0x2C { 1: num_values 3 → 0x15 0x06;
        //   2: PLAIN 0 → 0x15 0x00; 3: RLE 3 → 0x15 0x06; 4: RLE 3 → 0x15 0x06; stop } stop }
        let header = ParquetPageHeader(
            uncompressedSize: 10, compressedSize: 8, crc: nil,
            dataPageHeader: ParquetDataPageHeader(valueCount: 3)
        ).encoded()
        #expect(header == [0x15, 0x00, 0x15, 0x14, 0x15, 0x10,
                           0x2C, 0x15, 0x06, 0x15, 0x00, 0x15, 0x06, 0x15, 0x06, 0x00, 0x00])
        // With a CRC of 0xFFFFFFFF (i32 -1 → zigzag 1): field 4 after 3 → 0x15 0x01, inserted before field 5,
        // which is then a delta of 1 (0x1C).
        let withCRC = ParquetPageHeader(
            uncompressedSize: 10, compressedSize: 8, crc: -1,
            dataPageHeader: ParquetDataPageHeader(valueCount: 3)
        ).encoded()
        #expect(Array(withCRC[6...8]) == [0x15, 0x01, 0x1C])
    }

    // MARK: RLE / bit-packing hybrid

    @Test func bitWidths() {
        #expect([0, 1, 2, 3, 4, 7, 8, 255].map { LevelEncoder.bitWidth(forMaximum: $0) } == [0, 1, 2, 2, 3, 3, 4, 8])
    }

    @Test func bitPackingMatchesTheSpecExample() {
        // Encodings.md: 0…7 at bit width 3 pack LSB-first into 10001000 11000110 11111010.
        // One group of eight values: header (1 << 1) | 1 = 0x03.
        var output: [UInt8] = []
        LevelEncoder.encode([0, 1, 2, 3, 4, 5, 6, 7], bitWidth: 3, into: &output)
        #expect(output == [0x03, 0b1000_1000, 0b1100_0110, 0b1111_1010])
    }

    @Test func longRunsBecomeRLERuns() {
        // 100 ones: header varint(100 << 1 = 200) = 0xC8 0x01, then the value in one byte.
        var output: [UInt8] = []
        LevelEncoder.encode([UInt8](repeating: 1, count: 100), bitWidth: 1, into: &output)
        #expect(output == [0xC8, 0x01, 0x01])
    }

    @Test func pendingLiteralsBorrowFromTheNextRun() {
        // A list row's repetition levels: 0 then twenty 1s. The lone 0 cannot make a group of eight,
        // so seven 1s join it in a bit-packed group (header 0x03; bits LSB first 0,1,1,1,1,1,1,1 =
        // 0b11111110), and the 13 remaining 1s form an RLE run (header 13 << 1 = 0x1A, value 0x01).
        var output: [UInt8] = []
        LevelEncoder.encode([0] + [UInt8](repeating: 1, count: 20), bitWidth: 1, into: &output)
        #expect(output == [0x03, 0xFE, 0x1A, 0x01])
    }

    @Test func shortTailsAreRunsNotPadding() {
        // Fewer than eight values left: each stretch of equal values is an RLE run of its own
        // (header count << 1, value), so no padded values follow the real ones.
        var output: [UInt8] = []
        LevelEncoder.encode([1, 0, 0, 1], bitWidth: 1, into: &output)
        #expect(output == [0x02, 0x01, 0x04, 0x00, 0x02, 0x01])
    }

    @Test func randomLevelsRoundTrip() throws {
        var random = SeededGenerator(seed: 7)
        for trial in 0..<400 {
            let bitWidth = 1 + trial % 8
            let count = Int(random.next() % 300)
            var values: [UInt8] = []
            while values.count < count {
                // Mix long runs and noise, as levels of nullable lists look.
                let value = UInt8(truncatingIfNeeded: random.next() & ((1 << UInt64(bitWidth)) - 1))
                let length = random.next() % 3 == 0 ? Int(random.next() % 40) : 1
                values.append(contentsOf: repeatElement(value, count: min(length, count - values.count)))
            }
            var output: [UInt8] = []
            LevelEncoder.encode(values, bitWidth: bitWidth, into: &output)
            let decoded = try ParquetHybridDecoder.decode(output, bitWidth: bitWidth)
            #expect(decoded == values, "bit width \(bitWidth), \(count) values")
        }
    }

    // MARK: Page checksums

    @Test func crc32MatchesTheCheckValue() {
        // The catalogued check value of CRC-32 (as used by gzip and zlib) over ASCII "123456789".
        let input = Array("123456789".utf8)
        #expect(PageChecksum.referenceCRC32(input) == 0xCBF4_3926)
        #expect(input.withUnsafeBytes { PageChecksum.crc32($0) } == 0xCBF4_3926)
    }

    @Test func slicedCRC32MatchesTheBytewiseReference() {
        var random = SeededGenerator(seed: 11)
        for length in [0, 1, 7, 8, 9, 15, 16, 17, 100, 1000, 4099] {
            let bytes = (0..<length).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            #expect(bytes.withUnsafeBytes { PageChecksum.crc32($0) } == PageChecksum.referenceCRC32(bytes))
        }
    }
}

/// A plain decoder of the RLE / bit-packing hybrid, written from Encodings.md, to check the encoder.
enum ParquetHybridDecoder {
    struct Malformed: Error {}

    static func decode(_ bytes: [UInt8], bitWidth: Int) throws -> [UInt8] {
        var values: [UInt8] = []
        var position = 0
        func varint() throws -> UInt64 {
            var result: UInt64 = 0
            var shift: UInt64 = 0
            while true {
                guard position < bytes.count, shift < 64 else { throw Malformed() }
                let byte = bytes[position]
                position += 1
                result |= UInt64(byte & 0x7F) << shift
                if byte & 0x80 == 0 { return result }
                shift += 7
            }
        }
        while position < bytes.count {
            let header = try varint()
            if header & 1 == 0 {
                // RLE run: count = header >> 1, value in ceil(bitWidth / 8) = 1 byte.
                guard position < bytes.count, header >> 1 > 0 else { throw Malformed() }
                values.append(contentsOf: repeatElement(bytes[position], count: Int(header >> 1)))
                position += 1
            } else {
                // Bit-packed: (header >> 1) groups of eight values, bit i of the stream is
                // bit (i % 8) of byte i / 8.
                let count = Int(header >> 1) * 8
                guard position + count * bitWidth / 8 <= bytes.count else { throw Malformed() }
                for index in 0..<count {
                    var value = 0
                    for bit in 0..<bitWidth {
                        let streamBit = index * bitWidth + bit
                        value |= Int(bytes[position + streamBit / 8] >> (streamBit % 8) & 1) << bit
                    }
                    values.append(UInt8(value))
                }
                position += count * bitWidth / 8
            }
        }
        return values
    }
}
