/// The content identity of encoded images: the SHA-256 of bytes already in memory (the bytes read for
/// decoding, so identifying an image never costs a second read).
enum ContentDigest {
    /// Lower-case hexadecimal SHA-256 of `bytes`.
    static func sha256Hex(_ bytes: [UInt8]) -> String {
        var digest = SHA256()
        digest.update(bytes)
        return digest.hexDigest()
    }
}
