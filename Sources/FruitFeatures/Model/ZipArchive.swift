import CZlib
import Foundation

/// A zip archive that cannot be read, or a member that cannot be extracted.
public struct ZipError: Error, CustomStringConvertible, Sendable, Equatable {
    /// What is wrong.
    public enum Reason: Sendable, Equatable {
        /// The file cannot be read (missing, unreadable).
        case unreadable(String)
        /// No end-of-central-directory record: not a zip archive (or one cut short).
        case notZip
        /// A header points outside the file or is not what it should be (detail says which).
        case damaged(String)
        /// A feature this reader does not handle (ZIP64, encryption, a compression method other than stored/deflate).
        case unsupported(String)
        /// The archive has no member of that name.
        case missingMember(String)
        /// The member inflates to more (or fewer) bytes than its headers declare.
        case sizeMismatch(member: String, declared: Int, actual: String)
        /// The member would inflate past the limit (absolute size, or compression ratio of a zip bomb).
        case tooLarge(member: String, declared: Int, limit: String)
        /// The member's CRC-32 differs from the one its headers declare.
        case checksumMismatch(String)
    }

    /// The archive's path.
    public let file: String
    /// What is wrong.
    public let reason: Reason

    /// Creates an error about the archive at `file`.
    public init(file: String, reason: Reason) {
        self.file = file
        self.reason = reason
    }

    /// A one-line explanation naming the archive.
    public var description: String {
        let what: String
        switch reason {
        case .unreadable(let detail): what = "cannot read the file: \(detail)"
        case .notZip: what = "not a zip archive (no end of central directory record; truncated?)"
        case .damaged(let detail): what = "damaged zip archive: \(detail)"
        case .unsupported(let detail): what = "unsupported zip archive: \(detail)"
        case .missingMember(let name): what = "the archive has no member \(name)"
        case .sizeMismatch(let member, let declared, let actual):
            what = "member \(member) declares \(declared) bytes but holds \(actual)"
        case .tooLarge(let member, let declared, let limit):
            what = "member \(member) would inflate to \(declared) bytes, over the limit of \(limit) (refused as a zip bomb)"
        case .checksumMismatch(let member): what = "member \(member) fails its CRC-32 check"
        }
        return "\(file): \(what)"
    }
}

/// A zip archive read whole into memory, listing its members from the central directory.
///
/// Only what `.keras` archives need: stored and deflated members, no ZIP64, no encryption. Every offset
/// and size read from the archive is checked against the archive's length before use, a member never
/// inflates past its declared size (nor past `maximumMemberBytes`, nor past `maximumRatio` times its
/// compressed size: a zip bomb is refused before it fills memory), and its CRC-32 is verified.
package struct ZipArchive: Sendable {
    /// One member as the central directory describes it.
    package struct Member: Sendable, Equatable {
        /// Its path inside the archive.
        package let name: String
        /// 0 stored, 8 deflated.
        package let method: Int
        /// Bytes the member occupies in the archive, as declared.
        package let compressedSize: Int
        /// Bytes the member inflates to, as declared (checked when it is read).
        package let uncompressedSize: Int
        let crc32: UInt32
        let flags: Int
        let localHeaderOffset: Int
    }

    /// Where the archive is (for errors).
    package let file: String
    /// The members, in central-directory order.
    package let members: [Member]
    private let bytes: [UInt8]

    /// No member inflates to more than this many bytes (1 GiB: far beyond any MobileNet's weights).
    package static let defaultMaximumMemberBytes = 1 << 30
    /// A member larger than 1 MiB may not inflate to more than this many times its compressed size:
    /// HDF5 weights compress by a few times at most; a zip bomb by a thousand.
    package static let maximumRatio = 200

    /// Reads the archive at `url` and its central directory.
    package init(contentsOf url: URL) throws(ZipError) {
        let path = url.path
        let bytes: [UInt8]
        do {
            // A regular file within the HDF5 limit (a FIFO or a device is refused rather than read forever).
            bytes = try readRegularFile(atPath: path, limit: FileSizeLimit.hdf5)
        } catch {
            throw ZipError(file: path, reason: .unreadable(error.reasonText))
        }
        try self.init(bytes: bytes, file: path)
    }

    /// Reads an archive held in memory; `file` names it in errors.
    package init(bytes: [UInt8], file: String) throws(ZipError) {
        self.file = file
        self.bytes = bytes
        members = try Self.centralDirectory(bytes, file: file)
    }

    /// Whether `bytes` start like a zip archive (a local file header or an empty archive's end record).
    package static func looksLikeZip(_ prefix: [UInt8]) -> Bool {
        prefix.count >= 4 && prefix[0] == 0x50 && prefix[1] == 0x4B
            && ((prefix[2] == 3 && prefix[3] == 4) || (prefix[2] == 5 && prefix[3] == 6))
    }

    /// The member called `name`, or nil.
    package func member(named name: String) -> Member? { members.first { $0.name == name } }

    /// The uncompressed contents of the member called `name`.
    package func contents(of name: String, maximumBytes: Int = defaultMaximumMemberBytes) throws(ZipError) -> [UInt8] {
        guard let member = member(named: name) else { throw ZipError(file: file, reason: .missingMember(name)) }
        return try contents(of: member, maximumBytes: maximumBytes)
    }

    /// The uncompressed contents of `member`, checked against its declared size and CRC-32.
    package func contents(of member: Member, maximumBytes: Int = defaultMaximumMemberBytes) throws(ZipError) -> [UInt8] {
        func fail(_ reason: ZipError.Reason) -> ZipError { ZipError(file: file, reason: reason) }
        guard member.flags & 1 == 0 else { throw fail(.unsupported("member \(member.name) is encrypted")) }
        guard member.uncompressedSize <= maximumBytes else {
            throw fail(.tooLarge(member: member.name, declared: member.uncompressedSize, limit: "\(maximumBytes) bytes"))
        }
        if member.uncompressedSize > 1 << 20, member.uncompressedSize / max(member.compressedSize, 1) > Self.maximumRatio {
            throw fail(.tooLarge(member: member.name, declared: member.uncompressedSize,
                                 limit: "\(Self.maximumRatio) times its \(member.compressedSize) compressed bytes"))
        }
        // Local header: signature, then fixed fields; name and extra field lengths at 26 and 28.
        let local = member.localHeaderOffset
        guard local >= 0, local <= bytes.count - 30, u32(local) == 0x0403_4B50 else {
            throw fail(.damaged("no local header for \(member.name) at byte \(local)"))
        }
        let dataStart = local + 30 + u16(local + 26) + u16(local + 28)
        guard dataStart <= bytes.count, member.compressedSize <= bytes.count - dataStart else {
            throw fail(.damaged("member \(member.name) runs past the end of the archive"))
        }
        let compressed = bytes[dataStart..<(dataStart + member.compressedSize)]
        let output: [UInt8]
        switch member.method {
        case 0:
            guard member.compressedSize == member.uncompressedSize else {
                throw fail(.sizeMismatch(member: member.name, declared: member.uncompressedSize,
                                         actual: "\(member.compressedSize) stored bytes"))
            }
            output = Array(compressed)
        case 8:
            output = try inflate(compressed, member: member)
        default:
            throw fail(.unsupported("member \(member.name) uses compression method \(member.method)"))
        }
        let checksum = output.withUnsafeBufferPointer { buffer in
            UInt32(CZlib.crc32(0, buffer.baseAddress, uInt(buffer.count)))
        }
        guard checksum == member.crc32 else { throw fail(.checksumMismatch(member.name)) }
        return output
    }

    /// Raw deflate into exactly `uncompressedSize` bytes: a stream holding more than declared, or ending
    /// short of it, is a size mismatch (the output buffer is never grown).
    private func inflate(_ compressed: ArraySlice<UInt8>, member: Member) throws(ZipError) -> [UInt8] {
        func mismatch(_ actual: String) -> ZipError {
            ZipError(file: file, reason: .sizeMismatch(member: member.name, declared: member.uncompressedSize, actual: actual))
        }
        var output = [UInt8](repeating: 0, count: member.uncompressedSize)
        var stream = z_stream()
        guard inflateInit2_(&stream, -MAX_WBITS, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw ZipError(file: file, reason: .damaged("zlib cannot start inflating \(member.name)"))
        }
        defer { inflateEnd(&stream) }
        // (status, whether the stream produced a byte past the declared size)
        let (status, overflowed): (Int32, Bool) = compressed.withUnsafeBufferPointer { input in
            output.withUnsafeMutableBufferPointer { out in
                stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress)
                stream.avail_in = uInt(input.count)
                stream.next_out = out.baseAddress
                stream.avail_out = uInt(out.count)
                let result = CZlib.inflate(&stream, Z_FINISH)
                guard result != Z_STREAM_END, stream.avail_out == 0 else { return (result, false) }
                // The declared size is full but the stream has not ended: one spare byte tells whether it
                // holds more data or only its end marker.
                var spare: UInt8 = 0
                return withUnsafeMutablePointer(to: &spare) { extra in
                    stream.next_out = extra
                    stream.avail_out = 1
                    let last = CZlib.inflate(&stream, Z_FINISH)
                    return (last, stream.avail_out == 0)
                }
            }
        }
        if overflowed { throw mismatch("more") }
        switch status {
        case Z_STREAM_END:
            guard Int(stream.total_out) == member.uncompressedSize else { throw mismatch("\(stream.total_out)") }
            return output
        case Z_BUF_ERROR, Z_OK:
            throw mismatch("fewer (the deflate stream ends after \(stream.total_out) bytes)")
        default:
            throw ZipError(file: file, reason: .damaged("member \(member.name) is not a valid deflate stream"))
        }
    }

    private func u16(_ at: Int) -> Int { Int(bytes[at]) | Int(bytes[at + 1]) << 8 }
    private func u32(_ at: Int) -> UInt32 {
        UInt32(bytes[at]) | UInt32(bytes[at + 1]) << 8 | UInt32(bytes[at + 2]) << 16 | UInt32(bytes[at + 3]) << 24
    }

    /// Finds the end-of-central-directory record (the last 22 bytes plus up to 65 535 bytes of comment)
    /// and reads every central directory entry, checking each against the archive's length.
    private static func centralDirectory(_ bytes: [UInt8], file: String) throws(ZipError) -> [Member] {
        func u16(_ at: Int) -> Int { Int(bytes[at]) | Int(bytes[at + 1]) << 8 }
        func u32(_ at: Int) -> Int {
            Int(bytes[at]) | Int(bytes[at + 1]) << 8 | Int(bytes[at + 2]) << 16 | Int(bytes[at + 3]) << 24
        }
        func damaged(_ detail: String) -> ZipError { ZipError(file: file, reason: .damaged(detail)) }
        guard bytes.count >= 22 else { throw ZipError(file: file, reason: .notZip) }
        var end = -1
        var position = bytes.count - 22
        let lowest = max(0, bytes.count - 22 - 65_535)
        while position >= lowest {
            if bytes[position] == 0x50, bytes[position + 1] == 0x4B, bytes[position + 2] == 5, bytes[position + 3] == 6,
               position + 22 + u16(position + 20) == bytes.count {
                end = position
                break
            }
            position -= 1
        }
        guard end >= 0 else { throw ZipError(file: file, reason: .notZip) }
        let entries = u16(end + 10)
        let directorySize = u32(end + 12)
        let directoryOffset = u32(end + 16)
        if entries == 0xFFFF || directorySize == 0xFFFF_FFFF || directoryOffset == 0xFFFF_FFFF {
            throw ZipError(file: file, reason: .unsupported("ZIP64 archives (over 4 GiB or 65 535 members)"))
        }
        guard directoryOffset <= end, directorySize <= end - directoryOffset else {
            throw damaged("the central directory (\(directorySize) bytes at \(directoryOffset)) lies outside the archive")
        }
        var members: [Member] = []
        var cursor = directoryOffset
        for index in 0..<entries {
            guard cursor <= end - 46, u32(cursor) == 0x0201_4B50 else {
                throw damaged("central directory entry \(index) at byte \(cursor) is not one")
            }
            let nameLength = u16(cursor + 28)
            let next = cursor + 46 + nameLength + u16(cursor + 30) + u16(cursor + 32)
            guard next <= end else { throw damaged("central directory entry \(index) runs past its end") }
            let name = String(decoding: bytes[(cursor + 46)..<(cursor + 46 + nameLength)], as: UTF8.self)
            let compressed = u32(cursor + 20)
            let uncompressed = u32(cursor + 24)
            let offset = u32(cursor + 42)
            if compressed == 0xFFFF_FFFF || uncompressed == 0xFFFF_FFFF || offset == 0xFFFF_FFFF {
                throw ZipError(file: file, reason: .unsupported("ZIP64 member \(name)"))
            }
            members.append(Member(name: name, method: u16(cursor + 10), compressedSize: compressed,
                                  uncompressedSize: uncompressed, crc32: UInt32(u32(cursor + 16)),
                                  flags: u16(cursor + 8), localHeaderOffset: offset))
            cursor = next
        }
        return members
    }
}
