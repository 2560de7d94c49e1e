import CSnappy
import CZstd

/// The codec Parquet pages are compressed with.
public enum ParquetCompression: String, Sendable, CaseIterable {
    /// Pages stored as they are.
    case uncompressed
    /// Snappy, what Spark writes by default: fast, moderate ratio.
    case snappy
    /// Zstandard: smaller files at a little more CPU (level in ``ParquetWriterOptions/zstdLevel``).
    case zstd

    var codec: ParquetCodec {
        switch self {
        case .uncompressed: .uncompressed
        case .snappy: .snappy
        case .zstd: .zstd
        }
    }
}

/// Compresses page bodies with one codec, reusing its output buffer (and Zstandard context).
///
/// Parquet feeds each page's bytes to the codec as they are, with no extra framing (Compression.md):
/// a raw Snappy block, or one Zstandard frame.
final class PageCompressor {
    let compression: ParquetCompression
    private let zstdLevel: Int32
    private var zstdContext: OpaquePointer?
    /// Holds the last compressed page in its first ``compressedCount`` bytes; only ever grows.
    private var scratch: [UInt8] = []
    private var compressedCount = 0

    /// The last compressed page.
    var compressed: ArraySlice<UInt8> { scratch[..<compressedCount] }

    init(compression: ParquetCompression, zstdLevel: Int32) {
        self.compression = compression
        self.zstdLevel = zstdLevel
    }

    deinit {
        if let zstdContext { ZSTD_freeCCtx(zstdContext) }
    }

    /// The Zstandard levels the library accepts.
    static var zstdLevels: ClosedRange<Int> { Int(ZSTD_minCLevel())...Int(ZSTD_maxCLevel()) }

    /// Compresses `input` into ``compressed``; `path` names the file in errors.
    func compress(_ input: UnsafeRawBufferPointer, path: String) throws(OutputError) {
        switch compression {
        case .uncompressed:
            reserve(input.count)
            scratch.withUnsafeMutableBytes { out in
                if let base = input.baseAddress { out.baseAddress?.copyMemory(from: base, byteCount: input.count) }
            }
            compressedCount = input.count
        case .snappy:
            let capacity = snappy_max_compressed_length(input.count)
            reserve(capacity)
            var length = scratch.count
            let status = scratch.withUnsafeMutableBytes { out in
                snappy_compress(
                    input.baseAddress?.assumingMemoryBound(to: CChar.self), input.count,
                    out.baseAddress?.assumingMemoryBound(to: CChar.self), &length)
            }
            guard status == SNAPPY_OK else {
                throw OutputError(.compression, path: path, reason: "Snappy compression failed (status \(status.rawValue))")
            }
            compressedCount = length
        case .zstd:
            if zstdContext == nil { zstdContext = ZSTD_createCCtx() }
            guard let context = zstdContext else {
                throw OutputError(.compression, path: path, reason: "cannot create a Zstandard context")
            }
            let capacity = ZSTD_compressBound(input.count)
            guard ZSTD_isError(capacity) == 0 else {
                throw OutputError(.compression, path: path, reason: "page of \(input.count) bytes too large for Zstandard")
            }
            reserve(capacity)
            let level = zstdLevel
            let length = scratch.withUnsafeMutableBytes { out in
                ZSTD_compressCCtx(context, out.baseAddress, out.count, input.baseAddress, input.count, level)
            }
            guard ZSTD_isError(length) == 0 else {
                let name = ZSTD_getErrorName(length).map { String(cString: $0) } ?? "unknown error"
                throw OutputError(.compression, path: path, reason: "Zstandard compression failed: \(name)")
            }
            compressedCount = length
        }
    }

    private func reserve(_ count: Int) {
        if scratch.count < count { scratch = [UInt8](repeating: 0, count: count) }
    }
}
