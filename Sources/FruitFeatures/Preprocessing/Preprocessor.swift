import Foundation

/// The shape of one preprocessed image, NHWC without the batch dimension.
public struct TensorShape: Sendable, Equatable, CustomStringConvertible {
    /// Rows.
    public var height: Int
    /// Columns.
    public var width: Int
    /// Values per pixel.
    public var channels: Int

    /// A height × width × channels shape.
    public init(height: Int, width: Int, channels: Int) {
        self.height = height
        self.width = width
        self.channels = channels
    }

    /// Number of values: height · width · channels.
    public var count: Int { height * width * channels }

    /// "(height, width, channels)".
    public var description: String { "(\(height), \(width), \(channels))" }
}

/// Turns the bytes of an encoded image file into the float input of a model.
///
/// Implementations are value types safe to share across tasks. The `into:` requirement lets a
/// pipeline fill its batch buffer in place; the extension adds array-returning and file-reading
/// conveniences.
public protocol Preprocessor: Sendable {
    /// The shape of one output, (height, width, channels), stored row-major (HWC).
    var outputShape: TensorShape { get }

    /// Decodes and prepares `encoded` (a whole image file) into `output`, which must hold
    /// exactly `outputShape.count` values.
    ///
    /// `path` only names the file in errors. On error `output` may be partly written.
    func preprocess(_ encoded: UnsafeRawBufferPointer, path: String,
                    into output: UnsafeMutableBufferPointer<Float>) throws(ImageError)
}

extension Preprocessor {
    /// Decodes and prepares `encoded` (a whole image file) into `output`.
    public func preprocess(_ encoded: some ContiguousBytes, path: String,
                           into output: UnsafeMutableBufferPointer<Float>) throws(ImageError) {
        let result: Result<Void, ImageError> = encoded.withUnsafeBytes { raw in
            Result { () throws(ImageError) in try preprocess(raw, path: path, into: output) }
        }
        try result.get()
    }

    /// Decodes and prepares `encoded` (a whole image file); `outputShape.count` values, HWC.
    public func preprocess(_ encoded: some ContiguousBytes, path: String) throws(ImageError) -> [Float] {
        let count = outputShape.count
        var failure: ImageError?
        let values = [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            buffer.initialize(repeating: 0)
            initialized = count
            do throws(ImageError) {
                try preprocess(encoded, path: path, into: buffer)
            } catch {
                failure = error
            }
        }
        if let failure { throw failure }
        return values
    }

    /// Reads the file at `path` and prepares it; `outputShape.count` values, HWC.
    public func preprocessFile(atPath path: String) throws(ImageError) -> [Float] {
        let bytes = try readImageFileContents(atPath: path)
        return try preprocess(bytes, path: path)
    }
}

/// The whole contents of the photo at `path`, through the library's one reader with the one photo size limit
/// (``FileSizeLimit/photo``, as in extract and transform).
func readImageFileContents(atPath path: String) throws(ImageError) -> [UInt8] {
    do {
        return try readRegularFile(atPath: path, limit: FileSizeLimit.photo)
    } catch {
        throw ImageError(path: path, reason: .unreadable(error.reasonText))
    }
}
