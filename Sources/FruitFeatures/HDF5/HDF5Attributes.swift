import Foundation
import CHDF5
import CHDF5Shim

/// A group or dataset: something in an HDF5 file that carries attributes.
public protocol HDF5Object: Sendable {
    /// The file the object is in.
    var file: HDF5File { get }
    /// The absolute path of the object.
    var path: String { get }
}

extension HDF5Object {
    /// The names of the object's attributes, in HDF5's name order.
    public func attributeNames() throws(HDF5Error) -> [String] {
        try HDF5Library.withLock { () throws(HDF5Error) -> [String] in
            let object = try file.openObject(path)
            let names = HDF5NameList()
            var index: hsize_t = 0
            let status = H5Aiterate2(object.raw, H5_INDEX_NAME, H5_ITER_INC, &index, { _, name, _, context in
                guard let name, let context else { return -1 }
                Unmanaged<HDF5NameList>.fromOpaque(context).takeUnretainedValue().values.append(String(cString: name))
                return 0
            }, Unmanaged.passUnretained(names).toOpaque())
            guard status >= 0 else { throw file.error(.readFailed, at: path) }
            return withExtendedLifetime(names) { names.values }
        }
    }

    /// Whether the object has an attribute called `name`.
    public func hasAttribute(_ name: String) throws(HDF5Error) -> Bool {
        try HDF5Library.withLock { () throws(HDF5Error) -> Bool in
            let object = try file.openObject(path)
            let exists = H5Aexists(object.raw, name)
            guard exists >= 0 else { throw file.error(.readFailed, at: attributePath(name)) }
            return exists > 0
        }
    }

    /// Reads a string attribute holding one string or an array of strings (any shape, flattened),
    /// stored either as fixed-length (NUL- or space-padded) or as variable-length strings.
    ///
    /// An attribute with no elements reads as `[]` whatever its element type.
    public func stringsAttribute(_ name: String) throws(HDF5Error) -> [String] {
        try HDF5Library.withLock { () throws(HDF5Error) -> [String] in
            let attribute = try openAttribute(name)
            let location = attributePath(name)
            guard let storedType = HDF5Handle(H5Aget_type(attribute.raw), kind: .datatype),
                  let space = HDF5Handle(H5Aget_space(attribute.raw), kind: .dataspace) else {
                throw file.error(.readFailed, at: location)
            }
            let count = Int(H5Sget_simple_extent_npoints(space.raw))
            guard count >= 0 else { throw file.error(.readFailed, at: location) }
            // An empty array of any type is an empty list (Keras writes "no weights" as an empty float64 array).
            if count == 0 { return [] }
            let storedClass = H5Tget_class(storedType.raw)
            guard storedClass == H5T_STRING else {
                throw HDF5Error(file: file.url.path, object: location, reason: .unsupportedType(hdf5ClassName(storedClass)))
            }
            let isVariable = H5Tis_variable_str(storedType.raw)
            guard isVariable >= 0 else { throw file.error(.readFailed, at: location) }
            if isVariable > 0 {
                guard count <= HDF5Dataset.defaultByteLimit / MemoryLayout<UnsafeMutablePointer<CChar>?>.stride else {
                    throw HDF5Error(file: file.url.path, object: location, reason: .tooLarge(
                        shape: [count], bytes: nil, limit: HDF5Dataset.defaultByteLimit))
                }
                guard let memoryType = HDF5Handle(H5Tcopy(ffh5_c_s1()), kind: .datatype),
                      H5Tset_size(memoryType.raw, ffh5_t_variable()) >= 0,
                      H5Tset_cset(memoryType.raw, H5Tget_cset(storedType.raw)) >= 0 else {
                    throw file.error(.readFailed, at: location)
                }
                var pointers = [UnsafeMutablePointer<CChar>?](repeating: nil, count: count)
                guard H5Aread(attribute.raw, memoryType.raw, &pointers) >= 0 else {
                    throw file.error(.readFailed, at: location)
                }
                defer { for pointer in pointers where pointer != nil { H5free_memory(pointer) } }
                return pointers.map { pointer in pointer.map { String(cString: $0) } ?? "" }
            }
            let width = H5Tget_size(storedType.raw)
            guard width > 0 else { throw file.error(.readFailed, at: location) }
            // The count and width come from the file: check what they cost before allocating.
            let size = count.multipliedReportingOverflow(by: width)
            guard !size.overflow, size.partialValue <= HDF5Dataset.defaultByteLimit else {
                throw HDF5Error(file: file.url.path, object: location, reason: .tooLarge(
                    shape: [count, width], bytes: size.overflow ? nil : size.partialValue,
                    limit: HDF5Dataset.defaultByteLimit))
            }
            let padding = H5Tget_strpad(storedType.raw)
            var bytes = [UInt8](repeating: 0, count: count * width)
            // Fixed-length strings have no byte order: reading with the stored type copies them as they are.
            guard H5Aread(attribute.raw, storedType.raw, &bytes) >= 0 else {
                throw file.error(.readFailed, at: location)
            }
            return (0..<count).map { index in
                var field = bytes[(index * width)..<((index + 1) * width)]
                if let end = field.firstIndex(of: 0) { field = field[..<end] }
                if padding == H5T_STR_SPACEPAD {
                    while field.last == UInt8(ascii: " ") { field = field.dropLast() }
                }
                return String(decoding: field, as: UTF8.self)
            }
        }
    }

    /// Reads a string attribute holding exactly one string (a scalar or a one-element array).
    public func stringAttribute(_ name: String) throws(HDF5Error) -> String {
        let strings = try stringsAttribute(name)
        guard strings.count == 1 else {
            throw HDF5Error(file: file.url.path, object: attributePath(name),
                            reason: .sizeMismatch(expected: 1, actual: strings.count))
        }
        return strings[0]
    }

    /// Reads a numeric attribute holding exactly one integer.
    public func integerAttribute(_ name: String) throws(HDF5Error) -> Int64 {
        try scalarAttribute(name, memoryType: ffh5_native_int64(), zero: Int64(0), allowFloat: false)
    }

    /// Reads a numeric attribute holding exactly one number (integer or float), as a double.
    public func doubleAttribute(_ name: String) throws(HDF5Error) -> Double {
        try scalarAttribute(name, memoryType: ffh5_native_double(), zero: 0.0, allowFloat: true)
    }

    /// Writes (or replaces) a scalar variable-length UTF-8 string attribute, as h5py does for a `str`.
    public func setAttribute(_ name: String, to value: String) throws(HDF5Error) {
        try setAttribute(name, strings: [value], scalar: true)
    }

    /// Writes (or replaces) a one-dimensional attribute of variable-length UTF-8 strings.
    public func setAttribute(_ name: String, to values: [String]) throws(HDF5Error) {
        try setAttribute(name, strings: values, scalar: false)
    }

    /// Writes (or replaces) a scalar int64 attribute.
    public func setAttribute(_ name: String, to value: Int64) throws(HDF5Error) {
        try setScalarAttribute(name, value: value, type: ffh5_native_int64())
    }

    /// Writes (or replaces) a scalar int64 attribute.
    public func setAttribute(_ name: String, to value: Int) throws(HDF5Error) {
        try setScalarAttribute(name, value: Int64(value), type: ffh5_native_int64())
    }

    /// Writes (or replaces) a scalar float64 attribute.
    public func setAttribute(_ name: String, to value: Double) throws(HDF5Error) {
        try setScalarAttribute(name, value: value, type: ffh5_native_double())
    }

    // MARK: - Internals

    /// How the attribute is named in errors: `/group/path@name`.
    func attributePath(_ name: String) -> String { "\(path)@\(name)" }

    /// Opens attribute `name`. Call holding the lock.
    private func openAttribute(_ name: String) throws(HDF5Error) -> HDF5Handle {
        let object = try file.openObject(path)
        guard H5Aexists(object.raw, name) > 0 else {
            H5Eclear2(ffh5_e_default())
            throw HDF5Error(file: file.url.path, object: attributePath(name), reason: .missingObject)
        }
        guard let attribute = HDF5Handle(H5Aopen(object.raw, name, ffh5_p_default()), kind: .attribute) else {
            throw file.error(.readFailed, at: attributePath(name))
        }
        return attribute
    }

    private func scalarAttribute<Element: BitwiseCopyable>(
        _ name: String, memoryType: hid_t, zero: Element, allowFloat: Bool
    ) throws(HDF5Error) -> Element {
        try HDF5Library.withLock { () throws(HDF5Error) -> Element in
            let attribute = try openAttribute(name)
            let location = attributePath(name)
            guard let storedType = HDF5Handle(H5Aget_type(attribute.raw), kind: .datatype),
                  let space = HDF5Handle(H5Aget_space(attribute.raw), kind: .dataspace) else {
                throw file.error(.readFailed, at: location)
            }
            let storedClass = H5Tget_class(storedType.raw)
            guard storedClass == H5T_INTEGER || (allowFloat && storedClass == H5T_FLOAT) else {
                throw HDF5Error(file: file.url.path, object: location, reason: .unsupportedType(hdf5ClassName(storedClass)))
            }
            let count = Int(H5Sget_simple_extent_npoints(space.raw))
            guard count == 1 else {
                throw HDF5Error(file: file.url.path, object: location, reason: .sizeMismatch(expected: 1, actual: count))
            }
            var value = zero
            guard H5Aread(attribute.raw, memoryType, &value) >= 0 else { throw file.error(.readFailed, at: location) }
            return value
        }
    }

    private func setScalarAttribute<Element: BitwiseCopyable>(_ name: String, value: Element, type: hid_t) throws(HDF5Error) {
        try HDF5Library.withLock { () throws(HDF5Error) in
            let location = attributePath(name)
            let object = try file.openObject(path)
            guard let space = HDF5Handle(H5Screate(H5S_SCALAR), kind: .dataspace) else {
                throw file.error(.writeFailed, at: location)
            }
            let attribute = try createAttribute(name, on: object, type: type, space: space)
            var value = value
            guard H5Awrite(attribute.raw, type, &value) >= 0 else { throw file.error(.writeFailed, at: location) }
        }
    }

    private func setAttribute(_ name: String, strings: [String], scalar: Bool) throws(HDF5Error) {
        try HDF5Library.withLock { () throws(HDF5Error) in
            let location = attributePath(name)
            let object = try file.openObject(path)
            var dims = [hsize_t(strings.count)]
            guard let space = HDF5Handle(scalar ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &dims, nil), kind: .dataspace),
                  let type = HDF5Handle(H5Tcopy(ffh5_c_s1()), kind: .datatype),
                  H5Tset_size(type.raw, ffh5_t_variable()) >= 0,
                  H5Tset_cset(type.raw, H5T_CSET_UTF8) >= 0 else {
                throw file.error(.writeFailed, at: location)
            }
            let attribute = try createAttribute(name, on: object, type: type.raw, space: space)
            // Variable-length strings are written from an array of C string pointers.
            let cStrings = strings.map { strdup($0) }
            defer { for pointer in cStrings { free(pointer) } }
            var pointers = cStrings.map { UnsafePointer<CChar>($0) }
            guard H5Awrite(attribute.raw, type.raw, &pointers) >= 0 else { throw file.error(.writeFailed, at: location) }
        }
    }

    /// Creates attribute `name`, deleting an existing one first. Call holding the lock.
    private func createAttribute(
        _ name: String, on object: borrowing HDF5Handle, type: hid_t, space: borrowing HDF5Handle
    ) throws(HDF5Error) -> HDF5Handle {
        let location = attributePath(name)
        if H5Aexists(object.raw, name) > 0 {
            guard H5Adelete(object.raw, name) >= 0 else { throw file.error(.writeFailed, at: location) }
        }
        guard let attribute = HDF5Handle(
            H5Acreate2(object.raw, name, type, space.raw, ffh5_p_default(), ffh5_p_default()), kind: .attribute
        ) else {
            throw file.error(.writeFailed, at: location)
        }
        return attribute
    }
}

/// Collects names from libhdf5's iteration callback.
private final class HDF5NameList {
    var values: [String] = []
}
