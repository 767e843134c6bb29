/// The client engine's timers: a hierarchical timing wheel with O(1) arm, cancel and
/// expiry per timer, whatever the number armed.
///
/// Eight levels of 256 slots; level `L` has a granularity of 256^L ms, so every 64-bit
/// deadline has a place. Each slot is an intrusive,
/// doubly linked FIFO list threaded through the per-key records, so cancelling unlinks
/// at once (no stale entries, no generations) and a slot's occupancy bit is exact. A
/// timer lives in the lowest level whose block also holds `current`; when time enters
/// a higher-level slot's block, that slot is cascaded one level down (each timer
/// cascades at most once per level it starts above 0). Finding the earliest slot scans the
/// 4 bitmap words of each occupied level.
///
/// `nextDeadline` is exact when the earliest timer sits on level 0 (within 256 ms of
/// `current`); for a higher slot it is the smallest deadline ever linked there, a lower
/// bound that is exact unless that timer was cancelled. An early wake-up fires nothing.
struct TimerWheel {
    typealias Key = UInt32
    static let noKey: Key = .max

    private static let levelBits: UInt64 = 8
    private static let slotsPerLevel = 256
    private static let levelCount = 8
    private static let wordsPerLevel = 4
    private static let slotCount = levelCount * slotsPerLevel
    private static let unarmed: UInt16 = .max

    private struct Record {
        var deadline: UInt64 = 0
        var owner: UInt32
        var next: Key = TimerWheel.noKey
        var prev: Key = TimerWheel.noKey
        var position: UInt16 = TimerWheel.unarmed
    }

    /// The wheel's fixed-size tables, in raw memory behind one object: an arm or cancel
    /// writes several of them, and separate arrays checked their uniqueness on every write
    /// (copy on write: a copied wheel copies them at its first change).
    private final class Tables {
        /// Per slot: its list's first and last key.
        let heads: UnsafeMutablePointer<Key>
        let tails: UnsafeMutablePointer<Key>
        /// Per slot, the smallest deadline linked since it was last empty (a lower bound).
        let slotMin: UnsafeMutablePointer<UInt64>
        /// Per slot, one bit: occupied.
        let bitmap: UnsafeMutablePointer<UInt64>
        /// Timers linked on each level, to skip empty levels.
        let levelCounts: UnsafeMutablePointer<Int>

        init() {
            heads = .allocate(capacity: TimerWheel.slotCount)
            heads.initialize(repeating: TimerWheel.noKey, count: TimerWheel.slotCount)
            tails = .allocate(capacity: TimerWheel.slotCount)
            tails.initialize(repeating: TimerWheel.noKey, count: TimerWheel.slotCount)
            slotMin = .allocate(capacity: TimerWheel.slotCount)
            slotMin.initialize(repeating: .max, count: TimerWheel.slotCount)
            bitmap = .allocate(capacity: TimerWheel.levelCount * TimerWheel.wordsPerLevel)
            bitmap.initialize(repeating: 0, count: TimerWheel.levelCount * TimerWheel.wordsPerLevel)
            levelCounts = .allocate(capacity: TimerWheel.levelCount)
            levelCounts.initialize(repeating: 0, count: TimerWheel.levelCount)
        }

        deinit {
            heads.deallocate()
            tails.deallocate()
            slotMin.deallocate()
            bitmap.deallocate()
            levelCounts.deallocate()
        }

        func copy() -> Tables {
            let new = Tables()
            new.heads.update(from: heads, count: TimerWheel.slotCount)
            new.tails.update(from: tails, count: TimerWheel.slotCount)
            new.slotMin.update(from: slotMin, count: TimerWheel.slotCount)
            new.bitmap.update(from: bitmap, count: TimerWheel.levelCount * TimerWheel.wordsPerLevel)
            new.levelCounts.update(from: levelCounts, count: TimerWheel.levelCount)
            return new
        }
    }

    /// In pages: growing never copies the records or reserves more than a page ahead.
    private var records = PagedArray<Record>()
    private var freeKeys: [Key] = []
    private var tables = Tables()
    /// Every timer with a deadline before `current` has fired.
    private(set) var current: UInt64 = 0
    /// Timers armed now.
    private(set) var armedCount = 0
    /// `earliest()` memoised: kept up to date by an arm (the earlier of the two) and by a cancel
    /// that leaves the earliest slot occupied (its start does not move); forgotten by a cancel
    /// that empties it and by an expiry. Steady traffic (arm a message's timer, cancel it on
    /// its ack, ask for the next deadline) then never searches the levels.
    private var cachedEarliest: (position: Int, start: UInt64)??

    init() {}

    /// What a change writes: the tables and records, made unique once for the whole change.
    /// Raw pointers only, valid for the one mutating call that made it (the wheel keeps the
    /// tables alive): holding the `Tables` object itself cost a retain and a release, two
    /// atomic operations, on every arm and cancel.
    private struct Writer {
        let heads: UnsafeMutablePointer<Key>
        let tails: UnsafeMutablePointer<Key>
        let slotMin: UnsafeMutablePointer<UInt64>
        let bitmap: UnsafeMutablePointer<UInt64>
        let levelCounts: UnsafeMutablePointer<Int>
        let records: PagedArray<Record>.MutableView
    }

    @inline(__always)
    private mutating func writer() -> Writer {
        if !isKnownUniquelyReferenced(&tables) { tables = tables.copy() }
        let t = tables
        return Writer(heads: t.heads, tails: t.tails, slotMin: t.slotMin, bitmap: t.bitmap, levelCounts: t.levelCounts,
                      records: records.mutableView())
    }

    // MARK: keys

    /// A new (unarmed) timer; `owner` is what `expire` reports when it fires.
    mutating func makeKey(owner: UInt32) -> Key {
        if let key = freeKeys.popLast() {
            records[Int(key)] = Record(owner: owner)
            return key
        }
        records.append(Record(owner: owner))
        return Key(records.count - 1)
    }

    /// Cancels the timer and recycles its key.
    mutating func releaseKey(_ key: Key) {
        cancel(key)
        freeKeys.append(key)
    }

    func isArmed(_ key: Key) -> Bool { records[Int(key)].position != Self.unarmed }

    func deadline(of key: Key) -> UInt64? {
        let r = records[Int(key)]
        return r.position == Self.unarmed ? nil : r.deadline
    }

    // MARK: arm / cancel

    /// Arms (or re-arms) `key` to fire at `deadline` (a deadline in the past fires at the next expiry).
    mutating func arm(_ key: Key, at deadline: UInt64) {
        let w = writer()
        if w.records[Int(key)].position != Self.unarmed { unlinkKeepingCache(key, w) } else { armedCount += 1 }
        let d = Swift.max(deadline, current)
        w.records[Int(key)].deadline = d
        let pos = position(of: d)
        Self.link(key, at: pos, w)
        if case let .some(cached) = cachedEarliest {
            let start = slotStart(pos, slotMin: w.slotMin[pos])
            if let cached, cached.start <= start { return }
            cachedEarliest = .some((pos, start))
        }
    }

    mutating func cancel(_ key: Key) {
        guard records[Int(key)].position != Self.unarmed else { return }
        let w = writer()
        unlinkKeepingCache(key, w)
        armedCount -= 1
        if armedCount == 0 { cachedEarliest = .some(nil) }
    }

    /// Unlinks `key`, forgetting the cached earliest slot only when this empties it.
    @inline(__always)
    private mutating func unlinkKeepingCache(_ key: Key, _ w: Writer) {
        let pos = Int(w.records[Int(key)].position)
        Self.unlink(key, w)
        if case let .some(cached?) = cachedEarliest, cached.position == pos, w.heads[pos] == Self.noKey {
            cachedEarliest = nil
        }
    }

    // MARK: time

    /// The earliest deadline (a lower bound when it lies beyond level 0), nil when nothing is armed.
    mutating func nextDeadline() -> UInt64? {
        if let cached = cachedEarliest { return cached?.start }
        let e = earliest()
        cachedEarliest = .some(e)
        return e?.start
    }

    /// `nextDeadline()` searched afresh, past the memo (for tests: the two must agree).
    func searchedNextDeadline() -> UInt64? { earliest()?.start }

    /// Fires every timer whose deadline is at or before `now`, appending their owners in
    /// deadline order (FIFO among equal deadlines).
    mutating func expire(upTo now: UInt64, into fired: inout [UInt32]) {
        cachedEarliest = nil
        let w = writer()
        while let (pos, start) = earliest(), start <= now {
            current = Swift.max(current, start)
            let level = Int(pos) / Self.slotsPerLevel
            var key = w.heads[pos]
            w.heads[pos] = Self.noKey
            w.tails[pos] = Self.noKey
            w.slotMin[pos] = .max
            Self.clearBit(pos, w)
            while key != Self.noKey {
                let next = w.records[Int(key)].next
                w.levelCounts[level] -= 1
                if level == 0 {
                    w.records[Int(key)].position = Self.unarmed
                    w.records[Int(key)].next = Self.noKey
                    w.records[Int(key)].prev = Self.noKey
                    armedCount -= 1
                    fired.append(w.records[Int(key)].owner)
                } else {
                    // Cascade: `current` is inside this slot's block, so the timer lands lower.
                    Self.link(key, at: position(of: Swift.max(w.records[Int(key)].deadline, current)), w)
                }
                key = next
            }
        }
        current = Swift.max(current, now)
    }

    // MARK: internals

    private func position(of d: UInt64) -> Int {
        let x = d ^ current
        let level = x == 0 ? 0 : (63 - x.leadingZeroBitCount) >> 3
        let slot = Int((d >> (UInt64(level) * Self.levelBits)) & 0xFF)
        return level * Self.slotsPerLevel + slot
    }

    /// The earliest time a timer of the occupied slot `pos` can be due: the slot's own start
    /// in the block of `current`, raised to the smallest deadline linked there and to `current`.
    @inline(__always)
    private func slotStart(_ pos: Int, slotMin: UInt64) -> UInt64 {
        let level = pos >> 8
        let shift = UInt64(level) * Self.levelBits
        let blockMask: UInt64 = level == Self.levelCount - 1 ? .max : (1 << (shift + Self.levelBits)) - 1
        let start = (current & ~blockMask) | (UInt64(pos & 0xFF) << shift)
        return Swift.max(start, slotMin, current)
    }

    /// The earliest occupied slot and the earliest time one of its timers can be due.
    private func earliest() -> (position: Int, start: UInt64)? {
        guard armedCount > 0 else { return nil }
        let t = tables
        var best: (Int, UInt64)?
        for level in 0..<Self.levelCount where t.levelCounts[level] > 0 {
            let shift = UInt64(level) * Self.levelBits
            let from = Int((current >> shift) & 0xFF)
            guard let slot = Self.firstSetBit(level: level, from: from, t) else { continue }
            let pos = level * Self.slotsPerLevel + slot
            let start = slotStart(pos, slotMin: t.slotMin[pos])
            if best == nil || start < best!.1 { best = (pos, start) }
            // A lower level's candidate lies within the current block of every higher level,
            // so once a level has a candidate only an un-cascaded slot at `current` can beat it.
            if best!.1 == current { break }
        }
        return best
    }

    private static func firstSetBit(level: Int, from: Int, _ t: Tables) -> Int? {
        var word = from >> 6
        var bits = t.bitmap[level * wordsPerLevel + word] & (~0 << UInt64(from & 63))
        while true {
            if bits != 0 { return word << 6 | bits.trailingZeroBitCount }
            word += 1
            if word == wordsPerLevel { return nil }
            bits = t.bitmap[level * wordsPerLevel + word]
        }
    }

    // link and unlink are static: they write through the writer only (a method on the wheel
    // would read a copy of it, sharing the tables the writer just made unique).
    private static func link(_ key: Key, at pos: Int, _ w: Writer) {
        let tail = w.tails[pos]
        w.records[Int(key)].position = UInt16(pos)
        w.levelCounts[pos >> 8] += 1
        let deadline = w.records[Int(key)].deadline
        if deadline < w.slotMin[pos] { w.slotMin[pos] = deadline }
        w.records[Int(key)].prev = tail
        w.records[Int(key)].next = Self.noKey
        if tail == Self.noKey {
            w.heads[pos] = key
            w.bitmap[pos >> 6] |= 1 << UInt64(pos & 63)
        } else {
            w.records[Int(tail)].next = key
        }
        w.tails[pos] = key
    }

    private static func unlink(_ key: Key, _ w: Writer) {
        let r = w.records[Int(key)]
        let pos = Int(r.position)
        w.levelCounts[pos >> 8] -= 1
        if r.prev == Self.noKey { w.heads[pos] = r.next } else { w.records[Int(r.prev)].next = r.next }
        if r.next == Self.noKey { w.tails[pos] = r.prev } else { w.records[Int(r.next)].prev = r.prev }
        if w.heads[pos] == Self.noKey {
            Self.clearBit(pos, w)
            w.slotMin[pos] = .max
        }
        w.records[Int(key)].position = Self.unarmed
        w.records[Int(key)].next = Self.noKey
        w.records[Int(key)].prev = Self.noKey
    }

    private static func clearBit(_ pos: Int, _ w: Writer) {
        w.bitmap[pos >> 6] &= ~(1 << UInt64(pos & 63))
    }
}

extension UInt64 {
    /// `self + other`, or `.max` on overflow (a deadline that far away never fires early).
    @inline(__always)
    func saturatingAdd(_ other: UInt64) -> UInt64 {
        let (sum, overflow) = addingReportingOverflow(other)
        return overflow ? .max : sum
    }
}
