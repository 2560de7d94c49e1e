/// The whole contents of a run's file at `path` (through the library's one reader, ``readRegularFile(atPath:limit:spareCapacity:)``),
/// followed by `terminatorCount` zero bytes (not part of the file: parsers use one as a sentinel).
///
/// - Throws: ``AnalysisError`` of kind ``AnalysisError/Kind/unreadable`` with the reason in the user's terms.
func readFileContents(atPath path: String, limit: Int, terminatorCount: Int = 0) throws(AnalysisError) -> [UInt8] {
    var bytes: [UInt8]
    do {
        bytes = try readRegularFile(atPath: path, limit: limit, spareCapacity: terminatorCount)
    } catch {
        throw AnalysisError(.unreadable, path: path, reason: error.reasonText)
    }
    bytes.append(contentsOf: repeatElement(0, count: terminatorCount))
    return bytes
}
