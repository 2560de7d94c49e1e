/// Why an image file could not be turned into model input, with the file it came from.
///
/// Every failure of ``JPEGDecoder``, ``BicubicResampler``-based preprocessing and
/// ``Preprocessor`` carries one of these; none of them traps or exits.
public struct ImageError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What went wrong.
    public enum Reason: Sendable, Equatable {
        /// The file holds no bytes.
        case emptyFile
        /// The bytes are not a JPEG; the format their signature names (or `.unknown`).
        case notJPEG(ImageFormat)
        /// The JPEG data ends before the last row of pixels is decoded.
        case truncated
        /// libjpeg rejected the data; its message.
        case corrupt(String)
        /// The frame claims more pixels than allowed; refused before any pixel buffer exists.
        case tooLarge(width: Int, height: Int, pixelLimit: Int)
        /// A well-formed JPEG of a kind this decoder does not handle (12-bit, lossless, ...).
        case unsupported(String)
        /// The file could not be read (missing, permission, a directory, I/O error).
        case unreadable(String)
        /// Memory ran out while decoding.
        case outOfMemory
        /// The caller's output buffer does not hold exactly one preprocessed image.
        case outputBufferSize(expected: Int, actual: Int)
    }

    /// The path of the file, as given by the caller.
    public var path: String
    /// The reason.
    public var reason: Reason

    /// An error for the file at `path`.
    public init(path: String, reason: Reason) {
        self.path = path
        self.reason = reason
    }

    /// "path: reason", e.g. `a.jpg: not a JPEG (the data is PNG)`.
    public var description: String {
        "\(path): \(reasonDescription)"
    }

    /// The reason in words, without the path.
    public var reasonDescription: String {
        switch reason {
        case .emptyFile:
            return "empty file"
        case .notJPEG(let format):
            if format == .unknown {
                return "not a JPEG (unrecognised data)"
            }
            return "not a JPEG (the data is \(format.name))"
        case .truncated:
            return "truncated JPEG (the data ends before the image is complete)"
        case .corrupt(let message):
            return "corrupt JPEG: \(message)"
        case .tooLarge(let width, let height, let limit):
            return "image of \(width)×\(height) = \(width * height) pixels exceeds the limit of \(limit) pixels"
        case .unsupported(let message):
            return "unsupported JPEG: \(message)"
        case .unreadable(let message):
            return "cannot read the file: \(message)"
        case .outOfMemory:
            return "out of memory while decoding"
        case .outputBufferSize(let expected, let actual):
            return "output buffer holds \(actual) values, one image needs \(expected)"
        }
    }
}

extension ImageError {
    /// A photo that could not be read, as an image error: the reader's reason without its "path: " prefix.
    init(readFailure error: DiscoveryError) {
        switch error.reason {
        case .unreadableFile(let why): self.init(path: error.path, reason: .unreadable(why))
        default: self.init(path: error.path, reason: .unreadable(error.reasonText))
        }
    }
}
