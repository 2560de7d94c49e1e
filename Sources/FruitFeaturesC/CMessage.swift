/// Writes `message` into a caller's C buffer of `size` bytes, NUL-terminated, cut on a UTF-8 character
/// boundary when it does not fit. A NULL buffer or a size of 0 writes nothing.
func writeCMessage(_ message: String, to buffer: UnsafeMutablePointer<CChar>?, size: Int) {
    guard let buffer, size > 0 else { return }
    let bytes = Array(message.utf8)
    var length = min(bytes.count, size - 1)
    // Back off over continuation bytes (10xxxxxx) so a multi-byte character is never cut in half.
    if length < bytes.count {
        while length > 0 && bytes[length] & 0xC0 == 0x80 { length -= 1 }
    }
    for i in 0..<length { buffer[i] = CChar(bitPattern: bytes[i]) }
    buffer[length] = 0
}

/// A Swift string from a C path argument, or `nil` when the pointer is NULL or the bytes are not UTF-8.
func stringArgument(_ pointer: UnsafePointer<CChar>?) -> String? {
    guard let pointer else { return nil }
    return String(validatingCString: pointer)
}
