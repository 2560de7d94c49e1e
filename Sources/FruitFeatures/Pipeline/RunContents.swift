import Foundation

/// A SHA-256 as four 64-bit words: the key of a run's content tables (32 bytes where the hexadecimal text takes
/// a 64-byte heap string per entry).
struct ContentKey: Hashable, Sendable {
    let words: SIMD4<UInt64>

    /// The key of a lower-case or upper-case hexadecimal SHA-256; nil for anything else.
    init?(hexadecimal text: String) {
        let digits = Array(text.utf8)
        guard digits.count == 64 else { return nil }
        var words = SIMD4<UInt64>()
        for (index, digit) in digits.enumerated() {
            let value: UInt8
            switch digit {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): value = digit - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): value = digit - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): value = digit - UInt8(ascii: "A") + 10
            default: return nil
            }
            words[index / 16] = words[index / 16] << 4 | UInt64(value)
        }
        self.words = words
    }
}

/// Which batch of a run gives each new content its one network pass: the first batch whose worker claims it.
///
/// Shared by the worker tasks of ``NetworkPass`` (hence the lock). Every other image with the same bytes, in that
/// batch or another, takes the claimer's features once they are delivered; since an image's features never depend
/// on the batch it runs in, the outputs are those of running every copy, whatever the claim order.
final class ContentClaims: @unchecked Sendable {
    /// The owner of contents whose features were journaled before this run started (a resumed run).
    static let journaled = -1

    private let lock = NSLock()
    private var owners: [ContentKey: Int] = [:]

    /// Claims with `journaled` contents already settled.
    init(journaled: some Sequence<ContentKey>) {
        for key in journaled { owners[key] = Self.journaled }
    }

    /// Claims `key` for `batch` unless it is claimed already; returns the batch that computes it (`batch` when
    /// this call or an earlier one of the same batch claimed it, ``journaled`` when a resumed journal holds it).
    func claim(_ key: ContentKey, for batch: Int) -> Int {
        lock.lock()
        defer { lock.unlock() }
        if let owner = owners[key] { return owner }
        owners[key] = batch
        return batch
    }
}
