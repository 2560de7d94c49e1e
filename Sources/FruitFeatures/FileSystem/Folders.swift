import SystemPackage

/// The names in the folder at `path` (not `.` and `..`), in the folder's order: the library's one listing.
///
/// A name that is not UTF-8 is decoded with replacement characters (the names the library looks for are its own).
/// - Throws: ``FileProblem`` naming `path` when it is missing, not a folder or unreadable.
func folderEntries(atPath path: String) throws(FileProblem) -> [String] {
    do {
        return try SystemCalls.folderEntryNames(path).map { String(decoding: $0, as: UTF8.self) }
    } catch {
        throw FileProblem(path, .system(error))
    }
}

/// Whether something exists at `path` (a file, a folder, anything the system can stat, following symbolic links).
func fileExists(atPath path: String) -> Bool {
    (try? SystemCalls.status(atPath: path, followingLinks: true)) != nil
}

/// Whether `path` names a folder (or a symbolic link to one).
func folderExists(atPath path: String) -> Bool {
    (try? SystemCalls.status(atPath: path, followingLinks: true))?.kind == .folder
}

/// Creates the folder at `path` and the folders above it that do not exist yet (as `mkdir -p`), and returns
/// those it created, outermost first, so that a caller can remove them again if what they were for fails.
///
/// - Throws: ``FileProblem`` naming the folder that could not be made: a symbolic link pointing nowhere is not a
///   folder to create through; on a failure the folders already made are removed.
@discardableResult
func makeFolders(atPath path: String) throws(FileProblem) -> [String] {
    var missing: [String] = []
    var folder = path
    while (try? SystemCalls.status(atPath: folder, followingLinks: true)) == nil {
        if let target = OutputTarget.danglingLinkTarget(folder) { throw FileProblem(folder, .danglingLink(target)) }
        missing.append(folder)
        let parent = OutputTarget.folderPart(of: folder)
        if parent == folder { break }
        folder = parent
    }
    var created: [String] = []
    for folder in missing.reversed() {
        do {
            try SystemCalls.makeFolder(folder)
            created.append(folder)
        } catch .fileExists where folderExists(atPath: folder) {
            // Made meanwhile by another writer, or the same folder spelled twice ("out/" after "out").
        } catch {
            for made in created.reversed() { SystemCalls.removeEmptyFolder(made) }
            throw FileProblem(folder, .system(error))
        }
    }
    return created
}

/// Removes `path` and, when it is a folder, everything in it, never following a symbolic link: a link is removed,
/// not what it points to, so a link inside the tree to a folder outside it leaves that folder untouched.
///
/// The walk works inside open folders (`openat`, `fstatat`, `unlinkat` with `O_NOFOLLOW`), so a folder swapped
/// for a link while it runs is refused rather than followed.
/// - Throws: ``FileProblem`` naming the first entry that could not be removed (what was removed before stays removed).
func removeTree(atPath path: String) throws(FileProblem) {
    let status: FileStatus
    do {
        status = try SystemCalls.status(atPath: path, followingLinks: false)
    } catch {
        throw FileProblem(path, .system(error))
    }
    guard status.kind == .folder else {
        do {
            try SystemCalls.remove(path, isFolder: false)
        } catch {
            throw FileProblem(path, .system(error))
        }
        return
    }
    let folder: FileDescriptor
    do {
        folder = try SystemCalls.openFolder(path, followingLinks: false)
    } catch {
        throw FileProblem(path, .system(error))
    }
    do {
        try removeContents(of: folder, path: path)
    } catch {
        try? folder.close()
        throw error
    }
    try? folder.close()
    do {
        try SystemCalls.remove(path, isFolder: true)
    } catch {
        throw FileProblem(path, .system(error))
    }
}

/// Removes everything in the open folder `folder` (named `path` in errors), depth first, without following links.
private func removeContents(of folder: FileDescriptor, path: String) throws(FileProblem) {
    let names: [[UInt8]]
    do {
        // Listed first, removed after: removing entries while readdir walks them is unspecified.
        names = try SystemCalls.folderEntryNames(of: folder)
    } catch {
        throw FileProblem(path, .system(error))
    }
    for name in names {
        let entryPath = path + "/" + String(decoding: name, as: UTF8.self)
        let isFolder: Bool
        do {
            isFolder = try SystemCalls.status(ofEntry: name, in: folder).kind == .folder
        } catch {
            throw FileProblem(entryPath, .system(error))
        }
        if isFolder {
            let child: FileDescriptor
            do {
                child = try SystemCalls.openFolder(named: name, in: folder)
            } catch {
                throw FileProblem(entryPath, .system(error))
            }
            defer { try? child.close() }
            try removeContents(of: child, path: entryPath)
        }
        do {
            try SystemCalls.removeEntry(name, in: folder, isFolder: isFolder)
        } catch {
            throw FileProblem(entryPath, .system(error))
        }
    }
}
