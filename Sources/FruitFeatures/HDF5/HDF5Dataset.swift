import CHDF5
import CHDF5Shim

/// Values read from an HDF5 dataset with their shape (row-major; `[]` for a scalar).
public struct HDF5Array<Element: Sendable>: Sendable {
    /// The extents, outermost first.
    public let shape: [Int]
    /// The elements in row-major order; `values.count` is the product of `shape`.
    public let values: [Element]
}

extension HDF5Array: Equatable where Element: Equatable {}

/// A dataset (n-dimensional array) in an HDF5 file.
public struct HDF5Dataset: HDF5Object {
    /// The file the dataset is in.
    public let file: HDF5File
    /// The absolute path of the dataset.
    public let path: String

    /// The extents of the dataset, outermost first (`[]` for a scalar).
    public func shape() throws(HDF5Error) -> [Int] {
        try HDF5Library.withLock { () throws(HDF5Error) -> [Int] in
            let dataset = try open()
            return try shape(of: dataset)
        }
    }

    /// The most bytes a read allocates unless told otherwise (256 MiB): far above any weight or PCA
    /// array, far below what a file of a few KB can declare.
    public static let defaultByteLimit = 256 << 20

    /// Reads the dataset as float32, converting from any stored float (16-, 32-, 64-bit) or integer type.
    ///
    /// - Throws: ``HDF5Error/Reason/tooLarge(shape:bytes:limit:)`` before allocating when the dataset
    ///   (or one of its chunks) would take more than `byteLimit` bytes in memory.
    public func readFloats(byteLimit: Int = defaultByteLimit) throws(HDF5Error) -> HDF5Array<Float> {
        try read(memoryType: ffh5_native_float(), zero: 0, byteLimit: byteLimit)
    }

    /// Reads the dataset as float64, converting from any stored float or integer type (limit as ``readFloats(byteLimit:)``).
    public func readDoubles(byteLimit: Int = defaultByteLimit) throws(HDF5Error) -> HDF5Array<Double> {
        try read(memoryType: ffh5_native_double(), zero: 0, byteLimit: byteLimit)
    }

    /// Reads the dataset as int64, converting from any stored integer type (limit as ``readFloats(byteLimit:)``).
    public func readInt64s(byteLimit: Int = defaultByteLimit) throws(HDF5Error) -> HDF5Array<Int64> {
        try read(memoryType: ffh5_native_int64(), zero: 0, byteLimit: byteLimit)
    }

    private func read<Element: BitwiseCopyable & Sendable>(
        memoryType: hid_t, zero: Element, byteLimit: Int
    ) throws(HDF5Error) -> HDF5Array<Element> {
        try HDF5Library.withLock { () throws(HDF5Error) -> HDF5Array<Element> in
            let dataset = try open()
            let shape = try shape(of: dataset)
            guard let storedType = HDF5Handle(H5Dget_type(dataset.raw), kind: .datatype) else {
                throw file.error(.readFailed, at: path)
            }
            let storedClass = H5Tget_class(storedType.raw)
            let wantsFloat = H5Tget_class(memoryType) == H5T_FLOAT
            guard storedClass == H5T_INTEGER || (wantsFloat && storedClass == H5T_FLOAT) else {
                throw HDF5Error(file: file.url.path, object: path, reason: .unsupportedType(hdf5ClassName(storedClass)))
            }
            // The shape comes from the file: check what it costs before allocating anything for it.
            let elementSize = max(MemoryLayout<Element>.stride, H5Tget_size(storedType.raw))
            guard let count = hdf5ElementCount(shape) else {
                throw HDF5Error(file: file.url.path, object: path, reason: .tooLarge(shape: shape, bytes: nil, limit: byteLimit))
            }
            let bytes = count.multipliedReportingOverflow(by: elementSize)
            guard !bytes.overflow, bytes.partialValue <= byteLimit else {
                throw HDF5Error(file: file.url.path, object: path, reason: .tooLarge(
                    shape: shape, bytes: bytes.overflow ? nil : bytes.partialValue, limit: byteLimit))
            }
            // libhdf5 allocates whole chunks to read them (to decompress, or to convert types): a chunk
            // may declare extents beyond the dataset's own.
            var chunkDims = [hsize_t](repeating: 0, count: 32)
            let chunkRank = ffh5_chunk_shape(dataset.raw, Int32(chunkDims.count), &chunkDims)
            guard chunkRank >= 0 else { throw file.error(.readFailed, at: path) }
            if chunkRank > 0 {
                let chunk = chunkDims.prefix(Int(chunkRank)).map { Int(clamping: $0) }
                let chunkBytes = hdf5ElementCount(chunk).map { $0.multipliedReportingOverflow(by: elementSize) }
                guard let chunkBytes, !chunkBytes.overflow, chunkBytes.partialValue <= byteLimit else {
                    throw HDF5Error(file: file.url.path, object: path, reason: .tooLarge(
                        shape: chunk, bytes: chunkBytes.flatMap { $0.overflow ? nil : $0.partialValue }, limit: byteLimit))
                }
            }
            var values = [Element](repeating: zero, count: count)
            if count > 0 {
                let status = values.withUnsafeMutableBytes { bytes in
                    H5Dread(dataset.raw, memoryType, ffh5_s_all(), ffh5_s_all(), ffh5_p_default(), bytes.baseAddress)
                }
                guard status >= 0 else { throw file.error(.readFailed, at: path) }
            }
            return HDF5Array(shape: shape, values: values)
        }
    }

    /// Opens the dataset. Call holding the lock.
    private func open() throws(HDF5Error) -> HDF5Handle {
        guard let dataset = HDF5Handle(H5Dopen2(file.id, path, ffh5_p_default()), kind: .dataset) else {
            throw file.error(.missingObject, at: path)
        }
        return dataset
    }

    /// The dataset's extents. Call holding the lock.
    private func shape(of dataset: borrowing HDF5Handle) throws(HDF5Error) -> [Int] {
        guard let space = HDF5Handle(H5Dget_space(dataset.raw), kind: .dataspace),
              let shape = hdf5Shape(ofSpace: space.raw) else {
            throw file.error(.readFailed, at: path)
        }
        return shape
    }
}
