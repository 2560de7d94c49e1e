import Foundation
import SystemPackage

/// How an output folder holds a run so that it can be replaced as a whole: generation folders plus a pointer
/// written last.
///
///     OUT/.fruitfeatures-run            marker: this folder holds runs of FruitFeatures
///     OUT/.generations/<id>/            one complete run: summary.json, pca.h5, features.*, evaluation.json…
///     OUT/current -> .generations/<id>  the pointer, replaced by rename(2) (atomic, also on a mount point)
///     OUT/features.parquet -> current/features.parquet   stable names for pandas, Spark, DuckDB…
///
/// A new run is written into a fresh generation beside the current one and published by ``publish(_:)``, which
/// swaps `current` in one rename: a reader that resolves `current` once (``ExtractionRun``) sees either the old run
/// or the new one, never a mix. Everything stays inside OUT, so the swap works when OUT is itself a mount point.
/// Derived files (`evaluation.json`, `report.html`) are written into the generation and go with it.
///
/// A folder written before generations existed holds the files directly; it reads as its own generation, and its
/// first replacement turns it into this layout.
package struct RunGenerations: Sendable {
    /// The output folder.
    package let directory: String

    /// The marker file saying that the folder holds runs of ours.
    package static let markerName = ".fruitfeatures-run"
    /// The folder of generations.
    package static let generationsName = ".generations"
    /// The pointer to the current generation.
    package static let currentName = "current"
    /// The files of a generation that get a stable top-level name.
    package static let publishedNames = ExtractionOutput.all + [Evaluation.fileName, HeldOutEvaluation.fileName, ReportPage.fileName]

    package init(directory: String) {
        self.directory = directory
    }

    private func path(_ name: String) -> String { directory + "/" + name }

    /// The current generation's folder: where `current` points, or the folder itself for a run written before
    /// generations existed (or no run at all).
    package var currentGeneration: String {
        guard let target = currentTarget else { return directory }
        return path(target)
    }

    /// `current`'s target (`.generations/<id>`), when it is a link of ours.
    private var currentTarget: String? {
        guard var target = try? SystemCalls.linkTarget(path(Self.currentName)) else { return nil }
        // A link made by hand may end in slashes; the generation's name is the part before them.
        while target.hasSuffix("/") { target.removeLast() }
        guard target.hasPrefix(Self.generationsName + "/"), !target.contains("/../"), !target.hasSuffix("/..")
        else { return nil }
        return target
    }

    /// Whether the folder holds the marker.
    package var hasMarker: Bool {
        (try? SystemCalls.status(atPath: path(Self.markerName), followingLinks: false))?.kind == .regular
    }

    /// The entries of the folder that FruitFeatures did not write, for a folder without the marker (a run made
    /// before the marker existed consists only of names the tool writes).
    package func foreignEntries() throws -> [String] {
        let ours = Set(Self.publishedNames + [ExtractionOutput.checkpoint, Self.markerName, Self.generationsName, Self.currentName])
        let temporaryPrefixes = (Self.publishedNames + [Self.markerName]).map { "." + $0 + ".partial-" }
        return try folderEntries(atPath: directory).filter { name in
            !ours.contains(name) && !temporaryPrefixes.contains(where: name.hasPrefix) && !Self.isTemporaryLink(name)
        }.sorted()
    }

    /// Creates a new, empty generation folder (a unique name) for a run to be written into.
    package func makeGeneration() throws(OutputError) -> String {
        let generations = path(Self.generationsName)
        do {
            try SystemCalls.makeFolder(generations)
        } catch .fileExists {
            // Made by an earlier run.
        } catch {
            throw OutputError(.create, path: generations, reason: error.description)
        }
        // Time first, so that names sort by age; a random tail keeps concurrent writers apart.
        let stamp = String(Int64(Date().timeIntervalSince1970 * 1000), radix: 10)
        for _ in 0..<8 {
            let name = "\(stamp)-\(String(UInt32.random(in: 0...UInt32.max), radix: 16))"
            let generation = generations + "/" + name
            do {
                try SystemCalls.makeFolder(generation)
                return generation
            } catch .fileExists {
                continue
            } catch {
                throw OutputError(.create, path: generation, reason: error.description)
            }
        }
        throw OutputError(.create, path: generations, reason: "no unique generation name")
    }

    /// Makes `generation` (a folder made by ``makeGeneration()`` and fully written) the current run, atomically,
    /// then removes every other generation and the top-level files of a run written before generations existed.
    ///
    /// Order: the generation is synced; the marker is written; `current` is replaced by one rename (the commit
    /// point: a crash before it leaves the old run, after it the new one); the stable top-level links are made;
    /// the folder is synced; the old generations are removed.
    package func publish(_ generation: String) throws(OutputError) {
        let name = OutputTarget.namePart(of: generation)
        let target = Self.generationsName + "/" + name
        guard path(target) == generation else {
            throw OutputError(.rename, path: generation, reason: "not a generation of \(directory)")
        }
        syncFolder(generation)
        if !hasMarker {
            let marker = try AtomicFile(destination: path(Self.markerName))
            try marker.write("FruitFeatures run folder: do not edit (see Docs/model.md)\n")
            try marker.commit()
        }
        try replaceLink(Self.currentName, target: target)
        let files = Set((try? folderEntries(atPath: generation)) ?? [])
        for published in Self.publishedNames {
            if files.contains(published) {
                try replaceLink(published, target: Self.currentName + "/" + published)
            } else {
                // A file of the old run the new one does not have (a format not written this time, an evaluation
                // of the old features): it must not outlive its run.
                SystemCalls.removeFile(path(published))
            }
        }
        syncFolder(directory)
        removeGenerations(except: name)
    }

    /// Gives a derived file just written into the current generation (evaluation.json, report.html) its stable
    /// top-level name, when the folder uses generations.
    package func linkPublishedFile(_ name: String) throws(OutputError) {
        guard currentTarget != nil else { return }
        if (try? SystemCalls.status(atPath: path(name), followingLinks: false))?.kind == .symbolicLink { return }
        try replaceLink(name, target: Self.currentName + "/" + name)
    }

    /// Removes every generation but `kept` (unfinished ones left by crashed or failed runs included).
    package func removeGenerations(except kept: String?) {
        let generations = path(Self.generationsName)
        for name in (try? folderEntries(atPath: generations)) ?? [] where name != kept {
            try? removeTree(atPath: generations + "/" + name)
        }
    }

    /// Whether `name` is the temporary link of an unfinished ``replaceLink(_:target:)``.
    package static func isTemporaryLink(_ name: String) -> Bool {
        name.hasPrefix(".") && name.contains(".link-")
    }

    /// Points `name` at `target` through a temporary link renamed over it (atomic for readers).
    private func replaceLink(_ name: String, target: String) throws(OutputError) {
        let temporary = path(".\(name).link-\(UInt32.random(in: 0...UInt32.max))")
        do {
            try SystemCalls.makeLink(at: temporary, target: target)
        } catch {
            throw OutputError(.create, path: path(name), reason: "cannot create a link: \(error.description)")
        }
        do {
            try SystemCalls.rename(temporary, to: path(name))
        } catch {
            SystemCalls.removeFile(temporary)
            throw OutputError(.rename, path: path(name), reason: error.description)
        }
    }

    private func syncFolder(_ folder: String) {
        try? SystemCalls.syncFolder(folder)
    }
}
