import Foundation

/// Checks the global heap collections of an HDF5 file before libhdf5 reads them.
///
/// Variable-length strings (Keras' `layer_names`, `weight_names`) live in global heap collections.
/// libhdf5 1.10 trusts the object sizes stored there: a damaged size makes `H5HG_read` copy past the
/// end of its buffer and crash the process (found by the fuzz tests: two bit flips suffice). This
/// walks every collection the way libhdf5 does and refuses the file when an object runs past the end
/// of its collection, or when a variable-length value refers to an object its collection does not
/// hold, so such a file is an error instead of a crash.
///
/// Collection layout (HDF5 file format, "Global Heap"): `"GCOL"`, version 1, three reserved bytes,
/// an 8-byte collection size (header included), then objects of `u16 index, u16 references,
/// u32 reserved, u64 size, data padded to 8 bytes`; index 0 is the free space, whose size covers
/// its header too.
enum HDF5GlobalHeapCheck {
    static let headerSize = 16
    static let objectHeaderSize = 16
    /// libhdf5 never writes a smaller collection; a smaller candidate is ordinary data.
    static let minimumCollectionSize = 4096

    /// The first damaged collection, as (offset, reason), or nil when every collection is sound.
    static func firstDamage(in bytes: UnsafeRawBufferPointer) -> (offset: Int, reason: String)? {
        let count = bytes.count
        guard count >= headerSize else { return nil }
        func u16(_ at: Int) -> Int { Int(bytes[at]) | Int(bytes[at + 1]) << 8 }
        func u64(_ at: Int) -> UInt64 { (0..<8).reduce(UInt64(0)) { $0 | UInt64(bytes[at + $1]) << (8 * UInt64($1)) } }
        // The objects of each sound collection, by the collection's address.
        var objects: [UInt64: Set<Int>] = [:]
        var offset = 0
        while offset + headerSize <= count {
            // "GCOL", version 1, reserved zeros: a collection header (anything else is other data).
            guard bytes[offset] == 0x47, bytes[offset + 1] == 0x43, bytes[offset + 2] == 0x4F, bytes[offset + 3] == 0x4C,
                  bytes[offset + 4] == 1, bytes[offset + 5] == 0, bytes[offset + 6] == 0, bytes[offset + 7] == 0 else {
                offset += 1
                continue
            }
            let size = u64(offset + 8)
            guard size >= UInt64(minimumCollectionSize), size <= UInt64(count - offset) else {
                offset += 1
                continue
            }
            let end = offset + Int(size)
            var position = offset + headerSize
            var indices: Set<Int> = []
            while position + objectHeaderSize <= end {
                let index = u16(position)
                if index != 0 { indices.insert(index) }
                let objectSize = u64(position + 8)
                // Objects are padded to 8 bytes; the free space (index 0) counts its own header.
                let (padded, overflow) = objectSize.addingReportingOverflow(7)
                let need = index == 0 ? objectSize : UInt64(objectHeaderSize) + (padded & ~7)
                guard !overflow, need >= UInt64(objectHeaderSize), need <= UInt64(end - position) else {
                    return (offset, "object \(index) at byte \(position) claims \(objectSize) bytes, past the end of its collection")
                }
                position += Int(need)
            }
            objects[UInt64(offset)] = indices
            offset = end
        }
        return objects.isEmpty ? nil : firstDanglingReference(in: bytes, objects: objects)
    }

    /// The first variable-length string attribute whose heap reference names an object its collection does
    /// not hold, as (collection offset, reason).
    ///
    /// A variable-length value is stored as (u32 length, u64 collection address, u32 object index), and
    /// libhdf5 1.10's `H5HG_read` does not check the index against the collection: an index that names no
    /// object reads a pointer from past the collection's object table (found by the HDF5 mutation tests,
    /// one flipped bit). The references are found in the attribute messages themselves, recognised by
    /// their layout (HDF5 file format, "Attribute Message", versions 1–3) with a variable-length string
    /// datatype, so that array data that happens to look like an address is never taken for one.
    static func firstDanglingReference(in bytes: UnsafeRawBufferPointer, objects: [UInt64: Set<Int>]) -> (offset: Int, reason: String)? {
        let count = bytes.count
        func u16(_ at: Int) -> Int { Int(bytes[at]) | Int(bytes[at + 1]) << 8 }
        func u32(_ at: Int) -> Int { u16(at) | u16(at + 2) << 16 }
        func u64(_ at: Int) -> UInt64 { (0..<8).reduce(UInt64(0)) { $0 | UInt64(bytes[at + $1]) << (8 * UInt64($1)) } }
        func padded(_ size: Int, _ version: Int) -> Int { version == 1 ? (size + 7) & ~7 : size }
        var body = 0
        while body + 16 <= count {
            defer { body += 1 }
            let version = Int(bytes[body])
            guard (1...3).contains(version), version != 1 || bytes[body + 1] == 0 else { continue }
            let (nameSize, typeSize, spaceSize) = (u16(body + 2), u16(body + 4), u16(body + 6))
            guard nameSize >= 2, typeSize >= 8, spaceSize >= 4 else { continue }
            let nameStart = body + (version == 3 ? 9 : 8)
            let typeStart = nameStart + padded(nameSize, version)
            let spaceStart = typeStart + padded(typeSize, version)
            let dataStart = spaceStart + padded(spaceSize, version)
            guard dataStart <= count, bytes[nameStart + nameSize - 1] == 0,
                  !(nameStart..<(nameStart + nameSize - 1)).contains(where: { bytes[$0] == 0 }) else { continue }
            // Datatype: class 9 (variable-length), type 1 (string).
            guard bytes[typeStart] & 0x0F == 9, (1...4).contains(bytes[typeStart] >> 4),
                  bytes[typeStart + 1] & 0x0F == 1 else { continue }
            // Dataspace: version 1 (dims at 8) or 2 (dims at 4; type 0 scalar, 1 simple, 2 null).
            let spaceVersion = Int(bytes[spaceStart])
            let rank = Int(bytes[spaceStart + 1])
            guard (1...2).contains(spaceVersion), rank <= 32 else { continue }
            if spaceVersion == 2 && bytes[spaceStart + 3] == 2 { continue }
            let dims = spaceStart + (spaceVersion == 1 ? 8 : 4)
            guard dims + 8 * rank <= count else { continue }
            var points = 1
            for axis in 0..<rank {
                let extent = u64(dims + 8 * axis)
                let product = points.multipliedReportingOverflow(by: Int(clamping: extent))
                guard !product.overflow else { points = .max; break }
                points = product.partialValue
            }
            guard points <= (count - dataStart) / 16 else { continue }
            for point in 0..<points {
                let reference = dataStart + 16 * point
                let address = u64(reference + 4)
                guard let indices = objects[address] else { continue }
                let index = u32(reference + 12)
                if !indices.contains(index) {
                    return (Int(address), "the attribute at byte \(body) refers to object \(index), which the collection does not hold")
                }
            }
        }
        return nil
    }

    /// Checks a file's contents (read by the caller); throws when a collection is damaged.
    ///
    /// The file is read, not mapped: a mapped file can raise SIGBUS (a full tmpfs, a file cut short
    /// meanwhile), which is exactly the kind of crash this check exists to prevent.
    static func check(_ bytes: [UInt8], path: String) throws(HDF5Error) {
        func failure(_ message: String) -> HDF5Error {
            HDF5Error(file: path, object: "/", reason: .cannotOpen, libraryMessage: message)
        }
        if let damage = bytes.withUnsafeBytes({ firstDamage(in: $0) }) {
            throw failure("damaged global heap collection at byte \(damage.offset): \(damage.reason)")
        }
    }
}
