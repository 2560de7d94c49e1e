import Crypto

/// The content identity of encoded images: the SHA-256 of bytes already in memory (the bytes read for
/// decoding, so identifying an image never costs a second read).
enum ContentDigest {
    /// Lower-case hexadecimal SHA-256 of `bytes`.
    static func sha256Hex(_ bytes: [UInt8]) -> String {
        hexadecimal(SHA256.hash(data: bytes))
    }
}

/// 64 lower-case hexadecimal digits of a SHA-256 digest, as summary.json and the Parquet `sha256` column hold it.
func hexadecimal(_ digest: SHA256.Digest) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var text: [UInt8] = []
    text.reserveCapacity(64)
    for byte in digest {
        text.append(digits[Int(byte >> 4)])
        text.append(digits[Int(byte & 0xF)])
    }
    return String(decoding: text, as: UTF8.self)
}
