/// An image file format recognised by its leading bytes ("magic number").
///
/// Used to say what a file is when it is not a JPEG, so that a PNG named `.jpg`
/// gets a clear error instead of libjpeg's "Not a JPEG file: starts with 0x89 0x50".
public enum ImageFormat: String, Sendable, Equatable, CaseIterable {
    /// JPEG/JFIF/EXIF: FF D8 FF.
    case jpeg
    /// PNG: 89 'P' 'N' 'G' 0D 0A 1A 0A.
    case png
    /// GIF87a or GIF89a.
    case gif
    /// WebP: 'RIFF' size 'WEBP'.
    case webP
    /// Windows bitmap: 'BM'.
    case bmp
    /// TIFF, either byte order: 'II' 2A 00 or 'MM' 00 2A.
    case tiff
    /// HEIF/HEIC: an ISO media 'ftyp' box with a HEIF brand.
    case heif
    /// AVIF: an ISO media 'ftyp' box with brand 'avif' or 'avis'.
    case avif
    /// JPEG 2000, as a JP2 file or a bare codestream.
    case jpeg2000
    /// PDF: '%PDF-'.
    case pdf
    /// None of the above.
    case unknown

    /// The usual name of the format, for messages.
    public var name: String {
        switch self {
        case .jpeg: return "JPEG"
        case .png: return "PNG"
        case .gif: return "GIF"
        case .webP: return "WebP"
        case .bmp: return "BMP"
        case .tiff: return "TIFF"
        case .heif: return "HEIF"
        case .avif: return "AVIF"
        case .jpeg2000: return "JPEG 2000"
        case .pdf: return "PDF"
        case .unknown: return "unknown"
        }
    }

    /// The format whose signature starts `bytes`; `nil` when `bytes` is empty.
    public init?(sniffing bytes: UnsafeRawBufferPointer) {
        guard !bytes.isEmpty else { return nil }
        func starts(with signature: [UInt8], at offset: Int = 0) -> Bool {
            guard bytes.count >= offset + signature.count else { return false }
            for (i, byte) in signature.enumerated() where bytes[offset + i] != byte {
                return false
            }
            return true
        }
        let ascii = { (text: String) in Array(text.utf8) }
        if starts(with: [0xFF, 0xD8, 0xFF]) {
            self = .jpeg
        } else if starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) {
            self = .png
        } else if starts(with: ascii("GIF87a")) || starts(with: ascii("GIF89a")) {
            self = .gif
        } else if starts(with: ascii("RIFF")) && starts(with: ascii("WEBP"), at: 8) {
            self = .webP
        } else if starts(with: ascii("II")) && starts(with: [0x2A, 0x00], at: 2)
            || starts(with: ascii("MM")) && starts(with: [0x00, 0x2A], at: 2) {
            self = .tiff
        } else if starts(with: ascii("ftyp"), at: 4) {
            if starts(with: ascii("avif"), at: 8) || starts(with: ascii("avis"), at: 8) {
                self = .avif
            } else if ["heic", "heix", "heim", "heis", "hevc", "hevx", "mif1", "msf1"]
                .contains(where: { starts(with: ascii($0), at: 8) }) {
                self = .heif
            } else {
                self = .unknown
            }
        } else if starts(with: [0x00, 0x00, 0x00, 0x0C, 0x6A, 0x50, 0x20, 0x20, 0x0D, 0x0A, 0x87, 0x0A])
            || starts(with: [0xFF, 0x4F, 0xFF, 0x51]) {
            self = .jpeg2000
        } else if starts(with: ascii("%PDF-")) {
            self = .pdf
        } else if starts(with: ascii("BM")) && bytes.count >= 14 {
            // Two letters are a weak signature: also require room for the file header.
            self = .bmp
        } else {
            self = .unknown
        }
    }
}
