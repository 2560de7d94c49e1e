/// Decodes the RLE / bit-packing hybrid of Parquet (Encodings.md, "RLE = 3"): the inverse of
/// ``LevelEncoder``, used for repetition and definition levels and for dictionary indices.
enum HybridDecoder {
    /// Decodes `count` values of `bitWidth` bits (0…32) from `bytes`, appending them to `output`.
    ///
    /// A bit-packed run may hold more values than asked for (its last group is padded); the extra
    /// ones are dropped. Returns false when the bytes end before `count` values.
    static func decode(
        _ bytes: UnsafeRawBufferPointer, bitWidth: Int, count: Int, into output: inout [UInt32]
    ) -> Bool {
        guard bitWidth >= 0, bitWidth <= 32 else { return false }
        var offset = 0
        var remaining = count
        let valueBytes = (bitWidth + 7) / 8
        let mask: UInt64 = bitWidth == 0 ? 0 : (UInt64(1) << bitWidth) - 1
        output.reserveCapacity(output.count + count)
        while remaining > 0 {
            // Run header: an unsigned varint.
            var header: UInt64 = 0
            var shift: UInt64 = 0
            while true {
                guard offset < bytes.count, shift < 64 else { return false }
                let byte = bytes[offset]
                offset += 1
                header |= UInt64(byte & 0x7F) << shift
                if byte & 0x80 == 0 { break }
                shift += 7
            }
            if header & 1 == 0 {
                let runLength = header >> 1
                guard runLength > 0, valueBytes <= bytes.count - offset else { return false }
                var value: UInt32 = 0
                for index in 0..<valueBytes { value |= UInt32(bytes[offset + index]) << (8 * index) }
                offset += valueBytes
                let taken = Int(min(UInt64(remaining), runLength))
                output.append(contentsOf: repeatElement(value, count: taken))
                remaining -= taken
            } else {
                let groups = header >> 1
                guard groups > 0, groups <= UInt64(bytes.count) else { return false }
                let valueCount = Int(groups) * 8
                let byteCount = Int(groups) * bitWidth
                guard byteCount <= bytes.count - offset else { return false }
                // LSB-first: value i occupies bits i*bitWidth ..< (i+1)*bitWidth of the run.
                var accumulator: UInt64 = 0
                var bitsHeld = 0
                var position = offset
                for _ in 0..<min(valueCount, remaining) {
                    while bitsHeld < bitWidth {
                        accumulator |= UInt64(bytes[position]) << bitsHeld
                        position += 1
                        bitsHeld += 8
                    }
                    output.append(UInt32(truncatingIfNeeded: accumulator & mask))
                    accumulator = bitWidth == 64 ? 0 : accumulator >> bitWidth
                    bitsHeld -= bitWidth
                }
                offset += byteCount
                remaining -= min(valueCount, remaining)
            }
        }
        return true
    }
}
