/// The RLE / bit-packing hybrid encoding of Parquet (Encodings.md, "RLE = 3"), used here for
/// repetition and definition levels.
///
/// The output is a sequence of runs, each introduced by a ULEB128 varint header whose low bit says
/// which kind it is:
/// - RLE run: header `count << 1`, then the repeated value in `ceil(bitWidth / 8)` bytes, little endian;
/// - bit-packed run: header `(count / 8) << 1 | 1`, then `count` values (a multiple of 8) of `bitWidth`
///   bits each, packed from the least significant bit of each byte upwards.
///
/// Runs of at least eight equal values become RLE runs; everything else is bit-packed in groups of
/// eight. A trailing remainder of fewer than eight values is written as short RLE runs rather than a
/// zero-padded group, so the stream never holds values beyond the ones it was given.
enum LevelEncoder {
    /// The shortest run worth an RLE run (it then costs no more than one bit-packed group).
    static let minimumRunLength = 8
    /// Run lengths must stay within 1…2³¹−1 (Encodings.md); split long runs well below that.
    static let maximumRunLength = 1 << 30

    /// The number of bits needed for levels up to `maximum` (0 for a maximum of 0).
    static func bitWidth(forMaximum maximum: Int) -> Int {
        maximum <= 0 ? 0 : Int.bitWidth - maximum.leadingZeroBitCount
    }

    /// Appends the hybrid encoding of `values` (each below `1 << bitWidth`, `bitWidth` in 1…8).
    static func encode(_ values: [UInt8], bitWidth: Int, into output: inout [UInt8]) {
        values.withUnsafeBufferPointer { encode($0, bitWidth: bitWidth, into: &output) }
    }

    /// Appends the hybrid encoding of `values` (each below `1 << bitWidth`, `bitWidth` in 1…8).
    static func encode(_ values: UnsafeBufferPointer<UInt8>, bitWidth: Int, into output: inout [UInt8]) {
        let count = values.count
        // Values in literalStart..<runStart wait to be bit-packed.
        var literalStart = 0
        var runStart = 0
        while runStart < count {
            let value = values[runStart]
            var runEnd = runStart + 1
            while runEnd < count && values[runEnd] == value { runEnd += 1 }
            // Bit-packed runs hold whole groups of eight: lend the pending literals the first few
            // values of this run to complete their last group, and RLE-encode the rest if still long.
            let pending = runStart - literalStart
            let lent = (8 - pending % 8) % 8
            if runEnd - runStart - lent >= minimumRunLength {
                appendBitPacked(values[literalStart..<(runStart + lent)], bitWidth: bitWidth, into: &output)
                appendRun(value: value, count: runEnd - runStart - lent, into: &output)
                literalStart = runEnd
            }
            runStart = runEnd
        }
        let wholeGroups = (count - literalStart) / 8 * 8
        appendBitPacked(values[literalStart..<(literalStart + wholeGroups)], bitWidth: bitWidth, into: &output)
        var tail = literalStart + wholeGroups
        while tail < count {
            var end = tail + 1
            while end < count && values[end] == values[tail] { end += 1 }
            appendRun(value: values[tail], count: end - tail, into: &output)
            tail = end
        }
    }

    /// Appends RLE runs of `count` copies of `value` (one run unless `count` is huge).
    static func appendRun(value: UInt8, count: Int, into output: inout [UInt8]) {
        var remaining = count
        while remaining > 0 {
            let length = min(remaining, maximumRunLength)
            appendVarint(UInt64(length) << 1, into: &output)
            output.append(value)  // ceil(bitWidth / 8) = 1 byte for bit widths 1…8
            remaining -= length
        }
    }

    /// Appends bit-packed runs for `values`, whose count is a multiple of eight.
    static func appendBitPacked(_ values: Slice<UnsafeBufferPointer<UInt8>>, bitWidth: Int, into output: inout [UInt8]) {
        var start = values.startIndex
        while start < values.endIndex {
            let end = min(values.endIndex, start + maximumRunLength / 8 * 8)
            appendVarint(UInt64((end - start) / 8) << 1 | 1, into: &output)
            // LSB-first: value i occupies bits i*bitWidth ..< (i+1)*bitWidth of the little-endian bit stream.
            var accumulator: UInt64 = 0
            var bitCount = 0
            for index in start..<end {
                accumulator |= UInt64(values[index]) << bitCount
                bitCount += bitWidth
                while bitCount >= 8 {
                    output.append(UInt8(truncatingIfNeeded: accumulator))
                    accumulator >>= 8
                    bitCount -= 8
                }
            }
            start = end
        }
    }

    /// Appends an unsigned LEB128 varint.
    static func appendVarint(_ value: UInt64, into output: inout [UInt8]) {
        var rest = value
        while rest >= 0x80 {
            output.append(UInt8(truncatingIfNeeded: rest) | 0x80)
            rest >>= 7
        }
        output.append(UInt8(rest))
    }
}
