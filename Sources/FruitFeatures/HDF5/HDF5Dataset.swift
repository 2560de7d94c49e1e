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

    /// Reads the dataset as float32, converting from any stored float (16-, 32-, 64-bit) or integer type.
    public func readFloats() throws(HDF5Error) -> HDF5Array<Float> {
        try read(memoryType: ffh5_native_float(), zero: 0)
    }

    /// Reads the dataset as float64, converting from any stored float or integer type.
    public func readDoubles() throws(HDF5Error) -> HDF5Array<Double> {
        try read(memoryType: ffh5_native_double(), zero: 0)
    }

    /// Reads the dataset as int64, converting from any stored integer type.
    public func readInt64s() throws(HDF5Error) -> HDF5Array<Int64> {
        try read(memoryType: ffh5_native_int64(), zero: 0)
    }

    private func read<Element: BitwiseCopyable & Sendable>(memoryType: hid_t, zero: Element) throws(HDF5Error) -> HDF5Array<Element> {
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
            guard let count = hdf5ElementCount(shape) else {
                throw HDF5Error(file: file.url.path, object: path, reason: .invalidShape(shape))
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
