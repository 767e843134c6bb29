/// The ids of outbox messages, read from their conversations' timelines.
protocol OutboxMessageIDs {
    func id(conversation: UInt32, live: UInt32) -> MessageID
}

/// A message acked lately, as `ClientEngine.outbox()` lists it: plain values, so keeping one
/// per ack (a ring of `sentRetention`) counts no reference (its conversation is an index).
struct SentRecord {
    var id: MessageID
    var conversation: UInt32
    var attempts: UInt16
    var seq: UInt64
    var serverTimeMs: UInt64
}

/// The device's unacknowledged (and failed) own messages: a slab of slots, an id index,
/// and the send-order queue the in-flight window admits from.
///
/// Memory per message is one 40-byte slot in a page of slots (its id, payload and clock stay
/// in the message's timeline record, which the slot names), four bytes of index (at most 3/4
/// full) and eight bytes of queue. The id index keeps slot numbers; each slot keeps its id's
/// 32-bit index hash, so probes, removals and growth compare and place by the slot's hash,
/// and only a lookup's hash match reads the id from its timeline (through
/// `OutboxMessageIDs`: conversation, timeline, record page, a chain of dependent loads).
/// The queue holds every `sending` message in order; the first `admitted` of them that are
/// still unacked are on the wire. Entries whose message was acked or failed out of order
/// are skipped lazily and compacted away.
struct Outbox {
    enum Phase: UInt8 {
        case free
        /// Waiting: offline, behind the window, or not yet transmitted.
        case waiting
        /// Transmitted on the live connection, awaiting its ack (ack timer armed).
        case inflight
        /// Admitted but held by a send-reject's retry-after (retry timer armed).
        case held
        case failed
    }

    struct Slot {
        /// Send order (reassigned by a manual retry); also the queue entry's generation.
        var order: UInt64
        /// When the message was sent (or retried): the start of its max offline age.
        var ageStart: UInt64
        var conversation: UInt32
        /// The message's live index in its conversation's timeline, which holds its id, clock
        /// and payload (every transmission reads them there: nothing is kept twice).
        var live: UInt32
        var timer: TimerWheel.Key
        /// The id's index hash (`Outbox.hash`): its home bucket at any table size.
        var hash: UInt32
        var attempts: UInt16
        var phase: Phase

        var isAdmitted: Bool { phase == .inflight || phase == .held }
    }

    /// A slot and the low half of its order (the generation that tells a live entry from a
    /// stale one; a slot's order cannot move on by 2^32 while an entry of it is queued).
    private struct QueueEntry {
        var slot: UInt32
        var order: UInt32

        init(slot: UInt32, order: UInt64) {
            self.slot = slot
            self.order = UInt32(truncatingIfNeeded: order)
        }

        func matches(_ s: Slot) -> Bool { UInt32(truncatingIfNeeded: s.order) == order }
    }

    /// The entry still stands for a `sending` message (read field by field: no slot copy).
    @inline(__always)
    private func isLive(_ e: QueueEntry) -> Bool {
        let i = Int(e.slot)
        guard UInt32(truncatingIfNeeded: slots[i].order) == e.order else { return false }
        let phase = slots[i].phase
        return phase == .waiting || phase == .inflight || phase == .held
    }

    /// In pages: a slot is never moved, and growing never reserves more than a page ahead.
    private var slots = PagedArray<Slot>()
    private var freeSlots: [UInt32] = []
    /// Why each `failed` message failed (few: kept out of the slots, which stay 40 bytes).
    private var failures: [UInt32: FailureReason] = [:]
    /// Messages in the outbox (any phase but free).
    private(set) var count = 0
    /// Admitted and unacknowledged: what the in-flight window bounds.
    private(set) var admittedCount = 0
    private(set) var nextOrder: UInt64 = 1

    // Open-addressing id index (linear probing, backward-shift deletion): slot numbers.
    private static let empty: UInt32 = .max
    private var table: [UInt32] = Array(repeating: Outbox.empty, count: 16)

    // Send-order queue of `sending` messages.
    private var queue: [QueueEntry] = []
    private var queueHead = 0
    /// Queue position of the next message to admit.
    private var admitCursor = 0
    /// Live (sending) entries in the queue.
    private var queuedCount = 0

    // MARK: slots

    subscript(slot: UInt32) -> Slot {
        get { slots[Int(slot)] }
        _modify { yield &slots[Int(slot)] }
    }

    /// Changes several fields of `slot` in one write access: each write through the slots'
    /// own subscript checks that their pages are not shared, this checks once.
    @inline(__always)
    private mutating func update(_ slot: UInt32, _ body: (inout Slot) -> Void) {
        let view = slots.mutableView()
        body(&view[Int(slot)])
    }

    /// The id of the message in `slot` (read from its timeline).
    @inline(__always)
    func id(of slot: UInt32, _ ids: some OutboxMessageIDs) -> MessageID {
        ids.id(conversation: slots[Int(slot)].conversation, live: slots[Int(slot)].live)
    }

    func find(_ id: MessageID, _ ids: some OutboxMessageIDs) -> UInt32? {
        let mask = table.count - 1
        let hash = Self.hash(id)
        var i = Int(hash) & mask
        while true {
            let s = table[i]
            if s == Self.empty { return nil }
            if slots[Int(s)].hash == hash && self.id(of: s, ids) == id { return s }
            i = (i + 1) & mask
        }
    }

    /// Why the `failed` message in `slot` failed.
    func failure(of slot: UInt32) -> FailureReason {
        failures[slot] ?? .attemptsExhausted
    }

    /// Adds message `id`, already in its timeline at `live`, in phase `waiting` (or `failed`,
    /// when restored) and returns its slot. A new slot gets its timer key from `wheel`, owned
    /// by `timerOwner | slot`. (The wheel is passed, not reached through a closure: a closure
    /// capturing the engine retained and released it on every send.)
    mutating func add(_ id: MessageID, conversation: UInt32, live: UInt32, ageStart: UInt64, attempts: UInt16 = 0,
                      wheel: inout TimerWheel, timerOwner: UInt32) -> UInt32 {
        let slot: UInt32
        let hash = Self.hash(id)
        if let reused = freeSlots.popLast() {
            slot = reused
            update(slot) { s in
                s.ageStart = ageStart
                s.conversation = conversation
                s.live = live
                s.hash = hash
                s.attempts = attempts
            }
        } else {
            slot = UInt32(slots.count)
            slots.append(Slot(order: 0, ageStart: ageStart, conversation: conversation, live: live,
                              timer: wheel.makeKey(owner: timerOwner | slot), hash: hash, attempts: attempts, phase: .free))
        }
        count += 1
        if (count + 1) * 4 > table.count * 3 { grow() }
        insertIndex(slot)
        enqueue(slot)
        return slot
    }

    /// Removes a message (sent): frees its slot. Its timer must be cancelled by the caller.
    mutating func remove(_ slot: UInt32) {
        let phase = slots[Int(slot)].phase
        if phase == .inflight || phase == .held { admittedCount -= 1 }
        if phase == .waiting || phase == .inflight || phase == .held { queuedCount -= 1 }
        if phase == .failed { failures[slot] = nil }
        removeIndex(slot)
        slots[Int(slot)].phase = .free
        freeSlots.append(slot)
        count -= 1
        compactQueueIfSparse()
    }

    // MARK: phases

    /// `waiting` -> `inflight` for the message at the admit cursor; nil when none waits.
    mutating func admitNext() -> UInt32? {
        while admitCursor < queue.count {
            let e = queue[admitCursor]
            admitCursor += 1
            guard isLive(e), slots[Int(e.slot)].phase == .waiting else { continue }
            slots[Int(e.slot)].phase = .inflight
            admittedCount += 1
            return e.slot
        }
        return nil
    }

    /// `inflight` <-> `held` (both admitted).
    mutating func setHeld(_ slot: UInt32, _ held: Bool) {
        slots[Int(slot)].phase = held ? .held : .inflight
    }

    /// Any sending phase -> `failed`.
    mutating func markFailed(_ slot: UInt32, _ reason: FailureReason) {
        let phase = slots[Int(slot)].phase
        if phase == .inflight || phase == .held { admittedCount -= 1 }
        if phase == .waiting || phase == .inflight || phase == .held { queuedCount -= 1 }
        slots[Int(slot)].phase = .failed
        failures[slot] = reason
        compactQueueIfSparse()
    }

    /// `failed` -> `waiting` at the back of the queue, with a fresh attempt budget.
    mutating func requeue(_ slot: UInt32, ageStart: UInt64) {
        failures[slot] = nil
        update(slot) { s in
            s.attempts = 0
            s.ageStart = ageStart
        }
        enqueue(slot)
    }

    /// The connection is gone: every admitted message waits again, and the next admissions
    /// start from the oldest unacked message, in the original order.
    mutating func unadmitAll() -> [UInt32] {
        var unadmitted: [UInt32] = []
        for i in queueHead..<admitCursor {
            let e = queue[i]
            let s = slots[Int(e.slot)]
            guard e.matches(s), s.isAdmitted else { continue }
            slots[Int(e.slot)].phase = .waiting
            unadmitted.append(e.slot)
        }
        admittedCount = 0
        admitCursor = queueHead
        return unadmitted
    }

    /// The slots of every `waiting` message, in queue order.
    func waitingSlots() -> [UInt32] {
        var out: [UInt32] = []
        for i in queueHead..<queue.count {
            let e = queue[i]
            let s = slots[Int(e.slot)]
            if e.matches(s) && s.phase == .waiting { out.append(e.slot) }
        }
        return out
    }

    /// Every message in the outbox, sending ones in queue order, then failed ones.
    func allSlots() -> [UInt32] {
        var out: [UInt32] = []
        for i in queueHead..<queue.count {
            let e = queue[i]
            let s = slots[Int(e.slot)]
            if e.matches(s) && s.phase != .free && s.phase != .failed { out.append(e.slot) }
        }
        for i in 0..<slots.count where slots[i].phase == .failed { out.append(UInt32(i)) }
        return out
    }

    /// Raises the order counter above a restored message's.
    mutating func noteRestoredOrder(_ order: UInt64) {
        nextOrder = max(nextOrder, order + 1)
    }

    // MARK: internals

    private mutating func enqueue(_ slot: UInt32) {
        let order = nextOrder
        update(slot) { s in
            s.order = order
            s.phase = .waiting
        }
        queue.append(QueueEntry(slot: slot, order: order))
        nextOrder += 1
        queuedCount += 1
    }

    private mutating func compactQueueIfSparse() {
        // Drop dead entries at the front (never past the admit cursor's meaning: entries
        // before it are admitted or dead, so skipping dead ones keeps it valid).
        let head = queueHead
        queueHead = queue.withUnsafeBufferPointer { q in
            var i = head
            while i < q.count && !isLive(q[i]) { i += 1 }
            return i
        }
        if admitCursor < queueHead { admitCursor = queueHead }
        let stored = queue.count - queueHead
        guard stored > 64 && stored > queuedCount * 2 else {
            if queueHead == queue.count {
                // Drained (after nearly every ack at a steady rate): popping a few entries
                // is far cheaper than the generic removeAll.
                if queue.count <= 8 {
                    while queue.popLast() != nil {}
                } else {
                    queue.removeAll(keepingCapacity: queue.count <= 4096)
                }
                queueHead = 0
                admitCursor = 0
            }
            return
        }
        var kept: [QueueEntry] = []
        kept.reserveCapacity(queuedCount)
        var newCursor = 0
        for i in queueHead..<queue.count {
            if i == admitCursor { newCursor = kept.count }
            if isLive(queue[i]) { kept.append(queue[i]) }
        }
        if admitCursor >= queue.count { newCursor = kept.count }
        queue = kept
        queueHead = 0
        admitCursor = newCursor
    }

    /// The index hash of `id`; its low bits pick the home bucket.
    @inline(__always)
    static func hash(_ id: MessageID) -> UInt32 {
        // UUIDv7 ids carry 74 random bits; mix both halves anyway (ids may come from elsewhere).
        let h = (id.low ^ (id.high &* 0x9E37_79B9_7F4A_7C15)) &* 0xBF58_476D_1CE4_E5B9
        return UInt32(truncatingIfNeeded: h >> 32)
    }

    /// The home bucket of the message in `slot`, from the hash it keeps.
    @inline(__always)
    private func home(of slot: UInt32, mask: Int) -> Int {
        Int(slots[Int(slot)].hash) & mask
    }

    private mutating func insertIndex(_ slot: UInt32) {
        let mask = table.count - 1
        var i = home(of: slot, mask: mask)
        while table[i] != Self.empty { i = (i + 1) & mask }
        table[i] = slot
    }

    /// Takes `slot` out of the index: found by its number along its hash's probe chain, no
    /// id read.
    private mutating func removeIndex(_ slot: UInt32) {
        let mask = table.count - 1
        var i = home(of: slot, mask: mask)
        while true {
            let s = table[i]
            if s == Self.empty { return }
            if s == slot { break }
            i = (i + 1) & mask
        }
        // Backward-shift deletion keeps every probe chain unbroken without tombstones.
        var hole = i
        var j = i
        while true {
            j = (j + 1) & mask
            let s = table[j]
            if s == Self.empty { break }
            let home = home(of: s, mask: mask)
            // Move s into the hole when its home is not cyclically within (hole, j].
            let inRange = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j)
            if !inRange {
                table[hole] = s
                hole = j
            }
        }
        table[hole] = Self.empty
    }

    private mutating func grow() {
        let old = table
        table = Array(repeating: Self.empty, count: old.count * 2)
        for s in old where s != Self.empty { insertIndex(s) }
    }
}
