/// Serialises Thrift structures with the Thrift compact protocol, the encoding of all Parquet metadata.
///
/// Only what writing needs: structs, fields of type bool, i16, i32, i64, binary/string, struct and list.
/// Structs are written by ``beginStruct()`` … fields … ``endStruct()``; fields must be written in
/// increasing id order within a struct, because the compact protocol stores each field id as a delta
/// from the previous one.
struct ThriftCompactEncoder {
    /// Compact-protocol type codes, used both in field headers and (except booleans) in list headers.
    enum FieldType: UInt8 {
        case booleanTrue = 1
        case booleanFalse = 2
        case i8 = 3
        case i16 = 4
        case i32 = 5
        case i64 = 6
        case double = 7
        case binary = 8
        case list = 9
        case set = 10
        case map = 11
        case `struct` = 12
    }

    /// The bytes written so far.
    private(set) var bytes: [UInt8] = []
    /// The last field id written in each struct being written, innermost last.
    private var lastFieldIDs: [Int16] = []

    init() {}

    // MARK: Integers

    /// Appends an unsigned LEB128 varint: 7 bits per byte, least significant group first,
    /// the high bit set on every byte except the last.
    mutating func writeVarint(_ value: UInt64) {
        var rest = value
        while rest >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: rest) | 0x80)
            rest >>= 7
        }
        bytes.append(UInt8(rest))
    }

    /// Zigzag folds signed into unsigned (0, -1, 1, -2 … → 0, 1, 2, 3 …) so small magnitudes stay short.
    static func zigzag(_ value: Int64) -> UInt64 {
        UInt64(bitPattern: (value << 1) ^ (value >> 63))
    }

    mutating func writeI32(_ value: Int32) { writeVarint(Self.zigzag(Int64(value))) }
    mutating func writeI64(_ value: Int64) { writeVarint(Self.zigzag(value)) }

    /// Binary and strings: varint byte length, then the bytes.
    mutating func writeBinary(_ value: some Collection<UInt8>) {
        writeVarint(UInt64(value.count))
        bytes.append(contentsOf: value)
    }

    // MARK: Structs and fields

    mutating func beginStruct() {
        lastFieldIDs.append(0)
    }

    /// Ends a struct with the stop byte.
    mutating func endStruct() {
        bytes.append(0)
        lastFieldIDs.removeLast()
    }

    /// A field header: `ddddtttt` (delta, type) when the delta from the previous id is 1…15,
    /// otherwise the type byte followed by the id as a zigzag varint.
    mutating func writeFieldHeader(id: Int16, type: FieldType) {
        let previous = lastFieldIDs.last ?? 0
        let delta = Int(id) - Int(previous)
        if delta >= 1 && delta <= 15 {
            bytes.append(UInt8(delta) << 4 | type.rawValue)
        } else {
            bytes.append(type.rawValue)
            writeI32(Int32(id))
        }
        if !lastFieldIDs.isEmpty { lastFieldIDs[lastFieldIDs.count - 1] = id }
    }

    /// A boolean field carries its value in the header's type code and has no body.
    mutating func writeBoolField(_ id: Int16, _ value: Bool) {
        writeFieldHeader(id: id, type: value ? .booleanTrue : .booleanFalse)
    }

    mutating func writeI16Field(_ id: Int16, _ value: Int16) {
        writeFieldHeader(id: id, type: .i16)
        writeI32(Int32(value))
    }

    mutating func writeI32Field(_ id: Int16, _ value: Int32) {
        writeFieldHeader(id: id, type: .i32)
        writeI32(value)
    }

    mutating func writeI64Field(_ id: Int16, _ value: Int64) {
        writeFieldHeader(id: id, type: .i64)
        writeI64(value)
    }

    mutating func writeBinaryField(_ id: Int16, _ value: some Collection<UInt8>) {
        writeFieldHeader(id: id, type: .binary)
        writeBinary(value)
    }

    mutating func writeStringField(_ id: Int16, _ value: String) {
        writeBinaryField(id, value.utf8)
    }

    /// A struct-valued field: header, then the nested struct written by `body` between its own
    /// begin and stop byte.
    mutating func writeStructField(_ id: Int16, _ body: (inout ThriftCompactEncoder) -> Void) {
        writeFieldHeader(id: id, type: .struct)
        beginStruct()
        body(&self)
        endStruct()
    }

    /// A list header: `sssstttt` for 0…14 elements, otherwise `1111tttt` then the size as a varint.
    mutating func writeListHeader(elementType: FieldType, count: Int) {
        if count < 15 {
            bytes.append(UInt8(count) << 4 | elementType.rawValue)
        } else {
            bytes.append(0xF0 | elementType.rawValue)
            writeVarint(UInt64(count))
        }
    }

    /// A list field of structs, each written by `element` between its begin and stop byte.
    mutating func writeStructListField<Element>(
        _ id: Int16, _ elements: [Element], _ element: (inout ThriftCompactEncoder, Element) -> Void
    ) {
        writeFieldHeader(id: id, type: .list)
        writeListHeader(elementType: .struct, count: elements.count)
        for value in elements {
            beginStruct()
            element(&self, value)
            endStruct()
        }
    }

    mutating func writeI32ListField(_ id: Int16, _ elements: [Int32]) {
        writeFieldHeader(id: id, type: .list)
        writeListHeader(elementType: .i32, count: elements.count)
        for value in elements { writeI32(value) }
    }

    mutating func writeStringListField(_ id: Int16, _ elements: [String]) {
        writeFieldHeader(id: id, type: .list)
        writeListHeader(elementType: .binary, count: elements.count)
        for value in elements { writeBinary(value.utf8) }
    }
}
