import Foundation

/// Groups of images with identical bytes, written as `duplicates.csv`.
///
/// Exact duplicates inflate a nearest-neighbour evaluation (a photo finds its own copy), and a group whose
/// copies carry different labels — the same photo filed under two fruits — poisons training: both are
/// listed, and the second counted as label conflicts.
enum DuplicateGroups {
    /// The groups of two or more rows sharing a SHA-256, each sorted by path, groups by hash.
    static func groups(
        _ contents: [(sha256: String, path: String, label: String)]
    ) -> [[(sha256: String, path: String, label: String)]] {
        var rowsByHash: [String: [Int]] = [:]
        for (row, content) in contents.enumerated() { rowsByHash[content.sha256, default: []].append(row) }
        return rowsByHash.filter { $0.value.count > 1 }
            .sorted { $0.key < $1.key }
            .map { $0.value.map { contents[$0] }.sorted { Array($0.path.utf8).lexicographicallyPrecedes(Array($1.path.utf8)) } }
    }
}

extension ExtractionPipeline {
    /// Writes `duplicates.csv` (`sha256,path,label`, one line per file of every group; only the header when
    /// there are none) and counts groups, files and label conflicts.
    func writeDuplicates(
        _ contents: [(sha256: String, path: String, label: String)], to path: String
    ) throws(ExtractionError) -> ExtractionSummary.DuplicateCounts {
        let groups = DuplicateGroups.groups(contents)
        var text = "sha256,path,label\n"
        var counts = ExtractionSummary.DuplicateCounts(groups: groups.count, files: 0, labelConflicts: 0)
        for group in groups {
            counts.files += group.count
            if Set(group.map(\.label)).count > 1 { counts.labelConflicts += 1 }
            for row in group {
                text += row.sha256 + "," + CSVResultWriter.quoted(row.path) + "," + CSVResultWriter.quoted(row.label) + "\n"
            }
        }
        do throws(OutputError) {
            let file = try AtomicFile(destination: path)
            try file.write(text)
            try file.commit()
        } catch {
            throw .output(error)
        }
        return counts
    }
}
