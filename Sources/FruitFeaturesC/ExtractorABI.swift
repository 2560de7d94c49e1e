import Foundation
import FruitFeatures

// The C functions declared in include/fruitfeatures.h. Every one catches what FruitFeatures throws and
// turns it into a return value plus a message: an error must never unwind into, or abort, the host.

/// What an `ff_extractor *` points to: the model and the preprocessing that feeds it.
final class ExtractorHandle: Sendable {
    /// The network; thread-safe (each call borrows its own scratch memory).
    let extractor: MobileNetV2Extractor
    /// The reference preprocessing: 224 × 224, the input size `ff_extractor_open` builds the network for.
    let preprocessor = KerasPreprocessor()

    init(extractor: MobileNetV2Extractor) {
        self.extractor = extractor
    }
}

/// The per-image status codes of the header (`FF_STATUS_*`).
enum ImageStatus: Int32 {
    case ok = 0
    case invalidImage = 1
    case invalidArgument = 2
    case extractionFailed = 3
}

/// The ABI version of include/fruitfeatures.h (`FF_ABI_VERSION`).
let abiVersion: Int32 = 1

/// `fruitFeaturesVersion` as a C string that lives as long as the process.
nonisolated(unsafe) let versionCString: UnsafeMutablePointer<CChar>? = strdup(fruitFeaturesVersion)
// nonisolated(unsafe): written once by the lazy global initialiser, read-only afterwards.

/// `ff_version` of include/fruitfeatures.h (see there).
@_cdecl("ff_version")
public func ffVersion() -> UnsafePointer<CChar>? {
    UnsafePointer(versionCString)
}

/// `ff_abi_version` of include/fruitfeatures.h (see there).
@_cdecl("ff_abi_version")
public func ffABIVersion() -> Int32 {
    abiVersion
}

/// `ff_extractor_open` of include/fruitfeatures.h (see there).
@_cdecl("ff_extractor_open")
public func ffExtractorOpen(
    _ weightsPath: UnsafePointer<CChar>?, _ errorBuffer: UnsafeMutablePointer<CChar>?, _ errorSize: Int
) -> OpaquePointer? {
    guard let path = stringArgument(weightsPath) else {
        writeCMessage("the weights path is NULL or not UTF-8", to: errorBuffer, size: errorSize)
        return nil
    }
    do {
        let extractor = try MobileNetV2Extractor(weightsAt: URL(fileURLWithPath: path))
        let handle = ExtractorHandle(extractor: extractor)
        return OpaquePointer(Unmanaged.passRetained(handle).toOpaque())
    } catch {
        writeCMessage(error.description, to: errorBuffer, size: errorSize)
        return nil
    }
}

/// The handle behind a C pointer, without taking ownership.
func extractorHandle(_ pointer: OpaquePointer?) -> ExtractorHandle? {
    guard let pointer else { return nil }
    return Unmanaged<ExtractorHandle>.fromOpaque(UnsafeRawPointer(pointer)).takeUnretainedValue()
}

/// `ff_extractor_feature_count` of include/fruitfeatures.h (see there).
@_cdecl("ff_extractor_feature_count")
public func ffExtractorFeatureCount(_ extractor: OpaquePointer?) -> Int {
    extractorHandle(extractor)?.extractor.featureCount ?? 0
}

/// `ff_extractor_close` of include/fruitfeatures.h (see there).
@_cdecl("ff_extractor_close")
public func ffExtractorClose(_ extractor: OpaquePointer?) {
    guard let extractor else { return }
    Unmanaged<ExtractorHandle>.fromOpaque(UnsafeRawPointer(extractor)).release()
}

/// `ff_extractor_features` of include/fruitfeatures.h (see there).
@_cdecl("ff_extractor_features")
public func ffExtractorFeatures(
    _ extractor: OpaquePointer?, _ images: UnsafePointer<UnsafePointer<UInt8>?>?, _ lengths: UnsafePointer<Int>?,
    _ count: Int, _ out: UnsafeMutablePointer<Float>?, _ status: UnsafeMutablePointer<Int32>?,
    _ messages: UnsafeMutablePointer<CChar>?, _ messageSize: Int
) -> Int64 {
    guard let handle = extractorHandle(extractor), count >= 0 else { return -1 }
    guard count > 0 else { return 0 }
    guard let images, let lengths, let out, let status else { return -1 }
    let featureCount = handle.extractor.featureCount
    let (outCount, overflow) = count.multipliedReportingOverflow(by: featureCount)
    guard !overflow else { return -1 }
    let output = UnsafeMutableBufferPointer(start: out, count: outCount)

    func report(_ index: Int, _ code: ImageStatus, _ message: String) {
        status[index] = code.rawValue
        if let messages, messageSize > 0 {
            writeCMessage(message, to: messages + index * messageSize, size: messageSize)
        }
        if code != .ok {
            // NaN rows: a failed image's features cannot be mistaken for real ones.
            for j in 0..<featureCount { output[index * featureCount + j] = .nan }
        }
    }

    // One image at a time: its preprocessed input (inputSize², 3) is reused for the next.
    var input = [Float](repeating: 0, count: handle.extractor.inputCount)
    var failures: Int64 = 0
    for index in 0..<count {
        let length = lengths[index]
        guard length >= 0, images[index] != nil || length == 0 else {
            report(index, .invalidArgument, "the image pointer is NULL but its length is \(length)")
            failures += 1
            continue
        }
        let bytes = UnsafeRawBufferPointer(start: images[index], count: length)
        let preprocessed: ImageError? = input.withUnsafeMutableBufferPointer { (buffer) -> ImageError? in
            do throws(ImageError) {
                try handle.preprocessor.preprocess(bytes, path: "", into: buffer)
                return nil
            } catch {
                return error
            }
        }
        if let preprocessed {
            report(index, .invalidImage, preprocessed.reasonDescription)
            failures += 1
            continue
        }
        let extracted: FeatureExtractionError? = input.withUnsafeBufferPointer { (source) -> FeatureExtractionError? in
            let row = UnsafeMutableBufferPointer(rebasing: output[(index * featureCount)..<((index + 1) * featureCount)])
            do throws(FeatureExtractionError) {
                try handle.extractor.features(batch: source, count: 1, into: row)
                return nil
            } catch {
                return error
            }
        }
        if let extracted {
            report(index, .extractionFailed, extracted.description)
            failures += 1
        } else {
            report(index, .ok, "")
        }
    }
    return failures
}
