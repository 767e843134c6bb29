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

    public static func encodedSize(_ value: UInt64) -> Int {
        var n = 1
        var v = value
        while v >= 0x80 { v >>= 7; n += 1 }
        return n
    }
}
