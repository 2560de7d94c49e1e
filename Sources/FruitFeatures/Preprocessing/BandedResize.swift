/// Pillow's `resize` of an image whose rows arrive in bands, top to bottom, as a JPEG decoder produces them.
///
/// When Pillow's first pass is horizontal (every downscale of a photo), each band goes through that pass as it
/// arrives and only the intermediate (rows × output width) is kept: a 4032 × 3024 photo is never whole in
/// memory, which saves writing and re-reading 36 MB a photo and the page faults of a fresh 36 MB buffer.
/// The other plans keep the whole source and resize it at the end. Either way the bytes are those of
/// ``BicubicResampler/resize(_:)`` on the whole image.
struct BandedResize {
    private let resampler: BicubicResampler
    private let sourceWidth: Int
    private let sourceHeight: Int
    private let plan: ResamplePlan
    /// horizontalOnly: the output; horizontalFirst: the intermediate (plan rows, width, 3); otherwise the source.
    private var storage: [UInt8]
    /// The source row the next band starts at.
    private var nextRow = 0

    /// A resize of a `sourceWidth` × `sourceHeight` image (both positive) to the resampler's size.
    init(_ resampler: BicubicResampler, sourceWidth: Int, sourceHeight: Int) {
        self.resampler = resampler
        self.sourceWidth = sourceWidth
        self.sourceHeight = sourceHeight
        let region = ResampleRegion(x0: 0, y0: 0, x1: Float(sourceWidth), y1: Float(sourceHeight))
        plan = ResamplePlan(resampler, inWidth: sourceWidth, inHeight: sourceHeight, region: region)
        let count: Int
        switch plan {
        case .horizontalOnly: count = resampler.width * sourceHeight * 3
        case .horizontalFirst(_, _, _, let rows): count = resampler.width * rows * 3
        default: count = sourceWidth * sourceHeight * 3
        }
        // Every byte is written before it is read: the passes cover their rows, the source is filled by bands.
        storage = [UInt8](unsafeUninitializedCapacity: count) { _, initialized in initialized = count }
    }

    /// Takes the next `rows` source rows, (rows, sourceWidth, 3) bytes at `band`.
    mutating func append(_ band: UnsafePointer<UInt8>, rows: Int) {
        let first = nextRow
        let rows = min(rows, sourceHeight - first)
        guard rows > 0 else { return }
        nextRow += rows
        let width = resampler.width
        let sourceWidth = sourceWidth
        let plan = plan
        storage.withUnsafeMutableBufferPointer { storage in
            guard let base = storage.baseAddress else { return }
            switch plan {
            case .horizontalOnly(let horizontal):
                BicubicResampler.horizontalPass(band, inWidth: sourceWidth, rows: rows, coefficients: horizontal,
                                                into: base + first * width * 3)
            case .horizontalFirst(let horizontal, _, let firstRow, let planRows):
                // Only the rows the vertical pass reads.
                let low = max(first, firstRow)
                let high = min(first + rows, firstRow + planRows)
                if low < high {
                    BicubicResampler.horizontalPass(band + (low - first) * sourceWidth * 3, inWidth: sourceWidth,
                                                    rows: high - low, coefficients: horizontal,
                                                    into: base + (low - firstRow) * width * 3)
                }
            default:
                (base + first * sourceWidth * 3).update(from: band, count: rows * sourceWidth * 3)
            }
        }
    }

    /// The resized image, once every source row has been appended.
    func finish() -> RGBImage {
        let width = resampler.width
        let height = resampler.height
        switch plan {
        case .horizontalOnly:
            return RGBImage(validatedWidth: width, height: height, bytes: storage)
        case .horizontalFirst(_, let vertical, _, _):
            let count = width * height * 3
            let bytes = [UInt8](unsafeUninitializedCapacity: count) { output, initialized in
                storage.withUnsafeBufferPointer { intermediate in
                    if let input = intermediate.baseAddress, let output = output.baseAddress {
                        BicubicResampler.verticalPass(input, rowWidth: width, coefficients: vertical, into: output)
                    }
                }
                initialized = count
            }
            return RGBImage(validatedWidth: width, height: height, bytes: bytes)
        default:
            return resampler.resize(RGBImage(validatedWidth: sourceWidth, height: sourceHeight, bytes: storage))
        }
    }
}
