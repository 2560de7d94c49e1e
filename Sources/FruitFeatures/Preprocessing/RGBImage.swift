/// An 8-bit RGB image: `height` rows of `width` pixels, each pixel R, G, B (row-major, interleaved).
public struct RGBImage: Sendable, Equatable {
    /// Width in pixels.
    public let width: Int
    /// Height in pixels.
    public let height: Int
    /// `width * height * 3` bytes: row 0 first, within a row pixel 0 first, R then G then B.
    public private(set) var bytes: [UInt8]

    /// An image over `bytes`, or `nil` unless both sizes are positive and
    /// `bytes.count == width * height * 3`.
    public init?(width: Int, height: Int, bytes: [UInt8]) {
        guard width > 0, height > 0,
              case let (area, overflow) = width.multipliedReportingOverflow(by: height), !overflow,
              case let (count, overflow3) = area.multipliedReportingOverflow(by: 3), !overflow3,
              bytes.count == count
        else { return nil }
        self.init(validatedWidth: width, height: height, bytes: bytes)
    }

    /// For sizes already checked by the caller.
    init(validatedWidth width: Int, height: Int, bytes: [UInt8]) {
        self.width = width
        self.height = height
        self.bytes = bytes
    }

    /// The R, G, B bytes of the pixel in column `x`, row `y`, or `nil` outside the image.
    public func pixel(x: Int, y: Int) -> (r: UInt8, g: UInt8, b: UInt8)? {
        guard (0..<width).contains(x), (0..<height).contains(y) else { return nil }
        let i = (y * width + x) * 3
        return (bytes[i], bytes[i + 1], bytes[i + 2])
    }
}
