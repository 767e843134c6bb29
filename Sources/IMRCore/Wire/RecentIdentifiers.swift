#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The identifiers a codec decoded last (conversation and user ids repeat frame after
/// frame): a decoded id whose bytes equal a remembered one is that String again, with no
/// UTF-8 validation and, for ids longer than a small string, no allocation.
///
/// Two-way set associative (32 sets), indexed by a multiplicative hash of the length and
/// three of the bytes, so that a conversation's id and its senders' ids, which often share
/// their first or last byte, do not evict one another. Only ids that passed validation are
/// remembered, so a hit is exactly what validating the same bytes again would give.
struct RecentIdentifiers {
    private static let setBits = 5
    private var slots = [String?](repeating: nil, count: 2 << RecentIdentifiers.setBits)

    /// The first slot of the set for these bytes (the other is the next one).
    @inline(__always)
    private static func set(_ p: UnsafePointer<UInt8>, _ count: Int) -> Int {
        // The last byte, where ids of one family differ most, lowest: multiplying spreads it furthest.
        let mixed = UInt64(p[count - 1]) | UInt64(p[count >> 1]) << 8 | UInt64(p[0]) << 16 | UInt64(truncatingIfNeeded: count) << 24
        return Int(truncatingIfNeeded: (mixed &* 0x9E37_79B9_7F4A_7C15) >> UInt64(64 - setBits)) << 1
    }

    /// The remembered String with exactly these `count` (> 0) bytes, if any. (Mutating in
    /// name only: held by a class, the table is then read in place, not copied and retained.)
    mutating func lookup(_ p: UnsafePointer<UInt8>, count: Int) -> String? {
        let first = Self.set(p, count)
        if let held = slots[first], Self.equal(held, p, count) { return held }
        if let held = slots[first + 1], Self.equal(held, p, count) { return held }
        return nil
    }

    @inline(__always)
    private static func equal(_ held: String, _ p: UnsafePointer<UInt8>, _ count: Int) -> Bool {
        guard held.utf8.count == count else { return false }
        return held.utf8.withContiguousStorageIfAvailable { memcmp($0.baseAddress!, p, count) == 0 } == true
    }

    /// Remembers a validated, non-empty identifier: the set's newer entry becomes its older one.
    mutating func remember(_ s: String, bytes p: UnsafePointer<UInt8>, count: Int) {
        let first = Self.set(p, count)
        slots.swapAt(first, first + 1)
        slots[first] = s
    }
}
