import Foundation
import FruitFeatures

/// What an `ff_pca *` points to.
final class PCAHandle: Sendable {
    let model: PCAModel

    init(model: PCAModel) {
        self.model = model
    }

    /// A retained C pointer to a new handle.
    static func opaque(_ model: PCAModel) -> OpaquePointer {
        OpaquePointer(Unmanaged.passRetained(PCAHandle(model: model)).toOpaque())
    }
}

/// The handle behind a C pointer, without taking ownership.
func pcaHandle(_ pointer: OpaquePointer?) -> PCAHandle? {
    guard let pointer else { return nil }
    return Unmanaged<PCAHandle>.fromOpaque(UnsafeRawPointer(pointer)).takeUnretainedValue()
}

/// The fitting rule of the C arguments: a count when `components` ≥ 1, else a variance share.
func pcaFit(components: Int32, varianceShare: Double, centred: Int32) -> LAPACKPCA {
    LAPACKPCA(
        components: components == 0 ? .varianceShare(varianceShare) : .count(Int(components)),
        centring: centred != 0 ? .centred : .uncentred)
}

/// `ff_pca_fit` of include/fruitfeatures.h (see there).
@_cdecl("ff_pca_fit")
public func ffPCAFit(
    _ rows: UnsafePointer<Float>?, _ rowCount: Int, _ dimension: Int, _ components: Int32, _ varianceShare: Double,
    _ centred: Int32, _ errorBuffer: UnsafeMutablePointer<CChar>?, _ errorSize: Int
) -> OpaquePointer? {
    let (valueCount, overflow) = rowCount.multipliedReportingOverflow(by: dimension)
    guard rowCount >= 0, dimension >= 0, !overflow, rows != nil || valueCount == 0 else {
        writeCMessage("PCA: invalid rows (NULL, or a negative or overflowing size)", to: errorBuffer, size: errorSize)
        return nil
    }
    do throws(PCAError) {
        var statistics = try PCAAccumulator(dimension: dimension)
        try statistics.add(UnsafeBufferPointer(start: rows, count: valueCount), rowCount: rowCount)
        let model = try pcaFit(components: components, varianceShare: varianceShare, centred: centred).fit(statistics)
        return PCAHandle.opaque(model)
    } catch {
        writeCMessage(error.description, to: errorBuffer, size: errorSize)
        return nil
    }
}

/// `ff_pca_fit_statistics` of include/fruitfeatures.h (see there).
@_cdecl("ff_pca_fit_statistics")
public func ffPCAFitStatistics(
    _ dimension: Int, _ rowCount: Int64, _ mean: UnsafePointer<Double>?, _ scatter: UnsafePointer<Double>?,
    _ components: Int32, _ varianceShare: Double, _ centred: Int32,
    _ errorBuffer: UnsafeMutablePointer<CChar>?, _ errorSize: Int
) -> OpaquePointer? {
    guard dimension >= 1, dimension <= PCAAccumulator.maximumDimension, let mean, let scatter else {
        writeCMessage("PCA: invalid statistics (NULL mean or scatter, or dimension \(dimension))", to: errorBuffer, size: errorSize)
        return nil
    }
    do throws(PCAError) {
        let statistics = try PCAAccumulator(
            dimension: dimension, count: Int(rowCount),
            mean: Array(UnsafeBufferPointer(start: mean, count: dimension)),
            scatter: Array(UnsafeBufferPointer(start: scatter, count: dimension * dimension)))
        let model = try pcaFit(components: components, varianceShare: varianceShare, centred: centred).fit(statistics)
        return PCAHandle.opaque(model)
    } catch {
        writeCMessage(error.description, to: errorBuffer, size: errorSize)
        return nil
    }
}

/// `ff_pca_open` of include/fruitfeatures.h (see there).
@_cdecl("ff_pca_open")
public func ffPCAOpen(
    _ path: UnsafePointer<CChar>?, _ errorBuffer: UnsafeMutablePointer<CChar>?, _ errorSize: Int
) -> OpaquePointer? {
    guard let path = stringArgument(path) else {
        writeCMessage("the PCA model path is NULL or not UTF-8", to: errorBuffer, size: errorSize)
        return nil
    }
    do throws(PCAError) {
        return PCAHandle.opaque(try PCAModel(contentsOf: URL(fileURLWithPath: path)))
    } catch {
        writeCMessage(error.description, to: errorBuffer, size: errorSize)
        return nil
    }
}

/// `ff_pca_save` of include/fruitfeatures.h (see there).
@_cdecl("ff_pca_save")
public func ffPCASave(
    _ pca: OpaquePointer?, _ path: UnsafePointer<CChar>?, _ errorBuffer: UnsafeMutablePointer<CChar>?, _ errorSize: Int
) -> Int32 {
    guard let handle = pcaHandle(pca) else {
        writeCMessage("the PCA handle is NULL", to: errorBuffer, size: errorSize)
        return -1
    }
    guard let path = stringArgument(path) else {
        writeCMessage("the PCA model path is NULL or not UTF-8", to: errorBuffer, size: errorSize)
        return -1
    }
    do throws(PCAError) {
        try handle.model.write(to: URL(fileURLWithPath: path))
        return 0
    } catch {
        writeCMessage(error.description, to: errorBuffer, size: errorSize)
        return -1
    }
}

/// `ff_pca_dimension` of include/fruitfeatures.h (see there).
@_cdecl("ff_pca_dimension")
public func ffPCADimension(_ pca: OpaquePointer?) -> Int {
    pcaHandle(pca)?.model.dimension ?? 0
}

/// `ff_pca_component_count` of include/fruitfeatures.h (see there).
@_cdecl("ff_pca_component_count")
public func ffPCAComponentCount(_ pca: OpaquePointer?) -> Int {
    pcaHandle(pca)?.model.componentCount ?? 0
}

/// `ff_pca_sample_count` of include/fruitfeatures.h (see there).
@_cdecl("ff_pca_sample_count")
public func ffPCASampleCount(_ pca: OpaquePointer?) -> Int64 {
    guard let handle = pcaHandle(pca) else { return -1 }
    return Int64(handle.model.sampleCount)
}

/// `ff_pca_centred` of include/fruitfeatures.h (see there).
@_cdecl("ff_pca_centred")
public func ffPCACentred(_ pca: OpaquePointer?) -> Int32 {
    guard let handle = pcaHandle(pca) else { return -1 }
    return handle.model.centring == .centred ? 1 : 0
}

/// `ff_pca_copy` of include/fruitfeatures.h (see there).
@_cdecl("ff_pca_copy")
public func ffPCACopy(
    _ pca: OpaquePointer?, _ mean: UnsafeMutablePointer<Double>?, _ components: UnsafeMutablePointer<Double>?,
    _ explainedVariance: UnsafeMutablePointer<Double>?, _ explainedVarianceRatio: UnsafeMutablePointer<Double>?
) -> Int32 {
    guard let model = pcaHandle(pca)?.model else { return -1 }
    for (values, destination) in [(model.mean, mean), (model.components, components),
                                  (model.explainedVariance, explainedVariance),
                                  (model.explainedVarianceRatio, explainedVarianceRatio)] {
        guard let destination else { continue }
        values.withUnsafeBufferPointer { source in
            if let base = source.baseAddress { destination.update(from: base, count: source.count) }
        }
    }
    return 0
}

/// `ff_pca_project` of include/fruitfeatures.h (see there).
@_cdecl("ff_pca_project")
public func ffPCAProject(
    _ pca: OpaquePointer?, _ rows: UnsafePointer<Float>?, _ rowCount: Int, _ out: UnsafeMutablePointer<Float>?,
    _ errorBuffer: UnsafeMutablePointer<CChar>?, _ errorSize: Int
) -> Int32 {
    guard let model = pcaHandle(pca)?.model else {
        writeCMessage("the PCA handle is NULL", to: errorBuffer, size: errorSize)
        return -1
    }
    let (valueCount, overflowIn) = rowCount.multipliedReportingOverflow(by: model.dimension)
    let (outCount, overflowOut) = rowCount.multipliedReportingOverflow(by: model.componentCount)
    guard rowCount >= 0, !overflowIn, !overflowOut else {
        writeCMessage("PCA: invalid row count \(rowCount)", to: errorBuffer, size: errorSize)
        return -1
    }
    guard rowCount == 0 || (rows != nil && out != nil) else {
        writeCMessage("PCA: NULL rows or output", to: errorBuffer, size: errorSize)
        return -1
    }
    do throws(PCAError) {
        try model.project(UnsafeBufferPointer(start: rows, count: valueCount), rowCount: rowCount,
                          into: UnsafeMutableBufferPointer(start: out, count: outCount))
        return 0
    } catch {
        writeCMessage(error.description, to: errorBuffer, size: errorSize)
        return -1
    }
}

/// `ff_pca_close` of include/fruitfeatures.h (see there).
@_cdecl("ff_pca_close")
public func ffPCAClose(_ pca: OpaquePointer?) {
    guard let pca else { return }
    Unmanaged<PCAHandle>.fromOpaque(UnsafeRawPointer(pca)).release()
}
