/// The reference pipeline's preprocessing, value for value:
/// `Image.open(io.BytesIO(content)).resize([224, 224])` → `img_to_array` →
/// `tf.keras.applications.mobilenet_v2.preprocess_input`.
///
/// 1. decode with ``JPEGDecoder`` (Pillow's libjpeg settings; grayscale and CMYK become RGB);
/// 2. resize with ``BicubicResampler`` (Pillow's default BICUBIC, byte-exact);
/// 3. scale each byte `x` to `Float(x) / 127.5 − 1` in float32 (Keras "tf" mode: `x /= 127.5;
///    x -= 1.0` on a float32 array), written height × width × RGB (NHWC without N).
public struct KerasPreprocessor: Preprocessor {
    /// The decoder, with its pixel limit.
    public var decoder: JPEGDecoder
    /// The resampler; its size is the output size.
    public var resampler: BicubicResampler

    /// A preprocessor for MobileNetV2 (224 × 224) unless told otherwise.
    public init(decoder: JPEGDecoder = JPEGDecoder(), resampler: BicubicResampler = .mobileNetInput) {
        self.decoder = decoder
        self.resampler = resampler
    }

    /// (resampler height, resampler width, 3).
    public var outputShape: TensorShape {
        TensorShape(height: resampler.height, width: resampler.width, channels: 3)
    }

    /// Decodes, resizes and scales `encoded` into `output` (exactly `outputShape.count` values, HWC).
    public func preprocess(_ encoded: UnsafeRawBufferPointer, path: String,
                           into output: UnsafeMutableBufferPointer<Float>) throws(ImageError) {
        let count = outputShape.count
        guard output.count == count else {
            throw ImageError(path: path, reason: .outputBufferSize(expected: count, actual: output.count))
        }
        let resized = try resizedImage(encoded, path: path)
        resized.bytes.withUnsafeBufferPointer { bytes in
            Self.scaleTable.withUnsafeBufferPointer { table in
                for i in 0..<count {
                    output[i] = table[Int(bytes[i])]
                }
            }
        }
    }

    /// The decoded and resized 8-bit image, before scaling (what Pillow's `resize` returns).
    public func resizedImage(_ encoded: UnsafeRawBufferPointer, path: String) throws(ImageError) -> RGBImage {
        try decoder.decodeResized(encoded, path: path, resampler: resampler)
    }

    /// MobileNetV2's scaling of one byte: `Float(x) / 127.5 − 1`, each step rounded to float32
    /// as NumPy does it on a float32 array.
    package static func scale(_ value: UInt8) -> Float {
        let x = Float(value)
        let divided = x / Float(127.5)
        return divided - Float(1.0)
    }

    /// ``scale(_:)`` for all 256 bytes.
    static let scaleTable: [Float] = (0...255).map { scale(UInt8($0)) }
}
