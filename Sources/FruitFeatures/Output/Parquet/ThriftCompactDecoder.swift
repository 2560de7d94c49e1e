/// A Thrift value decoded from the compact protocol, before it is given a meaning.
///
/// Parquet metadata is read into this tree first and then picked apart by field id, so unknown
/// fields (newer writers add many) are skipped by construction.
indirect enum ThriftValue {
    case bool(Bool)
    case integer(Int64)
    case double(Double)
    case binary([UInt8])
    case list([ThriftValue])
    case map([(ThriftValue, ThriftValue)])
    case structure(ThriftStruct)

    var integer: Int64? { if case .integer(let value) = self { value } else { nil } }
    var binary: [UInt8]? { if case .binary(let value) = self { value } else { nil } }
    var structure: ThriftStruct? { if case .structure(let value) = self { value } else { nil } }
    var list: [ThriftValue]? { if case .list(let value) = self { value } else { nil } }
    var bool: Bool? { if case .bool(let value) = self { value } else { nil } }
}

/// A decoded Thrift struct: its fields by id.
struct ThriftStruct {
    var fields: [Int16: ThriftValue] = [:]

    subscript(_ id: Int16) -> ThriftValue? { fields[id] }
    func integer(_ id: Int16) -> Int64? { fields[id]?.integer }
    func structure(_ id: Int16) -> ThriftStruct? { fields[id]?.structure }
    func list(_ id: Int16) -> [ThriftValue]? { fields[id]?.list }
    func string(_ id: Int16) -> String? { fields[id]?.binary.flatMap { String(validating: $0, as: UTF8.self) } }
}

/// Why Thrift bytes could not be decoded.
struct ThriftDecodingError: Error, CustomStringConvertible {
    var reason: String
    var description: String { reason }
}

/// Reads Thrift structures in the compact protocol (the inverse of ``ThriftCompactEncoder``).
///
/// The bytes come from files, so every length is checked against what remains and nesting is bounded:
/// damaged metadata gives an error, never a trap or an unbounded allocation.
struct ThriftCompactDecoder {
    private let bytes: UnsafeRawBufferPointer
    /// The offset of the next unread byte.
    private(set) var offset: Int
    private var depth = 0
    private static let maximumDepth = 64

    init(_ bytes: UnsafeRawBufferPointer, offset: Int = 0) {
        self.bytes = bytes
        self.offset = offset
    }

    /// Reads one struct (fields up to its stop byte).
    mutating func readStruct() throws(ThriftDecodingError) -> ThriftStruct {
        depth += 1
        defer { depth -= 1 }
        guard depth <= Self.maximumDepth else { throw ThriftDecodingError(reason: "Thrift structures nested too deeply") }
        var result = ThriftStruct()
        var lastID: Int16 = 0
        while true {
            let header = try readByte()
            if header == 0 { return result }
            let type = header & 0x0F
            let delta = header >> 4
            let id: Int16
            if delta == 0 {
                let wide = try readZigzag()
                guard let narrow = Int16(exactly: wide) else { throw ThriftDecodingError(reason: "field id \(wide) out of range") }
                id = narrow
            } else {
                id = lastID &+ Int16(delta)
            }
            lastID = id
            // Booleans carry their value in the field's type code.
            if type == 1 || type == 2 {
                result.fields[id] = .bool(type == 1)
            } else {
                result.fields[id] = try readValue(type: type)
            }
        }
    }

    private mutating func readValue(type: UInt8) throws(ThriftDecodingError) -> ThriftValue {
        switch type {
        case 1, 2:  // a boolean list element: one byte, 1 for true
            return .bool(try readByte() == 1)
        case 3:
            return .integer(Int64(Int8(bitPattern: try readByte())))
        case 4, 5, 6:
            return .integer(try readZigzag())
        case 7:
            var bits: UInt64 = 0
            for shift in 0..<8 { bits |= UInt64(try readByte()) << (8 * shift) }
            return .double(Double(bitPattern: bits))
        case 8:
            let length = try readLength()
            let start = offset
            offset += length
            return .binary(Array(bytes[start..<(start + length)]))
        case 9, 10:
            let header = try readByte()
            var count = Int(header >> 4)
            if count == 15 { count = try readLength() }
            // Each element takes at least one byte: a cheap bound before allocating.
            guard count <= bytes.count - offset else { throw ThriftDecodingError(reason: "a list of \(count) elements runs past the end") }
            let elementType = header & 0x0F
            var elements: [ThriftValue] = []
            elements.reserveCapacity(count)
            try nested { (decoder: inout ThriftCompactDecoder) throws(ThriftDecodingError) in
                for _ in 0..<count { elements.append(try decoder.readValue(type: elementType)) }
            }
            return .list(elements)
        case 11:
            let count = try readLength()
            guard count <= bytes.count - offset else { throw ThriftDecodingError(reason: "a map of \(count) entries runs past the end") }
            guard count > 0 else { return .map([]) }
            let types = try readByte()
            var entries: [(ThriftValue, ThriftValue)] = []
            try nested { (decoder: inout ThriftCompactDecoder) throws(ThriftDecodingError) in
                for _ in 0..<count {
                    entries.append((try decoder.readValue(type: types >> 4), try decoder.readValue(type: types & 0x0F)))
                }
            }
            return .map(entries)
        case 12:
            return .structure(try readStruct())
        default:
            throw ThriftDecodingError(reason: "unknown Thrift type code \(type) at byte \(offset)")
        }
    }

    private mutating func nested(_ body: (inout ThriftCompactDecoder) throws(ThriftDecodingError) -> Void) throws(ThriftDecodingError) {
        depth += 1
        defer { depth -= 1 }
        guard depth <= Self.maximumDepth else { throw ThriftDecodingError(reason: "Thrift values nested too deeply") }
        try body(&self)
    }

    private mutating func readByte() throws(ThriftDecodingError) -> UInt8 {
        guard offset < bytes.count else { throw ThriftDecodingError(reason: "Thrift data ends early") }
        defer { offset += 1 }
        return bytes[offset]
    }

    /// An unsigned LEB128 varint of at most ten bytes.
    private mutating func readVarint() throws(ThriftDecodingError) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let byte = try readByte()
            guard shift < 64 else { throw ThriftDecodingError(reason: "a varint longer than ten bytes") }
            result |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
        }
    }

    private mutating func readZigzag() throws(ThriftDecodingError) -> Int64 {
        let value = try readVarint()
        return Int64(bitPattern: (value >> 1) ^ (0 &- (value & 1)))
    }

    /// A length that must fit in what remains.
    private mutating func readLength() throws(ThriftDecodingError) -> Int {
        let value = try readVarint()
        guard value <= UInt64(bytes.count - offset) else {
            throw ThriftDecodingError(reason: "a length of \(value) runs past the end of the Thrift data")
        }
        return Int(value)
    }
}
