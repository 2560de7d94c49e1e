import Foundation

/// Checks the global heap collections of an HDF5 file before libhdf5 reads them.
///
/// Variable-length strings (Keras' `layer_names`, `weight_names`) live in global heap collections.
/// libhdf5 1.10 trusts the object sizes stored there: a damaged size makes `H5HG_read` copy past the
/// end of its buffer and crash the process (found by the fuzz tests: two bit flips suffice). This
/// walks every collection the way libhdf5 does and refuses the file when an object runs past the end
/// of its collection, so such a file is an error instead of a crash.
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
            while position + objectHeaderSize <= end {
                let index = u16(position)
                let objectSize = u64(position + 8)
                // Objects are padded to 8 bytes; the free space (index 0) counts its own header.
                let (padded, overflow) = objectSize.addingReportingOverflow(7)
                let need = index == 0 ? objectSize : UInt64(objectHeaderSize) + (padded & ~7)
                guard !overflow, need >= UInt64(objectHeaderSize), need <= UInt64(end - position) else {
                    return (offset, "object \(index) at byte \(position) claims \(objectSize) bytes, past the end of its collection")
                }
                position += Int(need)
            }
            offset = end
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
