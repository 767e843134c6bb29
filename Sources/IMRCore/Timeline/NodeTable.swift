/// Per-node state of one timeline, in an open-addressing hash table: the highest counter of
/// the node in any clock held (the timeline's merged knowledge) and the node's list of sent
/// messages. Merging a clock of k entries costs k probes, whatever the number of nodes the
/// conversation has seen (a sorted clock would cost k binary searches, or a walk of both).
///
/// Hashing is multiply-shift with a random odd multiplier drawn once per process from the
/// standard library's seeded hasher, so a peer that picks node ids cannot aim collisions at
/// it. The layout never affects results, only speed.
struct NodeTable: Sendable {
    struct Slot: Sendable {
        var node: UInt64
        /// Highest counter of `node` in any clock merged so far (0: named by no clock yet).
        var counter: UInt64
        /// Index of the node's sent-message list, or -1.
        var list: Int32
        var used: Bool
    }

    private static let multiplier: UInt64 = {
        var h = Hasher()
        h.combine(0x1D_C10C_7AB1E as UInt64)
        return UInt64(truncatingIfNeeded: h.finalize()) | 1
    }()

    private var slots: [Slot]
    private var shift: UInt64
    /// `Self.multiplier`, copied so that hashing reads no global.
    private let multiplier = NodeTable.multiplier
    private(set) var count = 0
    /// Nodes with a counter above 0 (the merged clock's entry count).
    private(set) var clockCount = 0
    private(set) var listCount = 0

    init() {
        slots = Array(repeating: Slot(node: 0, counter: 0, list: -1, used: false), count: 16)
        shift = 64 - 4
    }

    @inline(__always)
    private func home(_ node: UInt64) -> Int { Int(truncatingIfNeeded: (node &* multiplier) >> shift) }

    /// The slot of `node`, inserting an empty one when absent.
    @inline(__always)
    private mutating func slotIndex(insert node: UInt64) -> Int {
        if (count + 1) * 2 > slots.count { grow() }
        let mask = slots.count - 1
        var i = home(node)
        while true {
            if !slots[i].used {
                slots[i] = Slot(node: node, counter: 0, list: -1, used: true)
                count += 1
                return i
            }
            if slots[i].node == node { return i }
            i = (i + 1) & mask
        }
    }

    private func slotIndex(of node: UInt64) -> Int? {
        slots.withUnsafeBufferPointer { p in
            let mask = p.count - 1
            var i = home(node)
            while p[i].used {
                if p[i].node == node { return i }
                i = (i + 1) & mask
            }
            return nil
        }
    }

    private mutating func grow() {
        let old = slots
        slots = Array(repeating: Slot(node: 0, counter: 0, list: -1, used: false), count: old.count * 2)
        shift -= 1
        let mask = slots.count - 1
        for s in old where s.used {
            var i = home(s.node)
            while slots[i].used { i = (i + 1) & mask }
            slots[i] = s
        }
    }

    /// Raises every node to at least `clock`'s counter; returns the exact growth of the sum.
    mutating func merge(_ clock: VectorClock) -> CausalDepth {
        clock.withView { merge($0, sender: nil).increase }
    }

    /// `merge(_:)`, also returning the sent-message list of `sender` (assigned when it has
    /// none): the sender names itself in its clock, so this costs no extra probe.
    mutating func merge(_ clock: VectorClockView, sender: UInt64?) -> (increase: CausalDepth, list: Int) {
        var increase = CausalDepth.zero
        // One growth up front, so the probes below never rehash.
        while (count + clock.entries.count) * 2 > slots.count { grow() }
        var added = 0, named = 0, senderSlot = -1
        let shift = self.shift, multiplier = self.multiplier
        let senderNode = sender ?? 0
        slots.withUnsafeMutableBufferPointer { p in
            let mask = p.count - 1
            for e in clock.entries {
                var i = Int(truncatingIfNeeded: (e.node &* multiplier) >> shift)
                while p[i].used && p[i].node != e.node { i = (i + 1) & mask }
                if !p[i].used {
                    p[i] = Slot(node: e.node, counter: 0, list: -1, used: true)
                    added += 1
                }
                if e.node == senderNode { senderSlot = i }
                let old = p[i].counter
                if e.counter > old {
                    if old == 0 { named += 1 }
                    increase.add(e.counter - old)
                    p[i].counter = e.counter
                }
            }
        }
        count += added
        clockCount += named
        guard let sender else { return (increase, -1) }
        if senderSlot < 0 { return (increase, list(creating: sender)) }      // not in its own clock
        if slots[senderSlot].list < 0 {
            slots[senderSlot].list = Int32(listCount)
            listCount += 1
        }
        return (increase, Int(slots[senderSlot].list))
    }

    /// The counter of `node` in the merged knowledge (0 when never named).
    subscript(node: UInt64) -> UInt64 {
        slotIndex(of: node).map { slots[$0].counter } ?? 0
    }

    /// The index of `node`'s sent-message list, assigning the next one when it has none.
    mutating func list(creating node: UInt64) -> Int {
        let i = slotIndex(insert: node)
        if slots[i].list < 0 {
            slots[i].list = Int32(listCount)
            listCount += 1
        }
        return Int(slots[i].list)
    }

    /// The index of `node`'s sent-message list, nil when it has sent nothing held.
    func list(of node: UInt64) -> Int? {
        guard let i = slotIndex(of: node), slots[i].list >= 0 else { return nil }
        return Int(slots[i].list)
    }

    /// The merged knowledge as a canonical clock. O(n log n).
    var clock: VectorClock {
        var entries: [VectorClock.Entry] = []
        entries.reserveCapacity(clockCount)
        for s in slots where s.used && s.counter > 0 { entries.append(.init(node: s.node, counter: s.counter)) }
        entries.sort { $0.node < $1.node }
        return VectorClock(canonicalEntries: entries)
    }
}
