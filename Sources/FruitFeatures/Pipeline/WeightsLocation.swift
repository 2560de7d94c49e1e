import Foundation
import SystemPackage
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Where MobileNetV2 weights come from: an explicit file, the environment, or the Keras cache.
public enum WeightsLocation {
    /// The file name Keras gives the ImageNet weights of MobileNetV2 (alpha 1.0, 224, with top).
    public static let kerasFileName = "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224.h5"

    /// Where Keras downloads that file from.
    public static let kerasURL = URL(
        string: "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v2/" + kerasFileName)!

    /// The environment variable that names a weights file.
    public static let environmentVariable = "FRUITFEATURES_WEIGHTS"

    /// The Keras cache path of the ImageNet weights: `$KERAS_HOME/models/…` or `~/.keras/models/…`.
    public static func kerasCachePath(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        let kerasHome = environment["KERAS_HOME"]
            ?? ((environment["HOME"] ?? NSHomeDirectory()) + "/.keras")
        return kerasHome + "/models/" + kerasFileName
    }

    /// Resolves the weights file of a new run: `explicit`, else `$FRUITFEATURES_WEIGHTS`, else the Keras cache.
    /// - Throws: ``WeightsLocationError`` saying where each place looked and how to get the file.
    public static func resolve(
        explicit: String?, environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(WeightsLocationError) -> String {
        try resolve(explicit: explicit, recorded: nil, expectedSHA256: nil, environment: environment).path
    }

    /// The one weights rule, for every command and the C ABI.
    ///
    /// An `explicit` file is the only candidate and must have `expectedSHA256` (when one is given). Otherwise the
    /// candidates are, in order, the `recorded` path (summary.json's), `$FRUITFEATURES_WEIGHTS` and the Keras
    /// cache; a candidate that is missing, not a regular file, unreadable or of another SHA-256 is skipped, and when
    /// none is left the error names every place tried and why each was refused.
    ///
    /// - Parameter expectedSHA256: the SHA-256 of the run's weights; nil or empty for a new run (nothing to match).
    /// - Returns: the path, and its SHA-256 when it was computed (always when `expectedSHA256` is given).
    static func resolve(
        explicit: String?, recorded: String?, expectedSHA256: String?,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(WeightsLocationError) -> (path: String, sha256: String?) {
        let expected = expectedSHA256.flatMap { $0.isEmpty ? nil : $0 }
        /// Why `path` cannot be used, or nil (with its digest when one is expected).
        func refusal(_ path: String) -> (reason: String?, sha256: String?) {
            do throws(Errno) {
                let found = try SystemCalls.status(atPath: path, followingLinks: true)
                guard found.kind == .regular else { return (FileProblem(path, .notRegular(found.kind)).reasonText, nil) }
                try SystemCalls.checkAccess(path, for: .read)
            } catch {
                return (error.description, nil)
            }
            guard let expected else { return (nil, nil) }
            let digest: String
            do throws(WeightsError) {
                digest = try Self.digest(ofFileAt: path)
            } catch {
                return (error.description, nil)
            }
            guard digest == expected else {
                return ("its SHA-256 \(digest.prefix(12))… is not the run's \(expected.prefix(12))…", digest)
            }
            return (nil, digest)
        }

        if let explicit {
            let (reason, digest) = refusal(explicit)
            if let reason {
                let what = digest != nil
                    ? "these weights are not those the PCA was fitted with (\(reason))"
                    : "cannot use the weights file: \(reason)"
                throw WeightsLocationError(kind: .refused, path: explicit, message: "\(explicit): \(what)")
            }
            return (explicit, digest)
        }
        var candidates: [(place: String, path: String)] = []
        if let recorded, !recorded.isEmpty { candidates.append(("summary.json's path", recorded)) }
        if let fromEnvironment = environment[environmentVariable], !fromEnvironment.isEmpty {
            candidates.append(("$\(environmentVariable)", fromEnvironment))
        }
        let cache = kerasCachePath(environment: environment)
        candidates.append(("the Keras cache", cache))
        var refused: [String] = []
        for candidate in candidates {
            let (reason, digest) = refusal(candidate.path)
            guard let reason else { return (candidate.path, digest) }
            refused.append("\(candidate.place) \(candidate.path): \(reason)")
        }
        let wanted = expected.map { "no weights file with the run's SHA-256 \($0.prefix(12))… found" }
            ?? "no MobileNetV2 weights found"
        let advice = expected != nil
            ? "pass the file the run was made with as --weights FILE, or set \(environmentVariable)"
            : "pass --weights FILE, set \(environmentVariable), or run `fruitfeatures weights download` to fetch \(kerasURL.absoluteString) into \(cache)"
        throw WeightsLocationError(kind: .notFound, message: "\(wanted) (tried \(refused.joined(separator: "; "))): \(advice)")
    }

    /// The SHA-256 of a weights file, hexadecimal.
    static func digest(ofFileAt path: String) throws(WeightsError) -> String {
        do {
            return try sha256HexDigest(ofFileAt: path)
        } catch {
            throw WeightsError(file: path, reason: .unreadable(error.reasonText))
        }
    }
}

/// The weights file could not be found or fetched.
public struct WeightsLocationError: Error, CustomStringConvertible, Sendable {
    /// The kind of failure, for a caller that branches on it.
    public enum Kind: Sendable, Equatable {
        /// No candidate place holds a usable weights file (every place tried is named in ``message``).
        case notFound
        /// The file given explicitly is not the run's (another SHA-256) or cannot be used.
        case refused
        /// A download failed or did not return an HDF5 file.
        case downloadFailed
        /// The downloaded file could not be written into place.
        case unwritable
    }

    /// The kind of failure.
    public var kind: Kind
    /// The weights file concerned (the explicit file, the download's destination), or nil when several places were tried.
    public var path: String?
    /// What went wrong and what to do about it.
    public var message: String
    /// The message.
    public var description: String { message }
}

/// Downloads a weights file over HTTP(S) into place, atomically, reporting progress.
package enum WeightsDownload {
    /// Fetches `url` into `destination` (folders created as needed).
    ///
    /// The bytes go to a temporary file beside `destination` and are moved into place only when the
    /// transfer is complete and the file starts with the HDF5 signature, so a failed or interrupted
    /// download never leaves a file that looks like weights.
    /// - Parameter progress: called with the bytes received and the expected total, when known.
    package static func fetch(
        from url: URL, to destination: String,
        progress: @escaping @Sendable (_ received: Int64, _ expected: Int64?) -> Void = { _, _ in }
    ) async throws(WeightsLocationError) {
        let observer = DownloadObserver(progress: progress)
        let session = URLSession(configuration: .ephemeral, delegate: observer, delegateQueue: nil)
        defer { session.finishTasksAndInvalidate() }
        let downloaded: RegularFileReader
        let response: URLResponse
        do {
            (downloaded, response) = try await withCheckedThrowingContinuation { continuation in
                observer.continuation = continuation
                session.downloadTask(with: url).resume()
            }
        } catch {
            throw WeightsLocationError(kind: .downloadFailed, path: destination, message: "download of \(url.absoluteString) failed: \(error.localizedDescription)")
        }
        if let http = response as? HTTPURLResponse, !(200..<300).contains(http.statusCode) {
            throw WeightsLocationError(kind: .downloadFailed, path: destination, message: "download of \(url.absoluteString) failed: HTTP \(http.statusCode)")
        }
        let signature: [UInt8] = [0x89, 0x48, 0x44, 0x46, 0x0D, 0x0A, 0x1A, 0x0A]
        var head = [UInt8](repeating: 0, count: 8)
        // Read at an offset, so that the copy below still starts at the first byte.
        let headCount = (try? head.withUnsafeMutableBytes { (raw) throws(FileProblem) in
            try downloaded.read(atOffset: 0, into: raw)
        }) ?? 0
        head.removeSubrange(headCount...)
        guard head == signature else {
            throw WeightsLocationError(kind: .downloadFailed, path: destination, message: "\(url.absoluteString) did not return an HDF5 file")
        }
        // Folders are created only now that there is a file to put in them, and removed again if it cannot go there.
        let created: [String]
        do {
            created = try makeFolders(atPath: OutputTarget.folderPart(of: destination))
        } catch {
            throw WeightsLocationError(kind: .unwritable, path: destination, message: "cannot create the folder of \(destination): \(error.reasonText)")
        }
        do {
            let replacement = try FileReplacement(destination: destination)
            let block = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
            defer { block.deallocate() }
            while true {
                let count = try downloaded.read(into: block)
                if count == 0 { break }
                try replacement.write(UnsafeRawBufferPointer(rebasing: block[..<count]))
            }
            try replacement.commit()
        } catch {
            for folder in created.reversed() { SystemCalls.removeEmptyFolder(folder) }
            throw WeightsLocationError(kind: .unwritable, path: destination, message: "cannot write \(destination): \(error.reasonText)")
        }
    }
}

/// Forwards a download task's progress and completion.
private final class DownloadObserver: NSObject, URLSessionDownloadDelegate, @unchecked Sendable {
    // Touched only on the session's serial delegate queue after the task starts.
    var continuation: CheckedContinuation<(RegularFileReader, URLResponse), any Error>?
    private let progress: @Sendable (Int64, Int64?) -> Void
    private var kept: RegularFileReader?

    init(progress: @escaping @Sendable (Int64, Int64?) -> Void) {
        self.progress = progress
    }

    func urlSession(
        _ session: URLSession, downloadTask: URLSessionDownloadTask, didWriteData bytesWritten: Int64,
        totalBytesWritten: Int64, totalBytesExpectedToWrite: Int64
    ) {
        progress(totalBytesWritten, totalBytesExpectedToWrite > 0 ? totalBytesExpectedToWrite : nil)
    }

    func urlSession(_ session: URLSession, downloadTask: URLSessionDownloadTask, didFinishDownloadingTo location: URL) {
        // The system removes `location` when this returns: keep it open, and remove its name at once, so that
        // the bytes stay readable through the descriptor and nothing is left behind whatever happens next.
        kept = try? RegularFileReader(path: location.path, limit: nil)
        if kept != nil { SystemCalls.removeFile(location.path) }
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: (any Error)?) {
        guard let continuation else { return }
        self.continuation = nil
        if let error {
            continuation.resume(throwing: error)
        } else if let kept, let response = task.response {
            continuation.resume(returning: (kept, response))
        } else {
            continuation.resume(throwing: URLError(.cannotWriteToFile))
        }
    }
}
