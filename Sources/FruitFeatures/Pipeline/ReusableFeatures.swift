/// The raw features of the run an update replaces, found by path and by content, so that `extract --update`
/// runs the network only for bytes it has not seen.
///
/// Read once from the earlier run's raw_features.parquet (1280 floats per image: about 5 KB, 100 MB for
/// 20 000 images). An image is reused without being read when its path, size and modification time are
/// those recorded (unless ``trustsStamps`` is off, as with `--checksum`); otherwise it is read and hashed and
/// reused when the same bytes were seen under any path. A run made before content identities were recorded
/// (no `sha256` column) has no stamps and no hashes: each of its images is read and hashed once and its
/// recorded features are kept for the same path — the best that can be known of such a run.
struct ReusableFeatures: Sendable {
    /// Floats per feature vector.
    let featureCount: Int
    /// Each earlier row's path.
    let paths: [String]
    /// Each earlier row's identity; nil for runs made before identities were recorded.
    let identities: [ImageIdentity?]
    // features: (rows, featureCount)
    let features: [Float]
    /// Whether an unchanged size and modification time mean unchanged bytes (off with `--checksum`).
    let trustsStamps: Bool
    private let rowByPath: [String: Int]
    private let rowByContent: [String: Int]

    /// Reads the rows of `rawFeatures` (an earlier run's raw_features.parquet).
    init(rawFeatures path: String, featureCount: Int, trustsStamps: Bool) throws(ParquetReadError) {
        let reader = try ParquetFileReader(path: path)
        let paths = try reader.strings("path")
        let lists = try reader.floatLists("features")
        var identities = [ImageIdentity?](repeating: nil, count: reader.rowCount)
        if reader.hasColumn("sha256") {
            let hashes = try reader.strings("sha256")
            let sizes = reader.hasColumn("size") ? try reader.int64s("size") : []
            let times = reader.hasColumn("mtime_ns") ? try reader.int64s("mtime_ns") : []
            for row in 0..<reader.rowCount {
                guard let hash = hashes[row] else { continue }
                identities[row] = ImageIdentity(
                    sha256: hash, size: row < sizes.count ? sizes[row] ?? -1 : -1,
                    modificationTimeNanoseconds: row < times.count ? times[row] ?? -1 : -1)
            }
        }
        var keptPaths: [String] = []
        var keptIdentities: [ImageIdentity?] = []
        var features: [Float] = []
        features.reserveCapacity(reader.rowCount * featureCount)
        var rowByPath: [String: Int] = [:]
        var rowByContent: [String: Int] = [:]
        for row in 0..<reader.rowCount {
            // Rows without features (null lists) have nothing to reuse.
            guard let path = paths[row], let values = lists[row] else { continue }
            guard values.count == featureCount else {
                throw ParquetReadError(
                    path: reader.path, reason: "row \(row) has \(values.count) features; this model makes \(featureCount)")
            }
            let kept = keptPaths.count
            keptPaths.append(path)
            keptIdentities.append(identities[row])
            features.append(contentsOf: values)
            rowByPath[path] = kept
            if let hash = identities[row]?.sha256, rowByContent[hash] == nil { rowByContent[hash] = kept }
        }
        self.featureCount = featureCount
        self.paths = keptPaths
        self.identities = keptIdentities
        self.features = features
        self.trustsStamps = trustsStamps
        self.rowByPath = rowByPath
        self.rowByContent = rowByContent
    }

    /// The earlier row of `path` when its recorded size and modification time equal `stamp`, so the file
    /// need not be read.
    func unchangedRow(path: String, stamp: FileStamp?) -> Int? {
        guard trustsStamps, let stamp, let row = rowByPath[path], let identity = identities[row] else { return nil }
        return identity.size == stamp.size && identity.modificationTimeNanoseconds == stamp.modificationTimeNanoseconds
            ? row : nil
    }

    /// An earlier row with these bytes (under any path); for a run without identities, the row of the same path.
    func row(forContent sha256: String, path: String) -> Int? {
        if let row = rowByContent[sha256] { return row }
        if let row = rowByPath[path], identities[row] == nil { return row }
        return nil
    }

    /// Whether the earlier run had an image at `path`, and its hash if recorded.
    func earlier(path: String) -> (found: Bool, sha256: String?) {
        guard let row = rowByPath[path] else { return (false, nil) }
        return (true, identities[row]?.sha256)
    }

    /// Whether the earlier run had these bytes.
    func hasContent(_ sha256: String) -> Bool { rowByContent[sha256] != nil }

    /// Appends the features of an earlier row.
    func appendFeatures(ofRow row: Int, to output: inout [Float]) {
        output.append(contentsOf: features[(row * featureCount)..<((row + 1) * featureCount)])
    }
}
