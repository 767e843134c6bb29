import CCacheHints

/// Message id → live index of one timeline: an insert-only open-addressing hash table
/// (linear probing, load <= 1/2) of 8-byte slots. A slot holds the top 32 bits of the id's
/// hash and the live index; the id itself is read back from the timeline's records only
/// when those 32 bits match, so the table stays small (16 MB for a million messages, which
/// mostly fits a last-level cache) and growing it never looks at the records.
///
/// A table larger than the cache makes every new id's probe a cache miss (the slots are
/// random by design). So a filter of 4 bits per slot (a Bloom filter of two bits per id in
/// one 64-bit word, 1/16 of the table's size, which stays in cache) answers "certainly not
/// held" for nearly every new id without reading the table, and such ids are not written at
/// once: up to 16 wait in a short deferred list, each one's slot prefetched as it is deferred,
/// then go in together, their slots in cache by then. Lookups see
/// the deferred ids: a filter hit scans them before the table.
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

    /// The slots (`slotCount`; 0: empty, else `tag << 32 | (value + 1)`), then the filter's
    /// words: two bits per held id (deferred ones included) in the word of its home slot's run
    /// of `slotsPerFilterWord`, both set meaning "maybe held". One array, so that adding an id
    /// (a slot or deferred entry and its filter bits) checks one buffer's uniqueness.
    private var storage: [UInt64]
    /// A power of two.
    private var slotCount: Int
    /// log2 of the slot count (at most 32: the tag is the index's source).
    private var bits: UInt64
    /// Held ids, deferred ones included.
    private(set) var count = 0
    private let hash: Hash
    /// Ids added but not yet in the slots, as slot values: the first `deferredCount`. Inline,
    /// so adding one costs no uniqueness check of a buffer.
    private var deferred = InlineArray<16, UInt64>(repeating: 0)
    private var deferredCount = 0

    private static var slotsPerFilterWord: Int { 16 }

    init() {
        slotCount = 16
        bits = 4
        storage = Array(repeating: 0, count: Self.storageCount(slots: slotCount))
        let s = Self.seeds
        hash = Hash(a0: s[0], a1: s[1], a2: s[2], a3: s[3], a4: s[4])
    }

    private static func storageCount(slots: Int) -> Int { slots + max(1, slots / slotsPerFilterWord) }

    /// A lookup or insert of one id in progress: the caller walks the candidates (values
    /// whose hash tag matches) and compares each one's id itself, so no closure captures
    /// its records (a capture made the caller copy this table, a retain per lookup).
    struct Probe {
        fileprivate var slot: Int
        fileprivate let tag: UInt64
        /// False when the filter rules the id out: nothing is read, and `fill` defers it.
        fileprivate let mayBeHeld: Bool
        /// How far the scan of the deferred ids has come (they are scanned before the table).
        fileprivate var deferredPosition = 0
    }

    /// A probe for `id`, starting at its home slot.
    @inline(__always)
    func probe(_ id: MessageID) -> Probe {
        let tag = hash(id)
        let mask = Self.filterMask(tag)
        let word = storage.withUnsafeBufferPointer { $0[filterWord(tag)] }
        return Probe(slot: Self.home(tag, bits: bits), tag: tag, mayBeHeld: word & mask == mask)
    }

    /// The next value along the probe whose tag matches, nil when there are no more (a probe
    /// that read the table then stays at its first empty slot: the vacancy for `fill(_:value:)`).
    @inline(__always)
    func nextCandidate(_ probe: inout Probe) -> Int? {
        guard probe.mayBeHeld else { return nil }
        while probe.deferredPosition < deferredCount {
            let s = deferred[probe.deferredPosition]
            probe.deferredPosition += 1
            if s >> 32 == probe.tag { return Self.value(s) }
        }
        let mask = slotCount - 1
        return storage.withUnsafeBufferPointer { p in
            while p[probe.slot] != 0 {
                let s = p[probe.slot]
                probe.slot = (probe.slot + 1) & mask
                if s >> 32 == probe.tag { return Self.value(s) }
            }
            return nil
        }
    }

    @inline(__always)
    private static func value(_ slot: UInt64) -> Int { Int(truncatingIfNeeded: slot & 0xFFFF_FFFF) - 1 }

    /// The slot where the probe for a hash tag starts: the tag's top `bits` bits.
    @inline(__always)
    private static func home(_ tag: UInt64, bits: UInt64) -> Int { Int(truncatingIfNeeded: tag >> (32 - bits)) }

    /// Where the filter word of a hash tag is in `storage`: the one of its home slot's run.
    @inline(__always)
    private func filterWord(_ tag: UInt64) -> Int { Self.filterWord(tag, bits: bits, slotCount: slotCount) }

    @inline(__always)
    private static func filterWord(_ tag: UInt64, bits: UInt64, slotCount: Int) -> Int {
        slotCount + home(tag, bits: bits) / slotsPerFilterWord
    }

    /// The tag's two filter bits, from its low 12 bits (the home slot takes the high ones).
    @inline(__always)
    private static func filterMask(_ tag: UInt64) -> UInt64 { 1 << (tag & 63) | 1 << (tag >> 6 & 63) }

    /// Starts loading what a lookup or insert of `id` reads first (its filter word), so that
    /// one issued a little later finds it in cache. Changes nothing.
    @inline(__always)
    func prefetch(_ id: MessageID) {
        let word = filterWord(hash(id))
        storage.withUnsafeBufferPointer { imr_prefetch_for_read($0.baseAddress! + word) }
    }

    /// Grows the table when one more id would load it past one half.
    @inline(__always)
    mutating func reserveOne() {
        if (count + 1) * 2 > slotCount { resize(to: slotCount * 2) }
    }

    /// Adds the id of a probe that ran out of candidates → `value`: at the probe's empty slot
    /// when it read the table, else deferred. Call `reserveOne()` before the probe starts.
    /// `value` must be the next live index, below 2^32 - 1.
    @inline(__always)
    mutating func fill(_ probe: Probe, value: Int) {
        precondition(value >= 0 && value < 0xFFFF_FFFF)
        let s = probe.tag << 32 | UInt64(value + 1)
        if !probe.mayBeHeld {
            if deferredCount == deferred.count { flushDeferred() }
            deferred[deferredCount] = s
            deferredCount += 1
        }
        let word = filterWord(probe.tag)
        storage.withUnsafeMutableBufferPointer { p in
            if probe.mayBeHeld {
                p[probe.slot] = s
            } else {
                // Its slot starts loading now, to be written at the flush, many inserts later.
                imr_prefetch_for_write(p.baseAddress! + probe.slot)
            }
            p[word] |= Self.filterMask(probe.tag)
        }
        count += 1
    }

    /// Writes the deferred ids into the table (each one's home slot was prefetched when it was deferred).
    private mutating func flushDeferred() {
        let bits = self.bits, n = deferredCount, mask = slotCount - 1
        storage.withUnsafeMutableBufferPointer { p in
            for i in 0..<n { Self.place(deferred[i], in: p, bits: bits, mask: mask) }
        }
        deferredCount = 0
    }

    /// Writes slot value `s` at the first empty slot from its home.
    @inline(__always)
    private static func place(_ s: UInt64, in p: UnsafeMutableBufferPointer<UInt64>, bits: UInt64, mask: Int) {
        var i = home(s >> 32, bits: bits)
        while p[i] != 0 { i = (i + 1) & mask }
        p[i] = s
    }

    /// Makes room for `capacity` ids without growing.
    mutating func reserveCapacity(_ capacity: Int) {
        var size = slotCount
        while capacity * 2 > size && size < 1 << 32 { size *= 2 }
        if size > slotCount { resize(to: size) }
    }

    /// Rebuilds the table and its filter at `size` slots, the deferred ids written in.
    private mutating func resize(to size: Int) {
        precondition(size <= 1 << 32, "timeline too large")
        let old = storage, oldSlots = slotCount, n = deferredCount
        storage = Array(repeating: 0, count: Self.storageCount(slots: size))
        slotCount = size
        bits = UInt64(size.trailingZeroBitCount)
        let bits = self.bits, mask = size - 1
        storage.withUnsafeMutableBufferPointer { p in
            for i in 0..<(oldSlots + n) {
                let s = i < oldSlots ? old[i] : deferred[i - oldSlots]
                guard s != 0 else { continue }
                Self.place(s, in: p, bits: bits, mask: mask)
                p[Self.filterWord(s >> 32, bits: bits, slotCount: size)] |= Self.filterMask(s >> 32)
            }
        }
        deferredCount = 0
    }
}
