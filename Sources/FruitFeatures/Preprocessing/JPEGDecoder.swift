import CJPEGDecoder
import Foundation

/// The colour space of a JPEG's stored samples, as libjpeg infers it from the markers.
enum JPEGColorSpace: Sendable, Equatable {
    /// One component.
    case grayscale
    /// Three components stored as RGB (Adobe transform 0, or component ids 'R','G','B').
    case rgb
    /// Three components stored as YCbCr (the usual JFIF case).
    case yCbCr
    /// Four components stored as (Adobe-inverted) CMYK.
    case cmyk
    /// Four components stored as YCCK (Adobe transform 2).
    case ycck
    /// None libjpeg recognises.
    case unknown

    init(code: Int32) {
        switch UInt32(bitPattern: code) {
        case FFJPEG_CS_GRAYSCALE.rawValue: self = .grayscale
        case FFJPEG_CS_RGB.rawValue: self = .rgb
        case FFJPEG_CS_YCBCR.rawValue: self = .yCbCr
        case FFJPEG_CS_CMYK.rawValue: self = .cmyk
        case FFJPEG_CS_YCCK.rawValue: self = .ycck
        default: self = .unknown
        }
    }
}

/// What a JPEG's frame header says, read without decoding any pixels.
struct JPEGHeader: Sendable, Equatable {
    /// Width in pixels.
    var width: Int
    /// Height in pixels.
    var height: Int
    /// Number of colour components (1, 3 or 4 for a decodable image).
    var components: Int
    /// Colour space of the stored samples.
    var colorSpace: JPEGColorSpace
    /// Bits per sample (8 for every decodable image).
    var bitsPerSample: Int
    /// Whether the frame is progressive.
    var isProgressive: Bool
}

/// Decodes JPEG data to 8-bit RGB with libjpeg, exactly as Pillow's `Image.open(...).convert("RGB")`.
///
/// libjpeg runs with the settings Pillow leaves it at: accurate integer DCT (`JDCT_ISLOW`),
/// fancy upsampling, block smoothing for progressive images, no DCT scaling. Grayscale is
/// replicated to R = G = B. Four-component (CMYK/YCCK) data is treated as Adobe-inverted CMYK
/// and converted with Pillow's formula: with `c`, `k` the bytes libjpeg returns,
/// `R = k − MULDIV255(255 − c, k)` where `MULDIV255(a, b) = (t + (t >> 8)) >> 8`, `t = a·b + 128`
/// (G and B likewise). EXIF orientation is not applied (Pillow's `open` does not apply it).
///
/// The frame header is read first and an image above ``pixelLimit`` pixels is refused before any
/// pixel memory is allocated. Data that ends before the last row is decoded is an error
/// (Pillow's default, `LOAD_TRUNCATED_IMAGES = False`); libjpeg's warnings about recoverable
/// damage are ignored, as Pillow ignores them.
public struct JPEGDecoder: Sendable {
    /// Pillow's decompression-bomb threshold, `Image.MAX_IMAGE_PIXELS` = 1024·1024·1024 / 4 / 3.
    ///
    /// Pillow warns above it and refuses above twice it; this decoder refuses above it.
    public static let pillowPixelLimit = 89_478_485

    /// The largest width × height accepted.
    public var pixelLimit: Int

    /// A decoder refusing images of more than `pixelLimit` pixels.
    public init(pixelLimit: Int = JPEGDecoder.pillowPixelLimit) {
        self.pixelLimit = pixelLimit
    }

    /// Reads the frame header of `data` without decoding pixels.
    ///
    /// Checks the signature (naming the format of non-JPEG data) but not the pixel limit.
    func readHeader(_ data: UnsafeRawBufferPointer, path: String) throws(ImageError) -> JPEGHeader {
        try checkSignature(data, path: path)
        let session = try Session(path: path, pixelLimit: pixelLimit)
        return try session.readHeader(data)
    }

    /// Decodes `data` (the whole contents of a JPEG file) to RGB.
    public func decode(_ data: UnsafeRawBufferPointer, path: String) throws(ImageError) -> RGBImage {
        try checkSignature(data, path: path)
        let session = try Session(path: path, pixelLimit: pixelLimit)
        let header = try session.readHeader(data)
        try checkSize(header, path: path)
        let count = header.width * header.height * 3
        var status = FFJPEG_OK
        let bytes = [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            status = ffjpeg_decode_rgb(session.handle, buffer.baseAddress, count)
            // On failure the contents are garbage but still plain bytes; they are discarded.
            initialized = count
        }
        guard status == FFJPEG_OK else { throw session.error(for: status, header: header) }
        return RGBImage(validatedWidth: header.width, height: header.height, bytes: bytes)
    }

    /// Decodes `data` (the whole contents of a JPEG file) and resizes it with `resampler`: the bytes of
    /// `resampler.resize(decode(data))`, decoded in bands of rows that each go through the resize as they come
    /// (see ``BandedResize``), so a large photo is never whole in memory.
    func decodeResized(_ data: UnsafeRawBufferPointer, path: String,
                       resampler: BicubicResampler) throws(ImageError) -> RGBImage {
        try checkSignature(data, path: path)
        let session = try Session(path: path, pixelLimit: pixelLimit)
        let header = try session.readHeader(data)
        try checkSize(header, path: path)
        var resize = BandedResize(resampler, sourceWidth: header.width, sourceHeight: header.height)
        try session.decodeBands(header) { band, rows in resize.append(band, rows: rows) }
        return resize.finish()
    }

    /// Decodes `data` (the whole contents of a JPEG file) to RGB.
    public func decode(_ data: some ContiguousBytes, path: String) throws(ImageError) -> RGBImage {
        let result: Result<RGBImage, ImageError> = data.withUnsafeBytes { raw in
            Result { () throws(ImageError) in try decode(raw, path: path) }
        }
        return try result.get()
    }

    private func checkSignature(_ data: UnsafeRawBufferPointer, path: String) throws(ImageError) {
        guard let format = ImageFormat(sniffing: data) else {
            throw ImageError(path: path, reason: .emptyFile)
        }
        guard format == .jpeg else {
            throw ImageError(path: path, reason: .notJPEG(format))
        }
    }

    private func checkSize(_ header: JPEGHeader, path: String) throws(ImageError) {
        // Counted like Pillow's _decompression_bomb_check: max(1, w) * max(1, h).
        let pixels = max(1, header.width) * max(1, header.height)
        if pixels > pixelLimit {
            throw ImageError(path: path, reason: .tooLarge(width: header.width, height: header.height,
                                                           pixelLimit: pixelLimit))
        }
    }
}

/// One libjpeg decompressor, freed when the last reference goes.
private final class Session {
    let handle: OpaquePointer
    let path: String
    let pixelLimit: Int

    init(path: String, pixelLimit: Int) throws(ImageError) {
        guard let handle = ffjpeg_decoder_create() else {
            throw ImageError(path: path, reason: .outOfMemory)
        }
        self.handle = handle
        self.path = path
        self.pixelLimit = pixelLimit
    }

    deinit {
        ffjpeg_decoder_destroy(handle)
    }

    func readHeader(_ data: UnsafeRawBufferPointer) throws(ImageError) -> JPEGHeader {
        var raw = ffjpeg_header()
        let status = ffjpeg_read_header(handle, data.baseAddress?.assumingMemoryBound(to: UInt8.self),
                                        data.count, &raw)
        let header = JPEGHeader(
            width: Int(raw.width), height: Int(raw.height), components: Int(raw.components),
            colorSpace: JPEGColorSpace(code: raw.color_space), bitsPerSample: Int(raw.precision),
            isProgressive: raw.progressive != 0)
        guard status == FFJPEG_OK else { throw error(for: status, header: header) }
        return header
    }

    /// Decodes the image whose header was read in bands of up to `bandRows` rows, top to bottom, handing each
    /// to `body` as (rows, width, 3) bytes and a row count. The band buffer is reused.
    func decodeBands(_ header: JPEGHeader, bandRows: Int = 16,
                     _ body: (UnsafePointer<UInt8>, Int) -> Void) throws(ImageError) {
        let capacity = header.width * 3 * bandRows
        let band = UnsafeMutablePointer<UInt8>.allocate(capacity: capacity)
        defer { band.deallocate() }
        var status = ffjpeg_start_rgb(handle)
        var row = 0
        while status == FFJPEG_OK && row < header.height {
            var rows: UInt32 = 0
            status = ffjpeg_read_rgb_rows(handle, band, capacity, &rows)
            guard status == FFJPEG_OK else { break }
            guard rows > 0 else {
                // libjpeg never returns no rows from data in memory; stop rather than loop.
                throw ImageError(path: path, reason: .corrupt("the decoder returned no rows"))
            }
            body(band, Int(rows))
            row += Int(rows)
        }
        guard status == FFJPEG_OK else { throw error(for: status, header: header) }
    }

    func error(for status: ffjpeg_status, header: JPEGHeader) -> ImageError {
        let message = String(cString: ffjpeg_message(handle))
        let reason: ImageError.Reason
        switch status {
        case FFJPEG_TRUNCATED:
            reason = .truncated
        case FFJPEG_UNSUPPORTED:
            if header.bitsPerSample != 0 && header.bitsPerSample != 8 {
                reason = .unsupported("\(header.bitsPerSample)-bit samples (only 8-bit JPEGs are supported)")
            } else {
                reason = .unsupported(message)
            }
        case FFJPEG_TOO_LARGE:
            // libjpeg's own cap of 65500 pixels per side, hit while parsing the header.
            if max(1, header.width) * max(1, header.height) > pixelLimit {
                reason = .tooLarge(width: header.width, height: header.height, pixelLimit: pixelLimit)
            } else {
                reason = .unsupported("\(header.width)×\(header.height): \(message)")
            }
        case FFJPEG_OUT_OF_MEMORY:
            reason = .outOfMemory
        default:
            reason = .corrupt(message.isEmpty ? "decoder status \(status.rawValue)" : message)
        }
        return ImageError(path: path, reason: reason)
    }
}
