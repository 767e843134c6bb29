import CCacheHints

/// Message id → live index of one timeline: an insert-only open-addressing hash table
/// (linear probing, load <= 1/2) of 8-byte slots. A slot holds the top 32 bits of the id's
/// hash and the live index; the id itself is read back from the timeline's records only
/// when those 32 bits match, so the table stays small (16 MB for a million messages, which
/// mostly fits a last-level cache) and growing it never looks at the records.
///
/// Hashing is Dietzfelbinger's vector multiply-shift over the id's four 32-bit words with
/// random 64-bit multipliers drawn once per process from the standard library's seeded
/// hasher: strongly universal, so peers choosing message ids cannot aim collisions at it.
/// The layout never affects results, only speed.
struct MessageIDTable: Sendable {
    /// Strongly universal hashing of the id's four 32-bit words; the top 32 bits are kept.
    private struct Hash: Sendable {
        var a0, a1, a2, a3, a4: UInt64

        @inline(__always)
        func callAsFunction(_ id: MessageID) -> UInt64 {
            var h = a0
            h &+= a1 &* (id.high >> 32)
            h &+= a2 &* (id.high & 0xFFFF_FFFF)
            h &+= a3 &* (id.low >> 32)
            h &+= a4 &* (id.low & 0xFFFF_FFFF)
            return h >> 32
        }
    }

    private static let seeds: [UInt64] = (0..<5).map { i in
        var h = Hasher()
        h.combine(0x1D_7AB1E_5EED as UInt64 &+ UInt64(i))
        return UInt64(truncatingIfNeeded: h.finalize())
    }

    /// 0: empty; else `tag << 32 | (value + 1)`.
    private var slots: [UInt64]
    /// log2 of the slot count (at most 32: the tag is the index's source).
    private var bits: UInt64
    private(set) var count = 0
    private let hash: Hash

    init() {
        slots = Array(repeating: 0, count: 16)
        bits = 4
        let s = Self.seeds
        hash = Hash(a0: s[0], a1: s[1], a2: s[2], a3: s[3], a4: s[4])
    }

    /// A lookup or insert of one id in progress: the caller walks the candidates (values
    /// whose hash tag matches) and compares each one's id itself, so no closure captures
    /// its records (a capture made the caller copy this table, a retain per lookup).
    struct Probe {
        fileprivate var slot: Int
        fileprivate let tag: UInt64
    }

    /// A probe for `id`, starting at its home slot.
    @inline(__always)
    func probe(_ id: MessageID) -> Probe {
        let tag = hash(id)
        return Probe(slot: Self.home(tag, bits: bits), tag: tag)
    }

    /// The next value along the probe whose tag matches, nil at the first empty slot (where
    /// the probe then stays: the vacancy for `fill(_:value:)`).
    @inline(__always)
    func nextCandidate(_ probe: inout Probe) -> Int? {
        slots.withUnsafeBufferPointer { p in
            let mask = p.count - 1
            while p[probe.slot] != 0 {
                let s = p[probe.slot]
                probe.slot = (probe.slot + 1) & mask
                if s >> 32 == probe.tag { return Int(truncatingIfNeeded: s & 0xFFFF_FFFF) - 1 }
            }
            return nil
        }
    }

    /// The slot where the probe for a hash tag starts: the tag's top `bits` bits.
    @inline(__always)
    private static func home(_ tag: UInt64, bits: UInt64) -> Int { Int(truncatingIfNeeded: tag >> (32 - bits)) }

    /// Starts loading the slot where a lookup of `id` begins, so that a lookup issued a few
    /// hundred instructions later finds it in cache (a large table's probe is otherwise a
    /// cache miss). Changes nothing.
    @inline(__always)
    func prefetch(_ id: MessageID) {
        let start = Self.home(hash(id), bits: bits)
        slots.withUnsafeBufferPointer { imr_prefetch_for_read($0.baseAddress! + start) }
    }

    /// Grows the table when one more id would load it past one half.
    @inline(__always)
    mutating func reserveOne() {
        if (count + 1) * 2 > slots.count { resize(to: slots.count * 2) }
    }

    /// Stores the id of a probe that ran out of candidates → `value`, at the probe's empty
    /// slot. Call `reserveOne()` before the probe starts. `value` must be the next live
    /// index, below 2^32 - 1.
    @inline(__always)
    mutating func fill(_ probe: Probe, value: Int) {
        precondition(value >= 0 && value < 0xFFFF_FFFF)
        slots[probe.slot] = probe.tag << 32 | UInt64(value + 1)
        count += 1
    }

    /// Makes room for `capacity` ids without growing.
    mutating func reserveCapacity(_ capacity: Int) {
        var size = slots.count
        while capacity * 2 > size && size < 1 << 32 { size *= 2 }
        if size > slots.count { resize(to: size) }
    }

    private mutating func resize(to size: Int) {
        precondition(size <= 1 << 32, "timeline too large")
        let old = slots
        slots = Array(repeating: 0, count: size)
        bits = UInt64(size.trailingZeroBitCount)
        let bits = self.bits
        slots.withUnsafeMutableBufferPointer { p in
            let mask = p.count - 1
            for s in old where s != 0 {
                var i = Self.home(s >> 32, bits: bits)
                while p[i] != 0 { i = (i + 1) & mask }
                p[i] = s
            }
        }
    }
}
