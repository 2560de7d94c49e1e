import Foundation

/// What the batches in flight of an extraction cost in memory, checked before a run touches anything.
///
/// A run keeps `jobs + 1` batches in flight (``ExtractionPipeline``), each with its input tensors
/// (`batchSize × inputCount` floats) and feature rows (`batchSize × featureCount` floats). A batch size
/// typed by mistake (50000, or `Int.max`) would otherwise die allocating, after the output folder was
/// prepared, or trap on overflow.
public struct BatchMemory: Sendable, Equatable {
    /// Bytes one image takes in a batch buffer.
    public let bytesPerImage: Int
    /// Batches in flight (`jobs + 1`).
    public let batchesInFlight: Int
    /// Images per batch.
    public let batchSize: Int

    /// The batches of `settings` for a network taking `inputCount` floats and giving `featureCount`.
    public init(settings: ExtractionSettings, inputCount: Int, featureCount: Int) {
        bytesPerImage = (inputCount + featureCount) * MemoryLayout<Float>.stride
        batchesInFlight = settings.jobs == .max ? .max : settings.jobs + 1
        batchSize = settings.batchSize
    }

    /// Bytes of all batches in flight, or nil when the product does not fit in an `Int`.
    public var totalBytes: Int? {
        let perBatch = batchSize.multipliedReportingOverflow(by: bytesPerImage)
        guard !perBatch.overflow else { return nil }
        let total = perBatch.partialValue.multipliedReportingOverflow(by: batchesInFlight)
        return total.overflow ? nil : total.partialValue
    }

    /// The largest batch size that fits `budget` with these batches in flight (at least 0).
    public func largestBatchSize(within budget: Int) -> Int {
        let perBatchBudget = budget / max(batchesInFlight, 1)
        return perBatchBudget / max(bytesPerImage, 1)
    }

    /// The memory batches may take: half of what the machine has, or of the control group's limit when
    /// that is lower (a container), so that the network's working memory, the PCA and the system fit beside.
    public static func budget() -> Int {
        var memory = Int(clamping: sysconf(Int32(_SC_PHYS_PAGES))).multipliedReportingOverflow(
            by: Int(clamping: sysconf(Int32(_SC_PAGESIZE))))
        if memory.overflow || memory.partialValue <= 0 { memory = (Int.max, false) }
        var limit = memory.partialValue
        for file in ["/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"] {
            if let text = try? String(contentsOfFile: file, encoding: .utf8),
               let value = Int(text.trimmingCharacters(in: .whitespacesAndNewlines)), value > 0 {
                limit = min(limit, value)
            }
        }
        return limit / 2
    }

    /// Throws when the batches in flight would not fit `budget`, naming what they need and the limit.
    public func check(budget: Int = BatchMemory.budget()) throws(ExtractionError) {
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
