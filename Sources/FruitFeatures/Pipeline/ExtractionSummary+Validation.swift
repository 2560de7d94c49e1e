import Foundation

/// A field of a JSON file of ours that is out of range, named as the file spells it (`images.processed`,
/// `pca.explained_variance_ratio[3]`).
package struct InvalidField: Error, Equatable, Sendable, CustomStringConvertible {
    /// The field's key path, snake_case as in the file.
    package var field: String
    /// What is wrong with its value.
    package var reason: String

    package var description: String { "field \(field): \(reason)" }
}

/// The bounds a summary.json must keep. The file is ours, but anyone can edit it, and its numbers size
/// arrays, index tables and go into arithmetic: each is checked before use.
package enum SummaryLimits {
    /// The largest image count (and any other count) accepted: far above any real run, and small enough that
    /// sums of a few counts never overflow and every count is exact as a `Double`.
    package static let count = 1 << 48
    /// The longest path (input folder, weights file), in UTF-8 bytes: Linux's PATH_MAX.
    package static let pathBytes = 4096
    /// The longest name (architecture, preprocessing, kernel level, version, compression), in UTF-8 bytes.
    package static let nameBytes = 128
    /// The most warnings, and the longest one in UTF-8 bytes.
    package static let warnings = 1000
    package static let warningBytes = 16 << 10
    /// The widest published width multiplier is 1.4; anything above this is not a network we build.
    package static let alpha = 4.0
    /// The network input sizes ``FeatureModelLoader`` accepts.
    package static let inputSizes = 32...2048
    /// The slack allowed on shares that are sums of rounded quotients (the total of the kept ratios).
    package static let shareTolerance = 1e-6
}

extension ExtractionSummary {
    /// Checks every field against what an extraction can write: counts non-negative and bounded, the PCA's
    /// component count within the feature count and its arrays one value per component, shares finite and in
    /// [0, 1], times finite and non-negative, strings of bounded length, names from the known sets.
    ///
    /// - Throws: ``InvalidField`` naming the first field out of range, as the file spells it.
    package func validate() throws(InvalidField) {
        func fail(_ field: String, _ reason: String) -> InvalidField { InvalidField(field: field, reason: reason) }
        func count(_ value: Int, _ field: String) throws(InvalidField) {
            guard value >= 0 else { throw fail(field, "\(value) is negative") }
            guard value <= SummaryLimits.count else { throw fail(field, "\(value) is more than \(SummaryLimits.count)") }
        }
        func positive(_ value: Int, _ field: String) throws(InvalidField) {
            try count(value, field)
            guard value >= 1 else { throw fail(field, "\(value) is less than 1") }
        }
        func seconds(_ value: Double, _ field: String) throws(InvalidField) {
            guard value.isFinite, value >= 0 else { throw fail(field, "\(value) is not a finite number ≥ 0") }
        }
        func share(_ value: Double, _ field: String, slack: Double = 0) throws(InvalidField) {
            guard value.isFinite, value >= 0, value <= 1 + slack else { throw fail(field, "\(value) is not a share in [0, 1]") }
        }
        func text(_ value: String, _ field: String, limit: Int, empty: Bool = false) throws(InvalidField) {
            guard empty || !value.isEmpty else { throw fail(field, "is empty") }
            guard value.utf8.count <= limit else { throw fail(field, "\(value.utf8.count) bytes long, more than \(limit)") }
            guard !value.utf8.contains(0) else { throw fail(field, "contains a NUL character") }
        }
        func alpha(_ value: Double?, _ field: String) throws(InvalidField) {
            guard let value else { return }
            guard value.isFinite, value > 0, value <= SummaryLimits.alpha else {
                throw fail(field, "\(value) is not a width multiplier in (0, \(SummaryLimits.alpha)]")
            }
        }
        func digest(_ value: String, _ field: String) throws(InvalidField) {
            guard value.utf8.count == 64, value.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }) else {
                throw fail(field, "is not a SHA-256 (64 lowercase hexadecimal digits)")
            }
        }

        try text(version, "version", limit: SummaryLimits.nameBytes)
        try text(input, "input", limit: SummaryLimits.pathBytes)
        if let inputAbsolute { try text(inputAbsolute, "input_absolute", limit: SummaryLimits.pathBytes) }
        try text(weights.path, "weights.path", limit: SummaryLimits.pathBytes)
        try digest(weights.sha256, "weights.sha256")
        try alpha(weights.alpha, "weights.alpha")
        if let model = featureModel {
            try text(model.architecture, "feature_model.architecture", limit: SummaryLimits.nameBytes)
            try alpha(model.alpha, "feature_model.alpha")
            guard SummaryLimits.inputSizes.contains(model.inputSize) else {
                throw fail("feature_model.input_size", "\(model.inputSize) is not in \(SummaryLimits.inputSizes.lowerBound)…\(SummaryLimits.inputSizes.upperBound)")
            }
            try text(model.preprocessing, "feature_model.preprocessing", limit: SummaryLimits.nameBytes)
            guard (1...PCAAccumulator.maximumDimension).contains(model.featureCount) else {
                throw fail("feature_model.feature_count", "\(model.featureCount) is not in 1…\(PCAAccumulator.maximumDimension)")
            }
            try digest(model.weightsSHA256, "feature_model.weights_sha256")
            guard model.weightsSHA256 == weights.sha256 else {
                throw fail("feature_model.weights_sha256", "differs from weights.sha256")
            }
            try text(model.kernelLevel, "feature_model.kernel_level", limit: SummaryLimits.nameBytes)
        }
        if let kernelLevel { try text(kernelLevel, "kernel_level", limit: SummaryLimits.nameBytes) }

        try count(images.found, "images.found")
        try count(images.processed, "images.processed")
        try count(images.failed, "images.failed")
        if let resumed = images.resumed { try count(resumed, "images.resumed") }
        guard images.processed >= 1 else { throw fail("images.processed", "0: a finished run has at least one image") }
        guard images.processed <= images.found else {
            throw fail("images.processed", "\(images.processed) is more than images.found (\(images.found))")
        }
        guard imagesPerSecond.isFinite, imagesPerSecond >= 0 else {
            throw fail("images_per_second", "\(imagesPerSecond) is not a finite number ≥ 0")
        }
        try seconds(self.seconds.total, "seconds.total")
        try seconds(self.seconds.read, "seconds.read")
        try seconds(self.seconds.preprocess, "seconds.preprocess")
        try seconds(self.seconds.network, "seconds.network")
        try seconds(self.seconds.pcaFit, "seconds.pca_fit")
        try seconds(self.seconds.projection, "seconds.projection")

        // The feature count bounds the component count (for a run that predates feature_model, what the
        // recorded alpha gives, now known to be in range).
        let featureCount = featureModelIdentity.featureCount
        guard (1...featureCount).contains(pca.components) else {
            throw fail("pca.components", "\(pca.components) is not in 1…\(featureCount) (the feature count)")
        }
        guard pca.explainedVariance.count == pca.components else {
            throw fail("pca.explained_variance", "\(pca.explainedVariance.count) values for \(pca.components) components")
        }
        guard pca.explainedVarianceRatio.count == pca.components else {
            throw fail("pca.explained_variance_ratio", "\(pca.explainedVarianceRatio.count) values for \(pca.components) components")
        }
        for (index, value) in pca.explainedVariance.enumerated() {
            try seconds(value, "pca.explained_variance[\(index)]")
        }
        var total = 0.0
        for (index, value) in pca.explainedVarianceRatio.enumerated() {
            try share(value, "pca.explained_variance_ratio[\(index)]", slack: SummaryLimits.shareTolerance)
            total += value
        }
        guard total <= 1 + SummaryLimits.shareTolerance else {
            throw fail("pca.explained_variance_ratio", "the shares add up to \(total), more than 1")
        }
        try share(pca.explainedVarianceRatioTotal, "pca.explained_variance_ratio_total", slack: SummaryLimits.shareTolerance)
        guard abs(pca.explainedVarianceRatioTotal - total) <= SummaryLimits.shareTolerance else {
            throw fail("pca.explained_variance_ratio_total", "\(pca.explainedVarianceRatioTotal) is not the sum of the ratios (\(total))")
        }

        try text(settings.glob, "settings.glob", limit: GlobPattern.maximumLength * 4)
        try positive(settings.jobs, "settings.jobs")
        try positive(settings.batchSize, "settings.batch_size")
        guard !settings.formats.isEmpty, settings.formats.count <= FeatureFileFormat.allCases.count else {
            throw fail("settings.formats", "\(settings.formats.count) formats (1…\(FeatureFileFormat.allCases.count) expected)")
        }
        for (index, format) in settings.formats.enumerated() where FeatureFileFormat(rawValue: format) == nil {
            throw fail("settings.formats[\(index)]", "not a feature file format (\(FeatureFileFormat.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        guard ParquetCompression(rawValue: settings.compression) != nil else {
            throw fail("settings.compression", "not a Parquet compression (\(ParquetCompression.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        if let components = settings.components, !(1...featureCount).contains(components) {
            throw fail("settings.components", "\(components) is not in 1…\(featureCount) (the feature count)")
        }
        if let variance = settings.variance, !(variance.isFinite && variance > 0 && variance <= 1) {
            throw fail("settings.variance", "\(variance) is not a share in (0, 1]")
        }

        guard warnings.count <= SummaryLimits.warnings else {
            throw fail("warnings", "\(warnings.count) entries, more than \(SummaryLimits.warnings)")
        }
        for (index, warning) in warnings.enumerated() {
            try text(warning, "warnings[\(index)]", limit: SummaryLimits.warningBytes, empty: true)
        }

        if let duplicates {
            try count(duplicates.groups, "duplicates.groups")
            try count(duplicates.files, "duplicates.files")
            try count(duplicates.labelConflicts, "duplicates.label_conflicts")
            guard duplicates.files >= 2 * duplicates.groups else {
                throw fail("duplicates.files", "\(duplicates.files) files cannot make \(duplicates.groups) groups of two or more")
            }
            guard duplicates.labelConflicts <= duplicates.groups else {
                throw fail("duplicates.label_conflicts", "\(duplicates.labelConflicts) is more than duplicates.groups (\(duplicates.groups))")
            }
        }
        if let update {
            for (value, field) in [(update.reused, "reused"), (update.new, "new"), (update.changed, "changed"),
                                   (update.moved, "moved"), (update.removed, "removed"), (update.failed, "failed"),
                                   (update.networkPasses, "network_passes")] {
                try count(value, "update." + field)
            }
            guard update.pca == "refit" || update.pca == "kept" else { throw fail("update.pca", "neither refit nor kept") }
        }
    }
}

extension DecodingError {
    /// What is wrong and where: the key path spelled as in a snake_case JSON file (`pca.components`), or as
    /// the coding keys are when `snakeCase` is false.
    package func fieldDescription(snakeCase: Bool = true) -> String {
        func path(_ keys: [any CodingKey]) -> String {
            var text = ""
            for key in keys {
                if let index = key.intValue {
                    text += "[\(index)]"
                } else {
                    if !text.isEmpty { text += "." }
                    text += snakeCase ? Self.snakeCase(key.stringValue) : key.stringValue
                }
            }
            return text
        }
        switch self {
        case .keyNotFound(let key, let context):
            return "field \(path(context.codingPath + [key])) is missing"
        case .valueNotFound(_, let context):
            return "field \(path(context.codingPath)) is null"
        case .typeMismatch(_, let context), .dataCorrupted(let context):
            let field = path(context.codingPath)
            return (field.isEmpty ? "" : "field \(field): ") + context.debugDescription
        @unknown default:
            return "\(self)"
        }
    }

    /// `explainedVarianceRatio` → `explained_variance_ratio` (keys already snake_case are kept).
    static func snakeCase(_ key: String) -> String {
        var result = ""
        for character in key {
            if character.isUppercase {
                if !result.isEmpty { result += "_" }
                result += character.lowercased()
            } else {
                result.append(character)
            }
        }
        return result
    }
}

/// Which integer field of a JSON file holds a number that is not an integer in `Int`'s range, or nil.
///
/// Foundation's decoder reports such a number (`1e30`, `1.5`, 2⁶⁴ in an integer field) as "not valid JSON",
/// with no key: this names the field, from the list of the fields that are integers. A pattern step `[*]`
/// stands for every element of an array (`report.confusion_matrix[*][*]`).
package func misfitIntegerField(in data: Data, among patterns: [String]) -> String? {
    guard let root = try? JSONSerialization.jsonObject(with: data) else { return nil }
    func search(_ value: Any, _ steps: ArraySlice<Substring>, _ path: String) -> String? {
        guard let step = steps.first else {
            guard !(value is NSNull), !(value is String), !(value is [Any]), !(value is [String: Any]),
                  value as? Int == nil else { return nil }
            return "field \(path): \(value) is not an integer within ±\(Int.max)"
        }
        if step == "[*]" {
            guard let array = value as? [Any] else { return nil }
            for (index, element) in array.enumerated() {
                if let found = search(element, steps.dropFirst(), path + "[\(index)]") { return found }
            }
            return nil
        }
        guard let child = (value as? [String: Any])?[String(step)] else { return nil }
        return search(child, steps.dropFirst(), path.isEmpty ? String(step) : path + "." + step)
    }
    for pattern in patterns {
        // "a.b[*].c" → a, b, [*], c
        let steps = pattern.split(separator: ".").flatMap { part -> [Substring] in
            let name = part.prefix { $0 != "[" }
            let wildcards = (part.count - name.count) / 3
            return [name] + [Substring](repeating: "[*]", count: wildcards)
        }
        if let found = search(root, steps[...], "") { return found }
    }
    return nil
}

extension ExtractionSummary {
    /// The integer fields of summary.json, for ``misfitIntegerField(in:among:)``.
    package static let integerFields = [
        "images.found", "images.processed", "images.failed", "images.resumed", "pca.components", "settings.jobs",
        "settings.batch_size", "settings.components", "feature_model.input_size", "feature_model.feature_count",
        "duplicates.groups", "duplicates.files", "duplicates.label_conflicts", "update.reused", "update.new",
        "update.changed", "update.moved", "update.removed", "update.failed", "update.network_passes",
    ]
}
