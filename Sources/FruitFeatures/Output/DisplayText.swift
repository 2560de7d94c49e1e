/// Text as it may be shown on a terminal or in a log: every control character made visible.
///
/// File names may hold newlines, carriage returns and terminal escape sequences. Printed raw, a one-line
/// message becomes two (a log then lies about what failed), and `ESC [ …` sequences are run by the
/// terminal (clearing the screen, rewriting earlier lines, setting the window title). Every message that
/// carries a name goes through ``escaped(_:)``; files holding data (CSV, JSON, Parquet) keep names exact.
public enum DisplayText {
    /// `text` with control characters replaced by visible escapes: `\n`, `\r`, `\t`, `\xHH` for the other
    /// C0 controls and DEL, `\u{HHHH}` for C1 controls, line and paragraph separators and bidirectional
    /// overrides (which reorder what follows them). Everything else, backslashes included, is unchanged.
    public static func escaped(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: needsEscape) else { return text }
        var result = ""
        result.reserveCapacity(text.utf8.count + 8)
        for scalar in text.unicodeScalars {
            guard needsEscape(scalar) else {
                result.unicodeScalars.append(scalar)
                continue
            }
            switch scalar {
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            default:
                let hex = String(scalar.value, radix: 16, uppercase: true)
                result += scalar.value < 0x80
                    ? "\\x" + String(repeating: "0", count: 2 - hex.count) + hex
                    : "\\u{" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex + "}"
            }
        }
        return result
    }

    /// Whether a scalar is shown escaped.
    private static func needsEscape(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x00...0x1F, 0x7F...0x9F: return true  // C0, DEL, C1 (0x9B is a one-byte CSI)
        case 0x2028, 0x2029: return true  // line and paragraph separators
        case 0x202A...0x202E, 0x2066...0x2069: return true  // bidirectional embeddings, overrides, isolates
        default: return false
        }
    }
}
