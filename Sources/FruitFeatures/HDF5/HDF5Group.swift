import CHDF5
import CHDF5Shim

/// A group in an HDF5 file: named members (groups and datasets) and attributes.
struct HDF5Group: HDF5Object {
    /// The file the group is in.
    let file: HDF5File
    /// The absolute path of the group, `/` for the root.
    let path: String

    /// The names of the group's direct members, in HDF5's name order (as h5py lists them).
    func memberNames() throws(HDF5Error) -> [String] {
        try HDF5Library.withLock { () throws(HDF5Error) -> [String] in
            guard let group = HDF5Handle(H5Gopen2(file.id, path, ffh5_p_default()), kind: .group) else {
                throw file.error(.missingObject, at: path)
            }
            var info = H5G_info_t()
            guard H5Gget_info(group.raw, &info) >= 0 else { throw file.error(.readFailed, at: path) }
            var names: [String] = []
            names.reserveCapacity(Int(info.nlinks))
            for index in 0..<info.nlinks {
                let length = H5Lget_name_by_idx(group.raw, ".", H5_INDEX_NAME, H5_ITER_INC, index, nil, 0, ffh5_p_default())
                guard length >= 0 else { throw file.error(.readFailed, at: path) }
                var buffer = [CChar](repeating: 0, count: Int(length) + 1)
                guard H5Lget_name_by_idx(group.raw, ".", H5_INDEX_NAME, H5_ITER_INC, index, &buffer, buffer.count, ffh5_p_default()) >= 0 else {
                    throw file.error(.readFailed, at: path)
                }
                names.append(String(decoding: buffer.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self))
            }
            return names
        }
    }

    /// What the member `name` (a name or a relative path such as `a/b`) is, or nil when it does not exist.
    func kindOfMember(_ name: String) -> HDF5ObjectKind? {
        HDF5Library.withLock { file.kindOfObject(hdf5Join(path, name)) }
    }

    /// The member group `name` (a name or a relative path).
    func group(_ name: String) throws(HDF5Error) -> HDF5Group {
        let childPath = hdf5Join(path, name)
        switch kindOfMember(name) {
        case .group: return HDF5Group(file: file, path: childPath)
        case nil: throw HDF5Error(file: file.url.path, object: childPath, reason: .missingObject)
        default: throw HDF5Error(file: file.url.path, object: childPath, reason: .notA("group"))
        }
    }

    /// The member dataset `name` (a name or a relative path such as `Conv1/kernel:0`).
    func dataset(_ name: String) throws(HDF5Error) -> HDF5Dataset {
        let childPath = hdf5Join(path, name)
        switch kindOfMember(name) {
        case .dataset: return HDF5Dataset(file: file, path: childPath)
        case nil: throw HDF5Error(file: file.url.path, object: childPath, reason: .missingObject)
        default: throw HDF5Error(file: file.url.path, object: childPath, reason: .notA("dataset"))
        }
    }

    /// Creates the member group `name`, creating missing intermediate groups of a relative path.
    @discardableResult
    func createGroup(_ name: String) throws(HDF5Error) -> HDF5Group {
        let childPath = hdf5Join(path, name)
        try HDF5Library.withLock { () throws(HDF5Error) in
            let linkProperties = try intermediateGroupsProperties(for: childPath)
            guard HDF5Handle(H5Gcreate2(file.id, childPath, linkProperties.raw, ffh5_p_default(), ffh5_p_default()),
                             kind: .group) != nil else {
                throw file.error(.writeFailed, at: childPath)
            }
        }
        return HDF5Group(file: file, path: childPath)
    }

    /// Writes a float32 dataset of the given shape (row-major `values`; `[]` for a scalar).
    @discardableResult
    func writeDataset(_ name: String, shape: [Int], values: [Float]) throws(HDF5Error) -> HDF5Dataset {
        try writeDataset(name, shape: shape, values: values, type: ffh5_native_float())
    }

    /// Writes a float64 dataset of the given shape (row-major `values`; `[]` for a scalar).
    @discardableResult
    func writeDataset(_ name: String, shape: [Int], values: [Double]) throws(HDF5Error) -> HDF5Dataset {
        try writeDataset(name, shape: shape, values: values, type: ffh5_native_double())
    }

    /// Writes an int64 dataset of the given shape (row-major `values`; `[]` for a scalar).
    @discardableResult
    func writeDataset(_ name: String, shape: [Int], values: [Int64]) throws(HDF5Error) -> HDF5Dataset {
        try writeDataset(name, shape: shape, values: values, type: ffh5_native_int64())
    }

    private func writeDataset<Element: BitwiseCopyable>(
        _ name: String, shape: [Int], values: [Element], type: hid_t
    ) throws(HDF5Error) -> HDF5Dataset {
        let childPath = hdf5Join(path, name)
        guard let count = hdf5ElementCount(shape) else {
            throw HDF5Error(file: file.url.path, object: childPath, reason: .invalidShape(shape))
        }
        guard count == values.count else {
            throw HDF5Error(file: file.url.path, object: childPath, reason: .sizeMismatch(expected: count, actual: values.count))
        }
        try HDF5Library.withLock { () throws(HDF5Error) in
            let dims = shape.map { hsize_t($0) }
            let spaceID = dims.isEmpty ? H5Screate(H5S_SCALAR) : H5Screate_simple(Int32(dims.count), dims, nil)
            guard let space = HDF5Handle(spaceID, kind: .dataspace) else { throw file.error(.writeFailed, at: childPath) }
            let linkProperties = try intermediateGroupsProperties(for: childPath)
            guard let dataset = HDF5Handle(
                H5Dcreate2(file.id, childPath, type, space.raw, linkProperties.raw, ffh5_p_default(), ffh5_p_default()),
                kind: .dataset
            ) else {
                throw file.error(.writeFailed, at: childPath)
            }
            if count > 0 {
                let status = values.withUnsafeBytes { bytes in
                    H5Dwrite(dataset.raw, type, ffh5_s_all(), ffh5_s_all(), ffh5_p_default(), bytes.baseAddress)
                }
                guard status >= 0 else { throw file.error(.writeFailed, at: childPath) }
            }
        }
        return HDF5Dataset(file: file, path: childPath)
    }

    /// Link-creation properties that create missing intermediate groups. Call holding the lock.
    private func intermediateGroupsProperties(for object: String) throws(HDF5Error) -> HDF5Handle {
        guard let properties = HDF5Handle(H5Pcreate(ffh5_p_link_create()), kind: .propertyList),
              H5Pset_create_intermediate_group(properties.raw, 1) >= 0 else {
            throw file.error(.writeFailed, at: object)
        }
        return properties
    }
}
