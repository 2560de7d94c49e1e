import CKernels
import Foundation

/// A backbone network without its classifier: preprocessed images in, one feature vector per image out.
///
/// ``MobileNetV2Extractor`` and ``MobileNetV3Extractor`` conform; ``KerasFeatureModel`` pairs one with the
/// Keras preprocessing. Conforming types are immutable and safe to use from several tasks at once.
public protocol FeatureNetwork: Sendable {
    /// Height and width of the square input images.
    var inputSize: Int { get }

    /// Floats per feature vector.
    var featureCount: Int { get }

    /// Computes the features of `count` images stored one after another in `input` (NHWC float32,
    /// `inputSize × inputSize × 3` each), writing `count · featureCount` floats to `output`. An image's
    /// features are the same bits whatever the other images of the call and `count`.
    func features(batch input: UnsafeBufferPointer<Float>, count: Int,
                  into output: UnsafeMutableBufferPointer<Float>) throws(FeatureExtractionError)

    /// What the features of this network are, for a weights file whose SHA-256 is `weightsSHA256`, with the
    /// Keras preprocessing.
    func identity(weightsSHA256: String) -> FeatureModelIdentity
}

extension FeatureNetwork {
    /// Floats per input image (`inputSize · inputSize · 3`).
    public var inputCount: Int { inputSize * inputSize * 3 }

    /// Computes the features of each image (`inputCount` floats each).
    public func features(of images: [[Float]]) throws(FeatureExtractionError) -> [[Float]] {
        var input: [Float] = []
        input.reserveCapacity(images.count * inputCount)
        for image in images {
            guard image.count == inputCount else {
                throw FeatureExtractionError(buffer: .input, expected: inputCount, actual: image.count)
            }
            input += image
        }
        var output = [Float](repeating: 0, count: images.count * featureCount)
        try input.withUnsafeBufferPointer { (input) throws(FeatureExtractionError) in
            try output.withUnsafeMutableBufferPointer { (output) throws(FeatureExtractionError) in
                try features(batch: input, count: images.count, into: output)
            }
        }
        return (0..<images.count).map { Array(output[($0 * featureCount)..<(($0 + 1) * featureCount)]) }
    }

    /// Computes the features of one image (`inputCount` floats).
    public func features(of image: [Float]) throws(FeatureExtractionError) -> [Float] {
        try features(of: [image])[0]
    }

    /// Throws unless `input` holds exactly `count` images and `output` room for their features.
    func checkBuffers(_ input: UnsafeBufferPointer<Float>, count: Int,
                      _ output: UnsafeMutableBufferPointer<Float>) throws(FeatureExtractionError) {
        let (needIn, overflowIn) = count.multipliedReportingOverflow(by: inputCount)
        guard count >= 0, !overflowIn, input.count == needIn else {
            throw FeatureExtractionError(buffer: .input, expected: overflowIn ? Int.max : needIn, actual: input.count)
        }
        let needOut = count * featureCount
        guard output.count >= needOut else {
            throw FeatureExtractionError(buffer: .output, expected: needOut, actual: output.count)
        }
    }
}

/// The schedule both MobileNets run: `count` images in groups of at most `groupSize`; for each group,
/// `firstStage(image, slot)` for each of its images (the image's index in the call and its slot in the group),
/// then `groupedStage(first, images)` on the whole group.
func runInGroups(count: Int, groupSize: Int, firstStage: (_ image: Int, _ slot: Int) -> Void,
                 groupedStage: (_ first: Int, _ images: Int) -> Void) {
    var start = 0
    while start < count {
        let group = min(max(groupSize, 1), count - start)
        for slot in 0..<group { firstStage(start + slot, slot) }
        groupedStage(start, group)
        start += group
    }
}

/// A ``FeatureNetwork`` fed by the Keras preprocessing (``KerasPreprocessor``): Pillow's decode and bicubic resize,
/// then `x / 127.5 − 1`.
public struct KerasFeatureModel<Network: FeatureNetwork>: FeatureModel {
    /// The network.
    public let extractor: Network
    /// Decoding, resizing and scaling.
    public private(set) var preprocessor: KerasPreprocessor
    /// What made the features: the architecture, its alpha and input size, the preprocessing, the weights' SHA-256.
    public let identity: FeatureModelIdentity

    /// Bundles a loaded network with its preprocessing.
    ///
    /// - Parameter weightsSHA256: the SHA-256 of the weights file the network was loaded from.
    /// - Throws: ``WeightsError/Reason/unsupportedInputSize(_:)`` when the preprocessor's output is not the
    ///   network's input.
    public init(extractor: Network, preprocessor: KerasPreprocessor = KerasPreprocessor(),
                weightsSHA256: String) throws(WeightsError) {
        guard preprocessor.outputShape == TensorShape(height: extractor.inputSize, width: extractor.inputSize, channels: 3)
        else {
            throw WeightsError(file: "", reason: .unsupportedInputSize(preprocessor.outputShape.height))
        }
        self.extractor = extractor
        self.preprocessor = preprocessor
        identity = extractor.identity(weightsSHA256: weightsSHA256)
    }

    /// The shape of one preprocessed image: (height, width, 3).
    public var inputShape: TensorShape { preprocessor.outputShape }
    /// Floats per feature vector.
    public var featureCount: Int { extractor.featureCount }

    /// Decodes and preprocesses one encoded photo into `output` (``inputShape`` floats).
    public func preprocess(_ encoded: UnsafeRawBufferPointer, path: String,
                           into output: UnsafeMutableBufferPointer<Float>) throws(ImageError) {
        try preprocessor.preprocess(encoded, path: path, into: output)
    }

    /// Runs the network on `count` preprocessed images stored one after another in `input`.
    public func features(batch input: UnsafeBufferPointer<Float>, count: Int,
                         into output: UnsafeMutableBufferPointer<Float>) throws(FeatureExtractionError) {
        try extractor.features(batch: input, count: count, into: output)
    }

    /// The same network and preprocessing, decoding at most `pixelLimit` pixels per photo.
    public func limitingPixels(to pixelLimit: Int) -> any FeatureModel {
        var limited = self
        limited.preprocessor.decoder = JPEGDecoder(pixelLimit: pixelLimit)
        return limited
    }
}

/// MobileNetV2 (``MobileNetV2Extractor``) fed by the Keras preprocessing: the reference pipeline's model.
public typealias MobileNetV2FeatureModel = KerasFeatureModel<MobileNetV2Extractor>

/// MobileNetV3 (``MobileNetV3Extractor``) fed by the Keras preprocessing — the values Keras's MobileNetV3
/// computes from the resized [0, 255] image with its own `Rescaling` layer (or expects, without it).
public typealias MobileNetV3FeatureModel = KerasFeatureModel<MobileNetV3Extractor>

/// One allocation of scratch floats (64-byte aligned) split into regions, each rounded up to whole cache lines.
final class ScratchRegions: @unchecked Sendable {
    // Unchecked: used by one call at a time (a `ScratchPool` hands it out exclusively).
    /// The start of each region, in the order of the counts given.
    let regions: [UnsafeMutablePointer<Float>]
    private let storage: UnsafeMutableRawPointer

    init(counts: [Int]) {
        let rounded = counts.map { ($0 + 15) / 16 * 16 }
        storage = UnsafeMutableRawPointer.allocate(byteCount: max(rounded.reduce(0, +), 16) * 4, alignment: 64)
        var offset = 0
        var regions: [UnsafeMutablePointer<Float>] = []
        for count in rounded {
            regions.append((storage + offset * 4).bindMemory(to: Float.self, capacity: max(count, 1)))
            offset += count
        }
        self.regions = regions
    }

    deinit { storage.deallocate() }
}

/// Scratch memory kept between calls, so steady-state extraction allocates nothing.
///
/// At most ``capacity`` idle scratches are kept (one per core: what concurrent callers on this machine can use at
/// once); a burst of more concurrent calls allocates more, and the extras are freed when returned, so idle memory
/// is bounded whatever the peak.
final class ScratchPool<Scratch: AnyObject>: @unchecked Sendable {
    // Unchecked: `free` is only touched under `lock`; `make` is only called to build a scratch.
    private let lock = NSLock()
    private var free: [Scratch] = []
    private let make: () -> Scratch
    /// The most idle scratches kept.
    let capacity: Int

    init(capacity: Int = ProcessInfo.processInfo.activeProcessorCount, make: @escaping () -> Scratch) {
        self.make = make
        self.capacity = max(1, capacity)
    }

    /// Idle scratches held now (for tests).
    var idleCount: Int {
        lock.lock()
        defer { lock.unlock() }
        return free.count
    }

    func take() -> Scratch {
        lock.lock()
        let scratch = free.popLast()
        lock.unlock()
        return scratch ?? make()
    }

    func give(_ scratch: Scratch) {
        lock.lock()
        // Beyond the cap, the scratch is dropped (freed) outside the lock.
        if free.count < capacity { free.append(scratch) }
        lock.unlock()
    }
}

/// Where a strided k×k convolution reads from, at one input size, as Keras's MobileNets pad: 'same' at stride 1;
/// at stride 2 `ZeroPadding2D(correct_pad(x, k))` then 'valid' (≡ TensorFlow's 'same' for the stem).
struct ConvolutionGeometry: Equatable {
    let outputSize: Int
    let padTop: Int, padLeft: Int

    /// A stride-1 'same' layer or a stride-2 block after `correct_pad`: (k/2 − 1, k/2) for even sizes, (k/2, k/2)
    /// for odd.
    init(inputSize: Int, kernel: Int, stride: Int) {
        if stride == 1 {
            outputSize = inputSize
            padTop = (kernel - 1) / 2
        } else {
            padTop = inputSize % 2 == 0 ? kernel / 2 - 1 : kernel / 2
            outputSize = (inputSize + padTop + kernel / 2 - kernel) / stride + 1
        }
        padLeft = padTop
    }

    /// The stem: 3×3, stride 2, 'same', TensorFlow putting the odd padding pixel at the bottom/right.
    static func stem(inputSize: Int) -> ConvolutionGeometry {
        let outputSize = (inputSize + 1) / 2
        let pad = max((outputSize - 1) * 2 + 3 - inputSize, 0)
        return ConvolutionGeometry(outputSize: outputSize, padTop: pad / 2)
    }

    private init(outputSize: Int, padTop: Int) {
        self.outputSize = outputSize
        self.padTop = padTop
        padLeft = padTop
    }
}
