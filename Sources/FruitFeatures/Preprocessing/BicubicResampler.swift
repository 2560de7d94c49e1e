import CKernels

/// Resizes RGB images exactly as Pillow's `Image.resize(size)` does by default (`BICUBIC`).
///
/// The arithmetic is that of Pillow's `libImaging/Resample.c`, so results are equal byte for byte:
/// - filter: bicubic convolution with a = −0.5, support 2; when shrinking, the support is
///   widened by the scale factor (an antialiasing filter), when enlarging it stays 2;
/// - weights: computed in double per output pixel, normalised to sum 1, then rounded to
///   fixed point with 22 fractional bits (`PRECISION_BITS = 32 − 8 − 2`);
/// - two separable passes, each accumulating in 32-bit integers from 0.5 (`1 << 21`) and
///   rounding back to 8 bits with clipping to 0…255 before the next pass;
/// - pass order: horizontal then vertical, except that Pillow 13 runs the vertical pass first
///   when the height shrinks and the width does not (see ``PassOrder``); the order changes the
///   result, because of the 8-bit rounding between the passes;
/// - a pass is skipped when its dimension and region are unchanged; a horizontal-first pass only
///   covers the source rows the vertical pass will read; an integer region of exactly the output
///   size is a plain crop; the same size and the whole image is a copy.
public struct BicubicResampler: Sendable, Equatable {
    /// Output width in pixels.
    public let width: Int
    /// Output height in pixels.
    public let height: Int
    /// Which Pillow's choice of pass order to follow.
    public let passOrder: PassOrder

    /// The order of the two passes, which Pillow changed in version 13.
    public enum PassOrder: Sendable, Equatable {
        /// Pillow 13 and later: vertical pass first when the output is less high than the source
        /// region and at least as wide; otherwise horizontal first.
        case pillow13
        /// Pillow 12 and earlier: always horizontal first.
        case pillow12
    }

    /// A resampler producing `width` × `height` images, or `nil` unless both are positive.
    public init?(width: Int, height: Int, passOrder: PassOrder = .pillow13) {
        guard width > 0, height > 0 else { return nil }
        self.init(validatedWidth: width, height: height, passOrder: passOrder)
    }

    private init(validatedWidth width: Int, height: Int, passOrder: PassOrder = .pillow13) {
        self.width = width
        self.height = height
        self.passOrder = passOrder
    }

    /// 224 × 224, the input size of MobileNetV2 in the reference pipeline.
    public static let mobileNetInput = BicubicResampler(validatedWidth: 224, height: 224)

    /// `image` resized to ``width`` × ``height``: Pillow's `image.resize((width, height))`.
    public func resize(_ image: RGBImage) -> RGBImage {
        let region = ResampleRegion(x0: 0, y0: 0, x1: Float(image.width), y1: Float(image.height))
        return resizeUnchecked(image, region: region)
    }

    /// The `region` of `image` resized to ``width`` × ``height``: Pillow's
    /// `image.resize((width, height), box=region)`, with Pillow's checks on the region.
    func resize(_ image: RGBImage, region: ResampleRegion) throws(ResampleError) -> RGBImage {
        if !(region.x0.isFinite && region.y0.isFinite && region.x1.isFinite && region.y1.isFinite) {
            throw .regionNotFinite(region)
        }
        if region.x0 < 0 || region.y0 < 0 {
            throw .regionOffsetNegative(region)
        }
        if region.x1 > Float(image.width) || region.y1 > Float(image.height) {
            throw .regionExceedsImage(region, width: image.width, height: image.height)
        }
        if region.x1 - region.x0 < 0 || region.y1 - region.y0 < 0 {
            throw .regionEmpty(region)
        }
        return resizeUnchecked(image, region: region)
    }

    /// Resizes `image` into `output`, which holds exactly `width * height * 3` bytes.
    ///
    /// For callers that own a buffer (a batch); the region is the whole image.
    /// Returns `false`, writing nothing, when `output` has the wrong size.
    @discardableResult
    public func resize(_ image: RGBImage, into output: UnsafeMutableBufferPointer<UInt8>) -> Bool {
        guard output.count == width * height * 3 else { return false }
        let region = ResampleRegion(x0: 0, y0: 0, x1: Float(image.width), y1: Float(image.height))
        image.bytes.withUnsafeBufferPointer { input in
            resample(input, width: image.width, height: image.height, region: region, into: output)
        }
        return true
    }

    private func resizeUnchecked(_ image: RGBImage, region: ResampleRegion) -> RGBImage {
        let count = width * height * 3
        let bytes = [UInt8](unsafeUninitializedCapacity: count) { output, initialized in
            image.bytes.withUnsafeBufferPointer { input in
                resample(input, width: image.width, height: image.height, region: region,
                         into: UnsafeMutableBufferPointer(rebasing: output[0..<count]))
            }
            initialized = count
        }
        return RGBImage(validatedWidth: width, height: height, bytes: bytes)
    }

    // input: (inHeight, inWidth, 3) u8, output: (height, width, 3) u8; region already valid.
    private func resample(_ input: UnsafeBufferPointer<UInt8>, width inWidth: Int, height inHeight: Int,
                          region: ResampleRegion, into output: UnsafeMutableBufferPointer<UInt8>) {
        guard let inBase = input.baseAddress, let outBase = output.baseAddress else { return }
        switch ResamplePlan(self, inWidth: inWidth, inHeight: inHeight, region: region) {
        case .copy:
            _ = output.initialize(from: input)
        case .crop(let x0, let y0):
            let rowBytes = width * 3
            for y in 0..<height {
                (outBase + y * rowBytes).update(from: inBase + ((y0 + y) * inWidth + x0) * 3, count: rowBytes)
            }
        case .horizontalOnly(let horizontal):
            Self.horizontalPass(inBase, inWidth: inWidth, rows: height, coefficients: horizontal, into: outBase)
        case .verticalOnly(let vertical):
            Self.verticalPass(inBase, rowWidth: inWidth, coefficients: vertical, into: outBase)
        case .horizontalFirst(let horizontal, let vertical, let firstRow, let rows):
            let temp = UnsafeMutablePointer<UInt8>.allocate(capacity: width * rows * 3)
            defer { temp.deallocate() }
            Self.horizontalPass(inBase + firstRow * inWidth * 3, inWidth: inWidth, rows: rows,
                                coefficients: horizontal, into: temp)
            Self.verticalPass(temp, rowWidth: width, coefficients: vertical, into: outBase)
        case .verticalFirst(let horizontal, let vertical):
            let temp = UnsafeMutablePointer<UInt8>.allocate(capacity: inWidth * height * 3)
            defer { temp.deallocate() }
            Self.verticalPass(inBase, rowWidth: inWidth, coefficients: vertical, into: temp)
            Self.horizontalPass(temp, inWidth: inWidth, rows: height, coefficients: horizontal, into: outBase)
        }
    }

    // input: (rows, inWidth, 3) u8 → output: (rows, outSize, 3) u8.
    // The C kernel at the thread's kernel level (portable, AVX2 or AVX-512: the same bytes).
    static func horizontalPass(_ input: UnsafePointer<UInt8>, inWidth: Int, rows: Int,
                               coefficients c: ResampleCoefficients, into output: UnsafeMutablePointer<UInt8>) {
        let status = c.bounds.withUnsafeBufferPointer { bounds in
            c.weights.withUnsafeBufferPointer { weights in
                ffk_resample_horizontal_rgb(input, inWidth * 3, Int32(rows), Int32(inWidth), output, Int32(c.outSize),
                                            bounds.baseAddress, weights.baseAddress, Int32(c.ksize))
            }
        }
        if status != 0 {
            // The SIMD builds' few kilobytes of scratch could not be allocated: the portable build needs none.
            KernelLevel.withThreadLevel(.portable) {
                _ = c.bounds.withUnsafeBufferPointer { bounds in
                    c.weights.withUnsafeBufferPointer { weights in
                        ffk_resample_horizontal_rgb(input, inWidth * 3, Int32(rows), Int32(inWidth), output,
                                                    Int32(c.outSize), bounds.baseAddress, weights.baseAddress,
                                                    Int32(c.ksize))
                    }
                }
            }
        }
    }

    // input: (_, rowWidth, 3) u8 → output: (outSize, rowWidth, 3) u8; bounds index input rows.
    static func verticalPass(_ input: UnsafePointer<UInt8>, rowWidth: Int, coefficients c: ResampleCoefficients,
                             into output: UnsafeMutablePointer<UInt8>) {
        c.bounds.withUnsafeBufferPointer { bounds in
            c.weights.withUnsafeBufferPointer { weights in
                ffk_resample_vertical_rgb(input, rowWidth * 3, output, Int32(c.outSize), bounds.baseAddress,
                                          weights.baseAddress, Int32(c.ksize))
            }
        }
    }
}

/// What Pillow's `resize` does for one source size and region: which passes, in which order, over which rows.
///
/// One decision shared by the whole-image resize and the banded one (``BandedResize``), so both give the same bytes.
enum ResamplePlan {
    /// Same size, whole image: the source itself.
    case copy
    /// `_imaging.c`: an integer region of exactly the output size is a plain crop at (x0, y0).
    case crop(x0: Int, y0: Int)
    /// Only the width changes.
    case horizontalOnly(ResampleCoefficients)
    /// Only the height changes.
    case verticalOnly(ResampleCoefficients)
    /// Horizontal pass over source rows `firstRow..<firstRow + rows` (the only ones the vertical pass reads),
    /// then the vertical pass, whose bounds count from `firstRow`.
    case horizontalFirst(ResampleCoefficients, ResampleCoefficients, firstRow: Int, rows: Int)
    /// Pillow 13's order when the height shrinks and the width does not.
    case verticalFirst(ResampleCoefficients, ResampleCoefficients)

    init(_ resampler: BicubicResampler, inWidth: Int, inHeight: Int, region: ResampleRegion) {
        let width = resampler.width
        let height = resampler.height
        // Image.resize: same size and whole image → copy.
        let whole = region == ResampleRegion(x0: 0, y0: 0, x1: Float(inWidth), y1: Float(inHeight))
        if width == inWidth && height == inHeight && whole {
            self = .copy
            return
        }
        let boxWidth = region.x1 - region.x0
        let boxHeight = region.y1 - region.y0
        if region.x0 == region.x0.rounded(.towardZero) && boxWidth == Float(width)
            && region.y0 == region.y0.rounded(.towardZero) && boxHeight == Float(height) {
            self = .crop(x0: Int(region.x0), y0: Int(region.y0))
            return
        }
        let needHorizontal = width != inWidth || region.x0 != 0 || region.x1 != Float(width)
        let needVertical = height != inHeight || region.y0 != 0 || region.y1 != Float(height)
        if !needHorizontal && !needVertical {
            self = .copy
            return
        }
        // Pillow 13: "if height is being scaled down, but not width, resize vertically first".
        let horizontalFirst = resampler.passOrder == .pillow12
            || !(Float(width) >= boxWidth && Float(height) < boxHeight)
        let horizontal = ResampleCoefficients(inSize: inWidth, from: region.x0, to: region.x1, outSize: width)
        var vertical = ResampleCoefficients(inSize: inHeight, from: region.y0, to: region.y1, outSize: height)
        if !needVertical {
            // (The vertical taps are the identity over all rows.)
            self = .horizontalOnly(horizontal)
        } else if !needHorizontal {
            self = .verticalOnly(vertical)
        } else if horizontalFirst {
            let firstRow = Int(vertical.bounds[0])
            let lastRow = Int(vertical.bounds[2 * height - 2] + vertical.bounds[2 * height - 1])
            vertical.shiftBounds(by: -firstRow)
            self = .horizontalFirst(horizontal, vertical, firstRow: firstRow, rows: lastRow - firstRow)
        } else {
            self = .verticalFirst(horizontal, vertical)
        }
    }
}

/// A source rectangle for ``BicubicResampler/resize(_:region:)``, in pixel units
/// (left, top, right, bottom; right and bottom exclusive), as Pillow's `box` argument.
///
/// Coordinates are `Float` because Pillow passes the box to C as `float`.
struct ResampleRegion: Sendable, Equatable {
    /// Left edge.
    var x0: Float
    /// Top edge.
    var y0: Float
    /// Right edge.
    var x1: Float
    /// Bottom edge.
    var y1: Float

    /// The rectangle from (`x0`, `y0`) to (`x1`, `y1`).
    init(x0: Float, y0: Float, x1: Float, y1: Float) {
        self.x0 = x0
        self.y0 = y0
        self.x1 = x1
        self.y1 = y1
    }
}

/// A region Pillow would refuse, with Pillow's reasons.
enum ResampleError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A coordinate that is infinite or NaN.
    case regionNotFinite(ResampleRegion)
    /// A left or top edge below 0.
    case regionOffsetNegative(ResampleRegion)
    /// A right or bottom edge past the image.
    case regionExceedsImage(ResampleRegion, width: Int, height: Int)
    /// Right before left or bottom before top.
    case regionEmpty(ResampleRegion)

    /// The problem in words.
    var description: String {
        switch self {
        case .regionNotFinite(let r):
            return "resample region \(r) has a coordinate that is not a finite number"
        case .regionOffsetNegative(let r):
            return "resample region \(r) has a negative offset"
        case .regionExceedsImage(let r, let w, let h):
            return "resample region \(r) exceeds the \(w)×\(h) image"
        case .regionEmpty(let r):
            return "resample region \(r) is empty"
        }
    }
}

/// The taps of one resampling pass: for each output position, the first input index, the
/// number of inputs, and their fixed-point weights (Pillow's `precompute_coeffs` followed by
/// `normalize_coeffs_8bpc`).
struct ResampleCoefficients: Sendable {
    /// Fractional bits of the fixed-point weights: 32 − 8 − 2, room for 8-bit results, the
    /// filter's negative lobes and overshoot.
    static let precisionBits = 22

    let outSize: Int
    /// Maximum number of taps per output position: the row stride of `weights`.
    let ksize: Int
    /// (first input index, tap count) per output position.
    private(set) var bounds: [Int32]
    /// `outSize * ksize` weights scaled by 2^22 and rounded half away from zero.
    let weights: [Int32]

    /// Pillow's bicubic kernel, a = −0.5.
    static func bicubic(_ x: Double) -> Double {
        let a = -0.5
        let x = abs(x)
        if x < 1.0 {
            return ((a + 2.0) * x - (a + 3.0)) * x * x + 1
        }
        if x < 2.0 {
            return (((x - 5) * x + 8) * x - 4) * a
        }
        return 0.0
    }

    /// Support of the bicubic kernel at scale 1.
    static let bicubicSupport = 2.0

    /// Taps mapping input positions `in0..<in1` (of `inSize`) onto `outSize` outputs.
    init(inSize: Int, from in0: Float, to in1: Float, outSize: Int) {
        let weightsDouble = Self.doubleWeights(inSize: inSize, from: in0, to: in1, outSize: outSize)
        self.outSize = outSize
        self.ksize = weightsDouble.ksize
        self.bounds = weightsDouble.bounds.map { Int32($0) }
        self.weights = weightsDouble.weights.map { w in
            // Half away from zero, then truncation, as normalize_coeffs_8bpc.
            let scaled = w * Double(1 << Self.precisionBits)
            return Int32(scaled < 0 ? scaled - 0.5 : scaled + 0.5)
        }
    }

    /// The normalised weights before the fixed-point rounding (Pillow's `precompute_coeffs`).
    static func doubleWeights(inSize: Int, from in0: Float, to in1: Float, outSize: Int)
        -> (ksize: Int, bounds: [Int], weights: [Double]) {
        // The region width is a float subtraction, as in C.
        let scale = Double(in1 - in0) / Double(outSize)
        let filterScale = max(scale, 1.0)
        let support = bicubicSupport * filterScale
        let ksize = Int(support.rounded(.up)) * 2 + 1
        var bounds = [Int](repeating: 0, count: 2 * outSize)
        var weights = [Double](repeating: 0, count: outSize * ksize)
        let inverseFilterScale = 1.0 / filterScale
        for xx in 0..<outSize {
            let center = Double(in0) + (Double(xx) + 0.5) * scale
            // C's (int) cast truncates toward zero, like Int(_:) on a Double.
            let xmin = max(0, Int(center - support + 0.5))
            let xmax = min(inSize, Int(center + support + 0.5))
            let count = max(0, min(xmax - xmin, ksize))
            var total = 0.0
            for x in 0..<count {
                let w = bicubic((Double(x + xmin) - center + 0.5) * inverseFilterScale)
                weights[xx * ksize + x] = w
                total += w
            }
            if total != 0 {
                for x in 0..<count {
                    weights[xx * ksize + x] /= total
                }
            }
            bounds[2 * xx] = xmin
            bounds[2 * xx + 1] = count
        }
        return (ksize, bounds, weights)
    }

    mutating func shiftBounds(by offset: Int) {
        for i in stride(from: 0, to: bounds.count, by: 2) {
            bounds[i] += Int32(offset)
        }
    }
}
