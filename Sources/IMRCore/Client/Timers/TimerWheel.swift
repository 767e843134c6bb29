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
    private static let unarmed: UInt16 = .max

    private struct Record {
        var deadline: UInt64 = 0
        var owner: UInt32
        var next: Key = TimerWheel.noKey
        var prev: Key = TimerWheel.noKey
        var position: UInt16 = TimerWheel.unarmed
    }

    /// In pages: growing never copies the records or reserves more than a page ahead.
    private var records = PagedArray<Record>()
    private var freeKeys: [Key] = []
    private var heads: [Key]
    private var tails: [Key]
    private var bitmap: [UInt64]
    /// Per slot, the smallest deadline linked since it was last empty (a lower bound).
    private var slotMin: [UInt64]
    /// Timers linked on each level, to skip empty levels.
    private var levelCounts: [Int]

    /// Every timer with a deadline before `current` has fired.
    private(set) var current: UInt64 = 0
    /// Timers armed now.
    private(set) var armedCount = 0
    /// `earliest()` memoised until the next arm, cancel or expiry.
    private var cachedEarliest: (position: Int, start: UInt64)??

    init() {
        heads = Array(repeating: Self.noKey, count: Self.levelCount * Self.slotsPerLevel)
        tails = heads
        slotMin = Array(repeating: .max, count: Self.levelCount * Self.slotsPerLevel)
        bitmap = Array(repeating: 0, count: Self.levelCount * Self.wordsPerLevel)
        levelCounts = Array(repeating: 0, count: Self.levelCount)
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
        cachedEarliest = nil
        if records[Int(key)].position != Self.unarmed { unlink(key) } else { armedCount += 1 }
        let d = Swift.max(deadline, current)
        records[Int(key)].deadline = d
        link(key, at: position(of: d))
    }

    mutating func cancel(_ key: Key) {
        guard records[Int(key)].position != Self.unarmed else { return }
        cachedEarliest = nil
        unlink(key)
        armedCount -= 1
    }

    // MARK: time

    /// The earliest deadline (a lower bound when it lies beyond level 0), nil when nothing is armed.
    mutating func nextDeadline() -> UInt64? {
        if let cached = cachedEarliest { return cached?.start }
        let e = earliest()
        cachedEarliest = .some(e)
        return e?.start
    }

    /// Fires every timer whose deadline is at or before `now`, appending their owners in
    /// deadline order (FIFO among equal deadlines).
    mutating func expire(upTo now: UInt64, into fired: inout [UInt32]) {
        cachedEarliest = nil
        while let (pos, start) = earliest(), start <= now {
            current = Swift.max(current, start)
            let level = Int(pos) / Self.slotsPerLevel
            var key = heads[Int(pos)]
            heads[Int(pos)] = Self.noKey
            tails[Int(pos)] = Self.noKey
            slotMin[Int(pos)] = .max
            clearBit(Int(pos))
            while key != Self.noKey {
                let next = records[Int(key)].next
                levelCounts[level] -= 1
                if level == 0 {
                    records[Int(key)].position = Self.unarmed
                    records[Int(key)].next = Self.noKey
                    records[Int(key)].prev = Self.noKey
                    armedCount -= 1
                    fired.append(records[Int(key)].owner)
                } else {
                    // Cascade: `current` is inside this slot's block, so the timer lands lower.
                    link(key, at: position(of: Swift.max(records[Int(key)].deadline, current)))
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

    /// The earliest occupied slot and the earliest time one of its timers can be due.
    private func earliest() -> (position: Int, start: UInt64)? {
        guard armedCount > 0 else { return nil }
        var best: (Int, UInt64)?
        for level in 0..<Self.levelCount where levelCounts[level] > 0 {
            let shift = UInt64(level) * Self.levelBits
            let from = Int((current >> shift) & 0xFF)
            guard let slot = firstSetBit(level: level, from: from) else { continue }
            let blockMask: UInt64 = level == Self.levelCount - 1 ? .max : (1 << (shift + Self.levelBits)) - 1
            let slotStart = (current & ~blockMask) | (UInt64(slot) << shift)
            let start = Swift.max(slotStart, slotMin[level * Self.slotsPerLevel + slot], current)
            if best == nil || start < best!.1 { best = (level * Self.slotsPerLevel + slot, start) }
            // A lower level's candidate lies within the current block of every higher level,
            // so once a level has a candidate only an un-cascaded slot at `current` can beat it.
            if best!.1 == current { break }
        }
        return best
    }

    private func firstSetBit(level: Int, from: Int) -> Int? {
        var word = from >> 6
        var bits = bitmap[level * Self.wordsPerLevel + word] & (~0 << UInt64(from & 63))
        while true {
            if bits != 0 { return word << 6 | bits.trailingZeroBitCount }
            word += 1
            if word == Self.wordsPerLevel { return nil }
            bits = bitmap[level * Self.wordsPerLevel + word]
        }
    }

    private mutating func link(_ key: Key, at pos: Int) {
        let tail = tails[pos]
        records[Int(key)].position = UInt16(pos)
        levelCounts[pos >> 8] += 1
        if records[Int(key)].deadline < slotMin[pos] { slotMin[pos] = records[Int(key)].deadline }
        records[Int(key)].prev = tail
        records[Int(key)].next = Self.noKey
        if tail == Self.noKey {
            heads[pos] = key
            bitmap[pos >> 6] |= 1 << UInt64(pos & 63)
        } else {
            records[Int(tail)].next = key
        }
        tails[pos] = key
    }

    private mutating func unlink(_ key: Key) {
        let r = records[Int(key)]
        let pos = Int(r.position)
        levelCounts[pos >> 8] -= 1
        if r.prev == Self.noKey { heads[pos] = r.next } else { records[Int(r.prev)].next = r.next }
        if r.next == Self.noKey { tails[pos] = r.prev } else { records[Int(r.next)].prev = r.prev }
        if heads[pos] == Self.noKey {
            clearBit(pos)
            slotMin[pos] = .max
        }
        records[Int(key)].position = Self.unarmed
        records[Int(key)].next = Self.noKey
        records[Int(key)].prev = Self.noKey
    }

    private mutating func clearBit(_ pos: Int) {
        bitmap[pos >> 6] &= ~(1 << UInt64(pos & 63))
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
