import SystemPackage

/// Which command is writing an output file, for the rule that a run's files are written only by their owner.
enum OutputOwner: Sendable, Equatable {
    /// Any writer that owns none of a run's files (transform, a library caller, the C ABI).
    case anyWriter
    /// `fruitfeatures evaluate`, which owns `evaluation.json`.
    case evaluation
    /// `fruitfeatures report`, which owns `report.html`.
    case report
}

/// Where an output file may be written: the library's one rule for output paths.
///
/// - An output is written only where nothing exists yet or a regular file exists; it is never written over a
///   folder, a character or block device, a FIFO or a socket.
/// - A symbolic link is followed (to the end of a chain of links) and the rule applies to its target: the
///   target is replaced, the link stays.
/// - In a folder that holds a finished run (it has `summary.json`), the run's own files are written only by the
///   command that owns them: `extract` (summary.json, the feature files, pca.h5, errors.csv, the checkpoint),
///   `evaluate` (evaluation.json) and `report` (report.html). A link into a run (the stable names of a folder
///   with generations point into `current/`) is followed first, so the rule applies to the run's real file.
///   An extraction writes its files into a fresh generation, which holds no finished run until it is published.
enum OutputTarget {
    /// The run's files and the command that writes each.
    static let runFileOwners: [String: String] = {
        var owners: [String: String] = [:]
        for name in ExtractionOutput.all + [ExtractionOutput.checkpoint] { owners[name] = "fruitfeatures extract" }
        owners[Evaluation.fileName] = "fruitfeatures evaluate"
        owners[HeldOutEvaluation.fileName] = "fruitfeatures evaluate"
        owners[ReportPage.fileName] = "fruitfeatures report"
        return owners
    }()

    /// The path the bytes of an output named `path` go to: `path`, or the end of its chain of symbolic links.
    ///
    /// - Throws: ``FileProblem`` when the rule refuses the path, or when its folder does not exist.
    static func resolve(_ path: String, owner: OutputOwner) throws(FileProblem) -> String {
        var current = path
        // Linux follows at most 40 links in a path; a longer chain is as good as a loop.
        for _ in 0..<40 {
            let status: FileStatus
            do {
                status = try SystemCalls.status(atPath: current, followingLinks: false)
            } catch .noSuchFileOrDirectory {
                let folder = folderPart(of: current)
                guard (try? SystemCalls.status(atPath: folder, followingLinks: true))?.kind == .folder else {
                    throw FileProblem(path, .missingFolder(folder))
                }
                try checkOwnership(current, requested: path, owner: owner)
                return current
            } catch {
                throw FileProblem(path, .system(error))
            }
            switch status.kind {
            case .regular:
                try checkOwnership(current, requested: path, owner: owner)
                return current
            case .symbolicLink:
                let target: String
                do {
                    target = try SystemCalls.linkTarget(current)
                } catch {
                    throw FileProblem(path, .system(error))
                }
                current = target.hasPrefix("/") ? target : folderPart(of: current) + "/" + target
            default:
                throw FileProblem(path, .notRegular(status.kind))
            }
        }
        throw FileProblem(path, .linkLoop)
    }

    /// Refuses a run's file unless `owner` is the command that writes it.
    private static func checkOwnership(_ target: String, requested: String, owner: OutputOwner) throws(FileProblem) {
        let name = namePart(of: target)
        guard let writer = runFileOwners[name] else { return }
        let allowed = switch owner {
        case .anyWriter: false
        case .evaluation: name == Evaluation.fileName || name == HeldOutEvaluation.fileName
        case .report: name == ReportPage.fileName
        }
        if allowed { return }
        let folder = folderPart(of: target)
        if holdsRun(folder) { throw FileProblem(requested, .belongsToRun(folder: folder, owner: writer)) }
    }

    /// Whether `folder` holds a finished run: its `summary.json` (written last; in a folder with generations, the
    /// link to the current one's) or the marker of a folder of runs (``RunGenerations``) says so. A generation being
    /// written has neither.
    static func holdsRun(_ folder: String) -> Bool {
        [ExtractionOutput.summary, RunGenerations.markerName].contains { name in
            (try? SystemCalls.status(atPath: folder + "/" + name, followingLinks: false)) != nil
        }
    }

    /// The folder part of a path: "." for a bare name, "/" for a name in the root.
    static func folderPart(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    /// The last component of a path.
    static func namePart(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return path }
        return String(path[path.index(after: slash)...])
    }

    /// The target of `path` when it is a symbolic link that points nowhere; nil otherwise.
    static func danglingLinkTarget(_ path: String) -> String? {
        guard (try? SystemCalls.status(atPath: path, followingLinks: false))?.kind == .symbolicLink,
              (try? SystemCalls.status(atPath: path, followingLinks: true)) == nil else { return nil }
        return (try? SystemCalls.linkTarget(path)) ?? "?"
    }

    /// Why `path` cannot be made a folder because it is a symbolic link that points nowhere; nil otherwise.
    static func danglingLinkProblem(_ path: String) -> String? {
        danglingLinkTarget(path).map { FileProblem(path, .danglingLink($0)).reasonText }
    }
}
