/// Protobuf base-128 varints, as used by the delimited stream format.
public enum Varint {
    /// Longest varint of a 64-bit value.
    public static let maxBytes = 10

    public static func append(_ value: UInt64, to buffer: inout [UInt8]) {
        var v = value
        while v >= 0x80 {
            buffer.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        buffer.append(UInt8(v))
    }

    /// Writes the varint at the start of `buffer` (at least `encodedSize(value)` bytes) and
    /// returns its length.
    @inline(__always)
    public static func write(_ value: UInt64, to buffer: UnsafeMutableRawBufferPointer) -> Int {
        var v = value
        var n = 0
        while v >= 0x80 {
            buffer[n] = UInt8(truncatingIfNeeded: v) | 0x80
            v >>= 7
            n += 1
        }
        buffer[n] = UInt8(v)
        return n + 1
    }

    /// The varint at `index`, which moves past it; nil when the bytes end first or it runs
    /// past 64 bits.
    public static func read<Bytes: RandomAccessCollection>(_ bytes: Bytes, at index: inout Int) -> UInt64?
        where Bytes.Element == UInt8, Bytes.Index == Int {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while index < bytes.endIndex && shift < 64 {
            let b = bytes[index]
            index += 1
            value |= UInt64(b & 0x7F) << shift
            if b < 0x80 { return value }
            shift += 7
        }
        return nil
    }

    public static func encodedSize(_ value: UInt64) -> Int {
        var n = 1
        var v = value
        while v >= 0x80 { v >>= 7; n += 1 }
        return n
    }
}
