import Foundation
import FruitFeatures

/// How the service runs: what it listens on, what it accepts and how much work it takes at once.
///
/// The defaults are those of `fruitfeatures-server`; Docs/serve.md gives the worst-case memory as a formula of
/// ``maximumBodyBytes``, ``maximumPixels``, ``concurrency`` and ``queueDepth``.
public struct ServerSettings: Sendable {
    /// The output folder of `fruitfeatures extract` to answer from (re-opened on reload).
    public var modelDirectory: String
    /// The weights file; nil for the run's own rule.
    public var weights: String?
    /// The address to bind; loopback by default (TLS belongs to the reverse proxy in front).
    public var host = "127.0.0.1"
    /// The port; 0 takes a free one.
    public var port = 8080
    /// Bodies above this many bytes are refused with 413 (checked against Content-Length before reading).
    public var maximumBodyBytes = 25 * 1024 * 1024
    /// Photos above this many pixels are refused with 422, before any pixel buffer exists.
    public var maximumPixels = JPEGDecoder.pillowPixelLimit
    /// Photos in decode and network at once.
    public var concurrency = ProcessInfo.processInfo.activeProcessorCount
    /// Requests that may wait beside the ones working; more get 503 with Retry-After.
    public var queueDepth = 64
    /// A body must arrive within this many seconds (408 otherwise).
    public var requestTimeout: Double = 30
    /// On SIGTERM/SIGINT, requests in flight get this long to finish.
    public var shutdownTimeout: Double = 30
    /// k: how many nearest images vote, unless a request asks for another (`neighbors`).
    public var neighbourCount = 5
    /// Labels per answer, unless a request asks for another (`top`).
    public var labelCount = 5
    /// The origin allowed to call the API from a browser (CORS); nil: no CORS headers at all.
    public var allowedOrigin: String?
    /// The key every `/v1/` request must present as `Authorization: Bearer KEY`; nil: no key needed.
    public var apiKey: String?

    /// The largest `top` and `neighbors` a request may ask for.
    public static let maximumLabelCount = 100
    public static let maximumNeighbourCount = 100

    /// Settings with the defaults, answering from `modelDirectory`.
    public init(modelDirectory: String) {
        self.modelDirectory = modelDirectory
    }

    /// Checks the values that have no sensible meaning (a zero concurrency, a negative timeout).
    public func validated() throws(ServerSettingsError) -> ServerSettings {
        func check(_ ok: Bool, _ reason: String) throws(ServerSettingsError) {
            if !ok { throw ServerSettingsError(reason: reason) }
        }
        try check((0...65535).contains(port), "--port must be between 0 and 65535")
        try check(maximumBodyBytes >= 1, "--max-body-bytes must be at least 1")
        try check(maximumPixels >= 1, "--max-pixels must be at least 1")
        try check(concurrency >= 1, "--concurrency must be at least 1")
        try check(queueDepth >= 0, "--queue-depth must not be negative")
        try check(requestTimeout > 0 && requestTimeout.isFinite, "--request-timeout must be a positive number of seconds")
        try check(shutdownTimeout >= 0 && shutdownTimeout.isFinite, "--shutdown-timeout must not be negative")
        try check((1...Self.maximumNeighbourCount).contains(neighbourCount), "--neighbors must be between 1 and \(Self.maximumNeighbourCount)")
        try check((1...Self.maximumLabelCount).contains(labelCount), "--top must be between 1 and \(Self.maximumLabelCount)")
        if let apiKey { try check(!apiKey.isEmpty, "the API key file holds no key") }
        return self
    }
}

/// A setting that cannot be used, with the reason.
public struct ServerSettingsError: Error, Sendable, CustomStringConvertible {
    public var reason: String
    public var description: String { reason }
}

/// The API key as a request must present it, compared in constant time.
public struct APIKey: Sendable {
    private let key: [UInt8]

    public init(_ key: String) {
        self.key = Array(key.utf8)
    }

    /// Whether `header` is `Bearer KEY` with this key. The time taken depends only on the presented value's length,
    /// never on how many of its bytes match.
    public func accepts(authorization header: String?) -> Bool {
        guard let header else { return false }
        let scheme = "bearer "
        let bytes = Array(header.utf8)
        guard bytes.count > scheme.count,
              String(decoding: bytes.prefix(scheme.count), as: UTF8.self).lowercased() == scheme else { return false }
        let presented = bytes.dropFirst(scheme.count)
        var difference = UInt8(truncatingIfNeeded: presented.count ^ key.count)
        for (offset, byte) in presented.enumerated() {
            // Compare against the key cyclically so a wrong length takes as long as a right one.
            difference |= byte ^ (key.isEmpty ? 0 : key[offset % key.count])
        }
        if presented.count != key.count { difference |= 1 }
        return difference == 0
    }

    /// The largest API key file read (a key is a line; anything larger is not a key file).
    static let maximumFileSize = 64 << 10

    /// Reads the key from the first line of `path` (surrounding white space dropped).
    ///
    /// The file must be a regular file of at most 64 KiB (65536 bytes): a FIFO, a device or a socket is refused
    /// at once (never waited on), and so is a larger file, before any of it is read.
    public static func read(from path: String) throws(ServerSettingsError) -> String {
        let data: [UInt8]
        do {
            data = try readSmallRegularFile(atPath: path, limit: maximumFileSize)
        } catch {
            throw ServerSettingsError(reason: "\(path): cannot read the API key file: \(error.reason)")
        }
        let key = String(decoding: data, as: UTF8.self).split(whereSeparator: \.isNewline).first
            .map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
        guard !key.isEmpty else { throw ServerSettingsError(reason: "\(path): the API key file holds no key") }
        return key
    }
}
