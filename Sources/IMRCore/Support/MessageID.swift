/// A 16-byte client message id (UUIDv7): time-ordered, chosen once by the sending
/// device, and never changed across retransmissions, restarts or manual retries.
public struct MessageID: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The id's bytes 0..<8 and 8..<16, big-endian, so integer order is byte order.
    public var high: UInt64
    public var low: UInt64

    public static let byteCount = 16

    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    /// Reads exactly 16 bytes; returns nil for any other length.
    public init?(bytes: some Collection<UInt8>) {
        guard bytes.count == Self.byteCount else { return nil }
        var high: UInt64 = 0
        var low: UInt64 = 0
        for (i, byte) in bytes.enumerated() {
            if i < 8 { high = high << 8 | UInt64(byte) } else { low = low << 8 | UInt64(byte) }
        }
        self.init(high: high, low: low)
    }

    /// A UUIDv7: 48 bits of Unix milliseconds, version 7, variant 0b10, 74 random bits.
    public static func uuidV7(unixMilliseconds: UInt64, using rng: inout some RandomNumberGenerator) -> MessageID {
        let randA = rng.next() & 0x0FFF
        let randB = rng.next() & 0x3FFF_FFFF_FFFF_FFFF
        let high = (unixMilliseconds & 0xFFFF_FFFF_FFFF) << 16 | 0x7000 | randA
        let low = 0x8000_0000_0000_0000 | randB
        return MessageID(high: high, low: low)
    }

    public var bytes: [UInt8] {
        var out = [UInt8](repeating: 0, count: 16)
        writeBytes(into: &out)
        return out
    }

    /// Writes the 16 bytes big-endian into `buffer`, which must hold at least 16 bytes.
    public func writeBytes(into buffer: UnsafeMutableRawPointer) {
        buffer.storeBytes(of: high.bigEndian, toByteOffset: 0, as: UInt64.self)
        buffer.storeBytes(of: low.bigEndian, toByteOffset: 8, as: UInt64.self)
    }

    func writeBytes(into array: inout [UInt8]) {
        array.withUnsafeMutableBytes { writeBytes(into: $0.baseAddress!) }
    }

    /// The milliseconds part of a UUIDv7.
    public var unixMilliseconds: UInt64 { high >> 16 }

    public static func < (lhs: MessageID, rhs: MessageID) -> Bool {
        (lhs.high, lhs.low) < (rhs.high, rhs.low)
    }

    /// Canonical 8-4-4-4-12 lower-case hex form.
    public var description: String {
        let hex = bytes.map { byte -> String in
            let s = String(byte, radix: 16)
            return s.count == 1 ? "0" + s : s
        }.joined()
        let c = Array(hex)
        return String(c[0..<8]) + "-" + String(c[8..<12]) + "-" + String(c[12..<16]) + "-"
            + String(c[16..<20]) + "-" + String(c[20..<32])
    }
}
