import Crypto

/// The SHA-256 of a file's contents as 64 lowercase hexadecimal digits, which identifies a weights file.
///
/// The file is read through ``RegularFileReader`` (so a FIFO or a device is refused, not waited on) in 1 MiB
/// blocks into one reused buffer: memory stays the same whatever the file's size.
func sha256HexDigest(ofFileAt path: String) throws(FileProblem) -> String {
    let reader = try RegularFileReader(path: path, limit: nil)
    var hasher = SHA256()
    let block = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
    defer { block.deallocate() }
    while true {
        let count = try reader.read(into: block)
        if count == 0 { break }
        hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: block[..<count]))
    }
    let digits = Array("0123456789abcdef".utf8)
    var text: [UInt8] = []
    text.reserveCapacity(64)
    for byte in hasher.finalize() {
        text.append(digits[Int(byte >> 4)])
        text.append(digits[Int(byte & 0xF)])
    }
    return String(decoding: text, as: UTF8.self)
}
