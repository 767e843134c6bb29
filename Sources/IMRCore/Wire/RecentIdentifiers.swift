#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The identifiers a codec decoded last (conversation and user ids repeat frame after
/// frame): a decoded id whose bytes equal a remembered one is that String again, with no
/// UTF-8 validation and, for ids longer than a small string, no allocation.
///
/// Direct-mapped by length and edge bytes; only ids that passed validation are remembered,
/// so a hit is exactly what validating the same bytes again would give.
struct RecentIdentifiers {
    private static let slotCount = 16
    private var slots = [String?](repeating: nil, count: RecentIdentifiers.slotCount)

    @inline(__always)
    private static func slot(_ p: UnsafePointer<UInt8>, _ count: Int) -> Int {
        (count &+ Int(p[0]) &* 31 &+ Int(p[count - 1]) &* 7) & (slotCount - 1)
    }

    /// The remembered String with exactly these `count` (> 0) bytes, if any. (Mutating in
    /// name only: held by a class, the table is then read in place, not copied and retained.)
    mutating func lookup(_ p: UnsafePointer<UInt8>, count: Int) -> String? {
        guard let held = slots[Self.slot(p, count)], held.utf8.count == count else { return nil }
        let equal = held.utf8.withContiguousStorageIfAvailable { memcmp($0.baseAddress!, p, count) == 0 }
        return equal == true ? held : nil
    }

    /// Remembers a validated, non-empty identifier.
    mutating func remember(_ s: String, bytes p: UnsafePointer<UInt8>, count: Int) {
        slots[Self.slot(p, count)] = s
    }
}
