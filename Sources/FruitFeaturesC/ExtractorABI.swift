import Foundation
import FruitFeatures

// The C functions declared in include/fruitfeatures.h. Every one catches what FruitFeatures throws and
// turns it into a return value plus a message: an error must never unwind into, or abort, the host.

/// What an `ff_extractor *` points to: the feature model (preprocessing and network).
final class ExtractorHandle: Sendable {
    /// Thread-safe (each call borrows its own scratch memory).
    let model: any FeatureModel

    init(model: any FeatureModel) {
        self.model = model
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
        let handle = ExtractorHandle(model: try FeatureModelLoader.load(weightsAt: path))
        return OpaquePointer(Unmanaged.passRetained(handle).toOpaque())
    } catch {
        writeCMessage(error.description, to: errorBuffer, size: errorSize)
        return nil
    }
}

/// `ff_extractor_open_run` of include/fruitfeatures.h (see there): the run's feature model, its weights found by
/// the library's one weights rule (``ExtractionRun/loadFeatureModel(weights:environment:)``).
@_cdecl("ff_extractor_open_run")
public func ffExtractorOpenRun(
    _ runDirectory: UnsafePointer<CChar>?, _ weightsPath: UnsafePointer<CChar>?,
    _ errorBuffer: UnsafeMutablePointer<CChar>?, _ errorSize: Int
) -> OpaquePointer? {
    guard let directory = stringArgument(runDirectory) else {
        writeCMessage("the run folder is NULL or not UTF-8", to: errorBuffer, size: errorSize)
        return nil
    }
    // NULL means "no explicit file"; a non-NULL path that is not UTF-8 is an error, not a silent fallback.
    var weights: String?
    if let weightsPath {
        guard let path = stringArgument(weightsPath) else {
            writeCMessage("the weights path is not UTF-8", to: errorBuffer, size: errorSize)
            return nil
        }
        weights = path
    }
    do throws(AnalysisError) {
        let run = try ExtractionRun(directory: URL(fileURLWithPath: directory))
        let handle = ExtractorHandle(model: try run.loadFeatureModel(weights: weights).model)
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
    extractorHandle(extractor)?.model.featureCount ?? 0
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
    return extractFeatures(handle, count: count, out: out, status: status, messages: messages, messageSize: messageSize) { index in
        let length = lengths[index]
        guard length >= 0, images[index] != nil || length == 0 else {
            return .failure(InvalidImageArgument(description: "the image pointer is NULL but its length is \(length)"))
        }
        return .success(UnsafeRawBufferPointer(start: images[index], count: length))
    }
}

/// `ff_extractor_features_batch` of include/fruitfeatures.h (see there): an Arrow binary column's buffers.
@_cdecl("ff_extractor_features_batch")
public func ffExtractorFeaturesBatch(
    _ extractor: OpaquePointer?, _ data: UnsafePointer<UInt8>?, _ dataLength: Int, _ offsets: UnsafePointer<Int32>?,
    _ count: Int, _ out: UnsafeMutablePointer<Float>?, _ status: UnsafeMutablePointer<Int32>?,
    _ messages: UnsafeMutablePointer<CChar>?, _ messageSize: Int
) -> Int64 {
    extractFeatures(
        extractor, data: data, dataLength: dataLength, offsets: offsets, count: count, out: out, status: status,
        messages: messages, messageSize: messageSize)
}

/// `ff_extractor_features_batch64` of include/fruitfeatures.h (see there): an Arrow large_binary column's buffers.
@_cdecl("ff_extractor_features_batch64")
public func ffExtractorFeaturesBatch64(
    _ extractor: OpaquePointer?, _ data: UnsafePointer<UInt8>?, _ dataLength: Int, _ offsets: UnsafePointer<Int64>?,
    _ count: Int, _ out: UnsafeMutablePointer<Float>?, _ status: UnsafeMutablePointer<Int32>?,
    _ messages: UnsafeMutablePointer<CChar>?, _ messageSize: Int
) -> Int64 {
    extractFeatures(
        extractor, data: data, dataLength: dataLength, offsets: offsets, count: count, out: out, status: status,
        messages: messages, messageSize: messageSize)
}

/// The batch functions over one contiguous buffer: image `i` is `data[offsets[i] ..< offsets[i + 1]]`.
private func extractFeatures<Offset: BinaryInteger>(
    _ extractor: OpaquePointer?, data: UnsafePointer<UInt8>?, dataLength: Int, offsets: UnsafePointer<Offset>?,
    count: Int, out: UnsafeMutablePointer<Float>?, status: UnsafeMutablePointer<Int32>?,
    messages: UnsafeMutablePointer<CChar>?, messageSize: Int
) -> Int64 {
    guard let handle = extractorHandle(extractor), count >= 0, dataLength >= 0 else { return -1 }
    guard count > 0 else { return 0 }
    guard let offsets, let out, let status, data != nil || dataLength == 0 else { return -1 }
    return extractFeatures(handle, count: count, out: out, status: status, messages: messages, messageSize: messageSize) { index in
        let start = offsets[index]
        let end = offsets[index + 1]
        guard start >= 0, start <= end, end <= dataLength else {
            return .failure(InvalidImageArgument(
                description: "offsets \(start)..<\(end) are not within the \(dataLength)-byte buffer"))
        }
        return .success(UnsafeRawBufferPointer(start: data.map { $0 + Int(start) }, count: Int(end - start)))
    }
}

/// Runs the seam's batch path and reports each image's status, message and features (NaN rows on failure).
private func extractFeatures(
    _ handle: ExtractorHandle, count: Int, out: UnsafeMutablePointer<Float>, status: UnsafeMutablePointer<Int32>,
    messages: UnsafeMutablePointer<CChar>?, messageSize: Int,
    image: (Int) -> Result<UnsafeRawBufferPointer, InvalidImageArgument>
) -> Int64 {
    let featureCount = handle.model.featureCount
    let (outCount, overflow) = count.multipliedReportingOverflow(by: featureCount)
    guard !overflow else { return -1 }
    let failures = handle.model.features(
        count: count, encoded: image, into: UnsafeMutableBufferPointer(start: out, count: outCount))
    var failed: Int64 = 0
    for (index, failure) in failures.enumerated() {
        let (code, message): (ImageStatus, String) = switch failure {
        case nil: (.ok, "")
        case let error as ImageError: (.invalidImage, error.reasonDescription)
        case let error as InvalidImageArgument: (.invalidArgument, error.description)
        case let error?: (.extractionFailed, "\(error)")
        }
        status[index] = code.rawValue
        if code != .ok { failed += 1 }
        if let messages, messageSize > 0 {
            writeCMessage(message, to: messages + index * messageSize, size: messageSize)
        }
    }
    return failed
}
