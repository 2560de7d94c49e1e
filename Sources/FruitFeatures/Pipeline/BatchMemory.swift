import Foundation

/// What the batches in flight of an extraction cost in memory, checked before a run touches anything.
///
/// A run keeps `jobs + 1` batches in flight (``ExtractionPipeline``), each with its input tensors
/// (`batchSize × inputCount` floats) and feature rows (`batchSize × featureCount` floats). A batch size
/// typed by mistake (50000, or `Int.max`) would otherwise die allocating, after the output folder was
/// prepared, or trap on overflow.
struct BatchMemory: Sendable, Equatable {
    /// Bytes one image takes in a batch buffer.
    let bytesPerImage: Int
    /// Batches in flight (`jobs + 1`).
    let batchesInFlight: Int
    /// Images per batch.
    let batchSize: Int

    /// The batches of `settings` for a network taking `inputCount` floats and giving `featureCount`.
    init(settings: ExtractionSettings, inputCount: Int, featureCount: Int) {
        bytesPerImage = (inputCount + featureCount) * MemoryLayout<Float>.stride
        batchesInFlight = settings.jobs == .max ? .max : settings.jobs + 1
        batchSize = settings.batchSize
    }

    /// Bytes of all batches in flight, or nil when the product does not fit in an `Int`.
    var totalBytes: Int? {
        let perBatch = batchSize.multipliedReportingOverflow(by: bytesPerImage)
        guard !perBatch.overflow else { return nil }
        let total = perBatch.partialValue.multipliedReportingOverflow(by: batchesInFlight)
        return total.overflow ? nil : total.partialValue
    }

    /// The largest batch size that fits `budget` with these batches in flight (at least 0).
    func largestBatchSize(within budget: Int) -> Int {
        let perBatchBudget = budget / max(batchesInFlight, 1)
        return perBatchBudget / max(bytesPerImage, 1)
    }

    /// The memory batches may take: half of what the machine has, or of the control group's limit when
    /// that is lower (a container), so that the network's working memory, the PCA and the system fit beside.
    ///
    /// - Parameter limitFiles: the control group's limit files (v2, then v1); a test passes its own.
    static func budget(limitFiles: [String] = controlGroupLimitFiles) -> Int {
        var memory = Int(clamping: sysconf(Int32(_SC_PHYS_PAGES))).multipliedReportingOverflow(
            by: Int(clamping: sysconf(Int32(_SC_PAGESIZE))))
        if memory.overflow || memory.partialValue <= 0 { memory = (Int.max, false) }
        var limit = memory.partialValue
        for file in limitFiles {
            if case .bytes(let value) = MemoryLimit(contentsOfFile: file) { limit = min(limit, value) }
        }
        return limit / 2
    }

    /// Where cgroup v2 and v1 state the memory limit of this process's group.
    static let controlGroupLimitFiles = ["/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"]

    /// What a control group's memory limit file (`memory.max`, `memory.limit_in_bytes`) says.
    enum MemoryLimit: Sendable, Equatable {
        /// A limit, in bytes.
        case bytes(Int)
        /// `max`: no limit.
        case unlimited
        /// Missing, unreadable, not a regular file, longer than any number, or not a positive decimal number.
        case unknown

        /// The largest file read: a limit is at most 19 digits and a newline.
        static let fileLimit = 64

        /// Reads the file at `path` with the library's one reader, to its end: cgroupfs reports a size (4096 or 0)
        /// that is not its contents' (a FIFO or a device put there is refused without being opened).
        init(contentsOfFile path: String) {
            guard let bytes = try? readRegularFile(atPath: path, limit: Self.fileLimit, reportedSize: .ignored) else {
                self = .unknown
                return
            }
            self.init(text: bytes)
        }

        /// Parses the contents of a limit file: `max` or a positive decimal number, with surrounding white space.
        init(text bytes: [UInt8]) {
            let isSpace = { (byte: UInt8) in byte == 0x20 || (0x09...0x0D).contains(byte) }
            guard let first = bytes.firstIndex(where: { !isSpace($0) }), let last = bytes.lastIndex(where: { !isSpace($0) })
            else {
                self = .unknown
                return
            }
            let word = bytes[first...last]
            if word.elementsEqual("max".utf8) {
                self = .unlimited
            } else if word.allSatisfy({ (0x30...0x39).contains($0) }),
                      let value = Int(String(decoding: word, as: UTF8.self)), value > 0 {
                self = .bytes(value)
            } else {
                self = .unknown
            }
        }
    }

    /// Throws when the batches in flight would not fit `budget`, naming what they need and the limit.
    func check(budget: Int = BatchMemory.budget()) throws(ExtractionError) {
        if let total = totalBytes, total <= budget { return }
        let need = totalBytes.map { "\(Self.formatted($0))" } ?? "more memory than can be counted"
        let jobs = batchesInFlight == .max ? batchesInFlight : batchesInFlight - 1
        throw .invalidSettings(
            "batch size \(batchSize) with \(jobs) jobs needs \(need) for the \(batchesInFlight) batches in flight "
                + "(\(Self.formatted(bytesPerImage)) per image); the limit is \(Self.formatted(budget)) "
                + "(half of the memory): use a batch size of at most \(largestBatchSize(within: budget)) with \(jobs) jobs")
    }

    /// A byte count as people read it (`1.5 GB`, decimal units).
    static func formatted(_ bytes: Int) -> String {
        let units = ["bytes", "KB", "MB", "GB", "TB", "PB", "EB"]
        var value = Double(bytes)
        var unit = 0
        while value >= 1000, unit < units.count - 1 {
            value /= 1000
            unit += 1
        }
        return unit == 0 ? "\(bytes) bytes" : String(format: "%.1f %@", value, units[unit])
    }
}
