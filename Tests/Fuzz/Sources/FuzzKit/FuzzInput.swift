/// A fuzz input read as a stream of choices. Past its end every read gives zero, so any
/// input, the empty one included, is a complete script: libFuzzer's mutations only ever
/// change which choices are made.
public struct FuzzInput {
    private let data: UnsafeRawBufferPointer
    private var index = 0

    /// Borrows the bytes for the duration of one `LLVMFuzzerTestOneInput` call.
    public init(_ data: UnsafePointer<UInt8>?, _ count: Int) {
        self.data = UnsafeRawBufferPointer(start: data, count: data == nil ? 0 : count)
    }

    public var isAtEnd: Bool { index >= data.count }
    public var remainingCount: Int { max(0, data.count - index) }

    public mutating func byte() -> UInt8 {
        guard index < data.count else { return 0 }
        defer { index += 1 }
        return data[index]
    }

    public mutating func bool() -> Bool { byte() & 1 == 1 }

    /// A number in 0..<n (n >= 1); one byte for small ranges, two for larger ones.
    public mutating func int(below n: Int) -> Int {
        precondition(n >= 1)
        if n <= 256 { return Int(byte()) % n }
        return (Int(byte()) << 8 | Int(byte())) % n
    }

    public mutating func pick<T>(_ items: [T]) -> T { items[int(below: items.count)] }

    public mutating func u16() -> UInt16 { UInt16(byte()) << 8 | UInt16(byte()) }

    public mutating func u64Raw() -> UInt64 {
        var v: UInt64 = 0
        for _ in 0..<8 { v = v << 8 | UInt64(byte()) }
        return v
    }

    /// A 64-bit number biased toward the values that find bugs: small ones, the edges of
    /// the integer types, and occasionally anything.
    public mutating func u64() -> UInt64 {
        switch byte() % 8 {
        case 0, 1, 2: return UInt64(byte())
        case 3: return UInt64(u16())
        case 4: return pick([0, 1, UInt64(UInt32.max), UInt64(Int64.max), UInt64(Int64.max) + 1, .max - 1, .max])
        case 5: return UInt64(byte()) &+ (1 << 32)
        default: return u64Raw()
        }
    }

    /// Up to `max` bytes taken from the input (a length byte, then the bytes).
    public mutating func bytes(upTo max: Int) -> [UInt8] {
        let n = min(int(below: 256) % (max + 1), remainingCount)
        return bytes(count: n)
    }

    /// The next `count` bytes of the input (fewer at its end).
    public mutating func bytes(count: Int) -> [UInt8] {
        let n = min(count, remainingCount)
        defer { index += n }
        return Array(data[index..<index + n])
    }

    /// Everything not read yet.
    public mutating func rest() -> [UInt8] { bytes(count: remainingCount) }
}
