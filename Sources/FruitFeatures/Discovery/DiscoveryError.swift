/// A problem met while listing or reading input files, naming the path and the reason.
public struct DiscoveryError: Error, CustomStringConvertible, Sendable, Equatable {
    /// Why the entry could not be used.
    public enum Reason: Sendable, Equatable {
        /// The input folder does not exist or is not a folder.
        case notADirectory
        /// A folder could not be listed (for example, permission denied).
        case unreadableDirectory(String)
        /// A file could not be opened or read.
        case unreadableFile(String)
        /// A symbolic link points nowhere.
        case brokenLink
        /// A folder was reached again through a symbolic link; it is not walked twice.
        case linkCycle
        /// The name is not valid UTF-8, so it cannot be written to the outputs faithfully.
        case nameNotUTF8
        /// The file is larger than the reader accepts.
        case fileTooLarge(size: Int, limit: Int)
        /// The file-name pattern is malformed.
        case invalidPattern(String)
    }

    /// The path concerned (for ``Reason/invalidPattern(_:)``, the pattern).
    public var path: String
    /// Why.
    public var reason: Reason

    /// Creates an error.
    public init(path: String, reason: Reason) {
        self.path = path
        self.reason = reason
    }

    public var description: String {
        switch reason {
        case .notADirectory: "\(path): not a folder"
        case .unreadableDirectory(let why): "\(path): cannot list folder: \(why)"
        case .unreadableFile(let why): "\(path): cannot read file: \(why)"
        case .brokenLink: "\(path): broken symbolic link"
        case .linkCycle: "\(path): symbolic link cycle, folder already visited"
        case .nameNotUTF8: "\(path): file name is not valid UTF-8"
        case .fileTooLarge(let size, let limit): "\(path): file is \(size) bytes, larger than the \(byteCountText(limit)) limit"
        case .invalidPattern(let why): "invalid file-name pattern '\(path)': \(why)"
        }
    }
}
