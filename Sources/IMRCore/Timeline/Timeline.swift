/// The messages of one conversation on one device, with two views:
///
/// - **live**: arrival order. Each insert appends and returns its live index; nothing already
///   shown ever moves.
/// - **history**: a linear extension of happened-before; concurrent messages ordered by
///   (causal depth, seq, message id), see `HistoryKey`. Every device holding the same
///   messages (with the same seqs) builds the identical history. With `.arrival`, history
///   is the live view (the original design's fallback).
///
/// The history order is maintained incrementally on every insert (an order-statistic B+
/// tree, `HistoryIndex`: O(log n) per insert whatever the arrival order), so `history()` is
/// a linear copy and `historyIndex(of:)` / `historyEntry(at:)` are O(log n). A confirm that
/// sequences a pending message moves it in the history (O(log n)), never in the live view.
///
/// Causal context: `causalContext(of:)` finds the latest messages the sender had seen
/// through the message's own clock and an index (sender node, sender's own counter) →
/// message, in O(k · (k + c)) for a clock of k entries and candidate clocks of c entries,
/// independent of the timeline's size. `isLateReply(_:)` is decided at insert against the
/// merged clock of everything shown before (O(k) per insert).
///
/// Cost per insert: O(k) for a clock of k entries plus O(log n); about 1 µs for a 20-entry
/// clock in a million-message timeline (`imrctl bench --only ordering`). Memory per message:
/// a 64-byte record, its payload bytes and 16 bytes per clock entry packed in chunks, and
/// about 30 bytes of indexes (id table, history leaf item, sender index): about 115 bytes
/// beyond the payload for a one-entry clock (`imrctl bench --only client`).
public struct Timeline: Sendable {
    public let order: HistoryOrder
    /// Per live index: the message's fixed-size record. Payload and clock live in the span
    /// stores, its sender's user id and node in `senders`: a message costs no allocation of its own
    /// and no reference count.
    private var records = PagedArray<Record>()
    private var payloads = SpanStore<UInt8>(chunkCapacity: 64 << 10)
    private var clocks = SpanStore<VectorClock.Entry>(chunkCapacity: 4 << 10)
    /// Senders (user id and node), each once; records name them by index.
    private var senders = SenderTable()
    /// The high words of the depths that need one (live index -> high; nearly always empty).
    private var wideDepths: [Int: UInt64] = [:]
    /// Message id → live index.
    private var ids = MessageIDTable()
    /// Live indices sorted by history key (maintained only for `.causal`).
    private var ordered = HistoryIndex()
    /// Per node: the merged knowledge (highest counter in any clock held) and the index
    /// of its list in `sent`.
    private var nodes = NodeTable()
    /// The exact depth of the merged knowledge.
    private var knowledgeDepth = CausalDepth.zero
    /// Per sender node (indexed through `nodes`): its messages held, by the sender's own counter.
    private var sent: [SenderMessages] = []

    /// One message: 64 bytes. Its payload and clock are runs in the span stores, named by
    /// chunk, offset and count (an offset fits 16 bits: payload chunks hold 64 KiB, clock
    /// chunks 4,096 entries, whose offset leaves 4 bits for the flags).
    private struct Record: Sendable {
        var id: MessageID
        /// `UInt64.max` while pending (the history key's convention), see `hasSeq`.
        var seq: UInt64
        var serverTimeMs: UInt64
        /// The causal depth's low word; the high word is in `wideDepths` when `wideDepth`.
        var depthLow: UInt64
        var payloadChunk: UInt32
        var payloadCount: UInt32
        var clockChunk: UInt32
        var clockCount: UInt32
        /// User and node, in `senders`.
        var sender: UInt32
        var payloadOffset: UInt16
        /// Low 12 bits: the clock's offset in its chunk; high 4 bits: `Flags`.
        var clockOffsetAndFlags: UInt16

        init(id: MessageID, seq: UInt64, serverTimeMs: UInt64, depthLow: UInt64, payload: SpanStore<UInt8>.Span,
             clock: SpanStore<VectorClock.Entry>.Span, sender: UInt32, flags: Flags) {
            self.id = id
            self.seq = seq
            self.serverTimeMs = serverTimeMs
            self.depthLow = depthLow
            payloadChunk = payload.chunk
            payloadCount = payload.count
            payloadOffset = UInt16(payload.offset)
            clockChunk = clock.chunk
            clockCount = clock.count
            precondition(clock.offset < 1 << 12)
            clockOffsetAndFlags = UInt16(clock.offset) | UInt16(flags.rawValue) << 12
            self.sender = sender
        }

        var payload: SpanStore<UInt8>.Span {
            SpanStore.Span(chunk: payloadChunk, offset: UInt32(payloadOffset), count: payloadCount)
        }

        var clock: SpanStore<VectorClock.Entry>.Span {
            SpanStore.Span(chunk: clockChunk, offset: UInt32(clockOffsetAndFlags & 0xFFF), count: clockCount)
        }

        var flags: Flags {
            get { Flags(rawValue: UInt8(clockOffsetAndFlags >> 12)) }
            set { clockOffsetAndFlags = clockOffsetAndFlags & 0xFFF | UInt16(newValue.rawValue) << 12 }
        }
    }

    /// Bytes of a message's record (its payload and clock entries are stored besides).
    static var recordBytes: Int { MemoryLayout<Record>.stride }

    private struct Flags: OptionSet, Sendable {
        let rawValue: UInt8
        static let hasSeq = Flags(rawValue: 1)
        static let hasServerTime = Flags(rawValue: 2)
        /// The sender had not seen everything shown before it (`isLateReply`).
        static let late = Flags(rawValue: 4)
        static let wideDepth = Flags(rawValue: 8)
    }

    @inline(__always)
    private func key(at live: Int) -> HistoryKey { Self.key(records[live], live: live, wideDepths: wideDepths) }

    @inline(__always)
    private static func key(_ r: Record, live: Int, wideDepths: [Int: UInt64]?) -> HistoryKey {
        let high = r.flags.contains(.wideDepth) ? wideDepths?[live] ?? 0 : 0
        return HistoryKey(depth: CausalDepth(high: high, low: r.depthLow), seq: r.seq, messageID: r.id)
    }

    /// The history keys of the records, for the history index (which holds live indices only).
    /// It reads the records through a view that holds no reference, so making one per index
    /// call costs no reference count; the records are not mutated while the index reads them.
    private struct RecordKeys: HistoryKeys {
        let records: PagedArray<Record>.View
        /// `wideDepths`, or nil while it is empty (nearly always): the view then holds no
        /// reference at all, so making one per index call costs no retain and release.
        let wideDepths: [Int: UInt64]?

        @inline(__always)
        func key(_ live: Int) -> HistoryKey { Timeline.key(records[live], live: live, wideDepths: wideDepths) }
    }

    private var recordKeys: RecordKeys { RecordKeys(records: records.view, wideDepths: wideDepths.isEmpty ? nil : wideDepths) }

    public init(order: HistoryOrder = .causal) {
        self.order = order
    }

    public var count: Int { records.count }

    @inline(__always)
    private func liveIndexOf(_ id: MessageID) -> Int? {
        var probe = ids.probe(id)
        while let candidate = ids.nextCandidate(&probe) {
            if records[candidate].id == id { return candidate }
        }
        return nil
    }

    public func contains(_ id: MessageID) -> Bool { liveIndexOf(id) != nil }

    /// A hint that `id` is about to be looked up or inserted: its id-table slot starts
    /// loading into cache. Call it as early as the id is known; it changes nothing.
    /// (Mutating in name only, as `encodedSend`: a timeline held by a class is reached in place.)
    @inline(__always)
    mutating func prefetch(_ id: MessageID) { ids.prefetch(id) }

    public func entry(_ id: MessageID) -> TimelineEntry? { liveIndexOf(id).map { entry(at: $0) } }

    /// The message at live index `live` (0 ..< count), copied out of the stores.
    public func entry(at live: Int) -> TimelineEntry {
        let r = records[live]
        return TimelineEntry(messageID: r.id, seq: r.flags.contains(.hasSeq) ? r.seq : nil,
                             serverTimeMs: r.flags.contains(.hasServerTime) ? r.serverTimeMs : nil,
                             senderUser: senders.user(r.sender), senderNode: senders.node(r.sender),
                             clock: storedClock(at: live), payload: payloads.array(r.payload))
    }

    /// The server's seq of the message at live index `live`; nil while it is a pending own message.
    public func seq(at live: Int) -> UInt64? {
        let r = records[live]
        return r.flags.contains(.hasSeq) ? r.seq : nil
    }

    /// The sending device of the message at live index `live`.
    public func senderNode(at live: Int) -> UInt64 { senders.node(records[live].sender) }

    /// The id of the message at live index `live`.
    public func messageID(at live: Int) -> MessageID { records[live].id }

    /// The encoded send frame of the message at live index `live`, built from the stores in
    /// place (its id, clock entries and payload), in the codec's scratch space (see
    /// `FrameCodec.encodeInScratch`).
    /// (Mutating in name only: a timeline held by a class is then reached in place, where a
    /// plain call copies the whole struct first.)
    mutating func encodedSend(at live: Int, conversation: String, checkedName: UnsafeMutablePointer<CChar>?,
                              codec: FrameCodec) throws(WireError) -> UnsafeBufferPointer<UInt8> {
        let r = records[live]
        return try clocks.withRun(r.clock) { (clock) throws(WireError) in
            try payloads.withRun(r.payload) { (payload) throws(WireError) in
                try codec.encodeSendInScratch(conversation: conversation, checkedName: checkedName, messageID: r.id,
                                              clock: clock, payload: payload)
            }
        }
    }

    /// The send frame of the message at live index `live`: its id, clock and payload.
    func sendFrame(at live: Int, conversation: String) -> Send {
        let r = records[live]
        return Send(conversation: conversation, messageID: r.id, clock: storedClock(at: live), payload: payloads.array(r.payload))
    }

    /// The clock of the message at live index `live`, copied out of the store.
    private func storedClock(at live: Int) -> VectorClock {
        VectorClock(canonicalEntries: clocks.array(records[live].clock))
    }

    /// The live index of `id` (its position in arrival order), nil when not held.
    public func liveIndex(of id: MessageID) -> Int? { liveIndexOf(id) }

    /// The union of every clock held: what this device knows of the conversation. O(n log n)
    /// in the number of nodes (built on demand).
    public var mergedClock: VectorClock { nodes.clock }

    /// Merges `mergedClock` into `clock`. (Mutating in name only, as `encodedSend`: read through
    /// the conversation that holds the timeline, the getter copied the whole timeline first.)
    mutating func mergeKnowledge(into clock: inout VectorClock) { clock.merge(nodes.clock) }

    /// Whether a message `id` from `node` with `clock` agrees with that sender's messages held
    /// here, as a sender's clock only grows from message to message: the clock names its
    /// sender, a newer counter comes with a clock after the latest message's, an older one
    /// (arriving late) with a clock before it, and the latest counter again only as the same id.
    /// Checked against the held record and clock in place, so it costs no copy and remembers
    /// across a restart. (Mutating in name only, as `encodedSend`.)
    mutating func admits(_ clock: borrowing VectorClock, from node: UInt64, id: MessageID) -> Bool {
        let counter = clock[node]
        guard counter > 0 else { return false }
        guard let list = nodes.list(of: node), list < sent.count, let latest = sent[list].latest else { return true }
        let held = records[latest.live]
        if counter == latest.counter { return held.id == id }
        let order = clock.entries.withUnsafeBufferPointer { new in
            clocks.withRun(held.clock) { old in VectorClock.compare(old, new) }
        }
        return order == (counter > latest.counter ? .before : .after)
    }

    // MARK: Insert and confirm

    /// Makes room in the id index for `capacity` messages in total, so that loading a known
    /// number of messages (a restart, a long sync) does not grow it step by step.
    public mutating func reserveCapacity(_ capacity: Int) {
        ids.reserveCapacity(capacity)
    }

    /// Appends a message not yet held and returns its live index; nil when the id is already held.
    @discardableResult
    public mutating func insert(_ entry: borrowing TimelineEntry) -> Int? {
        insert(entry, ordering: true)
    }

    private mutating func insert(_ entry: borrowing TimelineEntry, ordering: Bool) -> Int? {
        entry.payload.withUnsafeBufferPointer { payload in
            insert(messageID: entry.messageID, seq: entry.seq, serverTimeMs: entry.serverTimeMs, senderUser: entry.senderUser,
                   senderNode: entry.senderNode, clock: entry.clock, payload: payload, ordering: ordering)
        }
    }

    /// `insert(_:)` of a message given by its parts (the payload is copied in, so it may be
    /// the caller's buffer). `ordering: false` leaves the history index to the caller (bulk insert).
    mutating func insert(messageID: MessageID, seq: UInt64?, serverTimeMs: UInt64?, senderUser: String, senderNode: UInt64,
                         clock: borrowing VectorClock, payload: UnsafeBufferPointer<UInt8>, ordering: Bool = true) -> Int? {
        clock.withView { clock in
            insert(messageID: messageID, seq: seq, serverTimeMs: serverTimeMs, senderUser: senderUser, senderNode: senderNode,
                   clock: clock, payload: payload, ordering: ordering)
        }
    }

    /// The same, reading the clock through a view (the caller may hold the clock in place,
    /// unretained: see `VectorClock.withViewInPlace(_:)`).
    mutating func insert(messageID: MessageID, seq: UInt64?, serverTimeMs: UInt64?, senderUser: String, senderNode: UInt64,
                         clock: VectorClockView, payload: UnsafeBufferPointer<UInt8>, ordering: Bool = true) -> Int? {
        let live = records.count
        ids.reserveOne()
        var probe = ids.probe(messageID)
        while let candidate = ids.nextCandidate(&probe) {
            if records[candidate].id == messageID { return nil }
        }
        ids.fill(probe, value: live)
        let depth = clock.exactCausalDepth
        // Late: the sender had not seen everything shown before it. After the merge the
        // knowledge dominates the clock, so they are equal exactly when their depths are.
        let (increase, list) = nodes.merge(clock, sender: senderNode)
        knowledgeDepth.add(increase)
        var flags: Flags = []
        if knowledgeDepth != depth { flags.insert(.late) }
        if depth.high != 0 {
            flags.insert(.wideDepth)
            wideDepths[live] = depth.high
        }
        if seq != nil { flags.insert(.hasSeq) }
        if serverTimeMs != nil { flags.insert(.hasServerTime) }
        let own = clock[senderNode]
        let clockSpan = clocks.append(clock.entries)
        records.append(Record(id: messageID, seq: seq ?? .max, serverTimeMs: serverTimeMs ?? 0, depthLow: depth.low,
                              payload: payloads.append(payload), clock: clockSpan,
                              sender: senders.index(user: senderUser, node: senderNode, nodeNumber: list), flags: flags))
        if list == sent.count { sent.append(SenderMessages()) }
        sent[list].insert(counter: own, live: live)
        if ordering && order == .causal {
            ordered.insert(HistoryKey(depth: depth, seq: seq, messageID: messageID), live: live, keys: recordKeys)
        }
        return live
    }

    /// Inserts messages in order, exactly as `insert(_:)` one by one would, and returns each
    /// one's live index (nil for an id already held). Room is reserved first; a batch that
    /// is large next to what the timeline holds (a restart's reload, a long sync) has its
    /// history order built by one sort and merge instead of one tree insert per message.
    @discardableResult
    public mutating func insert(contentsOf newEntries: some Collection<TimelineEntry>) -> [Int?] {
        reserveCapacity(records.count + newEntries.count)
        let bulk = order == .causal && newEntries.count >= 1024 && newEntries.count * 4 >= records.count
        guard bulk else { return newEntries.map { insert($0) } }
        let first = records.count
        let indices = newEntries.map { insert($0, ordering: false) }
        let keys = recordKeys
        var added = (first..<records.count).map { HistoryIndex.Item(key: keys.key($0), live: $0) }
        added.sort { $0.key < $1.key }
        var held: [HistoryIndex.Item] = []
        held.reserveCapacity(ordered.count)
        ordered.forEach { held.append(HistoryIndex.Item(key: keys.key($0), live: $0)) }
        var all: [HistoryIndex.Item] = []
        all.reserveCapacity(held.count + added.count)
        var i = 0, j = 0
        while i < held.count || j < added.count {
            if j == added.count || (i < held.count && held[i].key < added[j].key) {
                all.append(held[i]); i += 1
            } else {
                all.append(added[j]); j += 1
            }
        }
        ordered = HistoryIndex(sorted: all)
        return indices
    }

    /// Records the server's seq and time for a pending own message. Returns its live index.
    /// The message's history position may change (a pending message sorts after every
    /// sequenced one of its depth); its live index never does.
    @discardableResult
    public mutating func confirm(_ id: MessageID, seq: UInt64, serverTimeMs: UInt64) -> Int? {
        guard let i = liveIndexOf(id) else { return nil }
        return confirm(id, at: i, seq: seq, serverTimeMs: serverTimeMs)
    }

    /// `confirm(_:seq:serverTimeMs:)` of a message whose live index the caller kept (the
    /// outbox does), without the id lookup; nil, changing nothing, when `live` does not hold `id`.
    @discardableResult
    public mutating func confirm(_ id: MessageID, at i: Int, seq: UInt64, serverTimeMs: UInt64) -> Int? {
        guard i >= 0 && i < records.count && records[i].id == id else { return nil }
        let old = key(at: i)
        var new = old
        new.seq = seq
        // The history index reads keys from the records: it moves the message under its old
        // key, the record changes, then (when it could not stay in place) it goes back in.
        let reinsert = order == .causal && new != old && !ordered.replaceInPlace(old, with: new, keys: recordKeys)
        if reinsert { ordered.remove(old, keys: recordKeys) }
        let writable = records.mutableView()        // one uniqueness check for the three writes
        writable[i].seq = seq
        writable[i].serverTimeMs = serverTimeMs
        writable[i].flags.formUnion([.hasSeq, .hasServerTime])
        if reinsert { ordered.insert(new, live: i, keys: recordKeys) }
        return i
    }

    // MARK: Views

    /// Arrival order.
    public var live: [TimelineEntry] { live(in: 0..<records.count) }

    /// Causal order (or arrival order with `.arrival`). A linear copy of the kept order.
    public func history() -> [TimelineEntry] { history(in: 0..<records.count) }

    /// `live[range]` without building the rest: a page of the arrival order.
    public func live(in range: Range<Int>) -> [TimelineEntry] {
        precondition(range.lowerBound >= 0 && range.upperBound <= records.count, "live range out of bounds")
        return range.map { entry(at: $0) }
    }

    /// `history()[range]` without building the rest: a page of the history order, found in
    /// O(log n) and then read in order (paging through n messages costs O(n), not O(n²)).
    public func history(in range: Range<Int>) -> [TimelineEntry] {
        guard order == .causal else { return live(in: range) }
        var out: [TimelineEntry] = []
        out.reserveCapacity(range.count)
        ordered.forEach(in: range) { out.append(entry(at: $0)) }
        return out
    }

    /// The live indices of the messages in history order (cheaper than `history()`).
    public func historyLiveIndices() -> [Int] {
        guard order == .causal else { return Array(0..<records.count) }
        var out: [Int] = []
        out.reserveCapacity(records.count)
        ordered.forEach { out.append($0) }
        return out
    }

    /// The position of `id` in `history()`, nil when not held. O(log n).
    public func historyIndex(of id: MessageID) -> Int? {
        guard let i = liveIndexOf(id) else { return nil }
        guard order == .causal else { return i }
        return ordered.rank(of: key(at: i), keys: recordKeys)
    }

    /// The message at position `index` of `history()`. O(log n).
    public func historyEntry(at index: Int) -> TimelineEntry {
        precondition(index >= 0 && index < records.count, "history index out of range")
        guard order == .causal else { return entry(at: index) }
        return entry(at: ordered.live(at: index))
    }

    /// The history sort key of `id` (depth, seq, id), nil when not held.
    public func historyKey(of id: MessageID) -> HistoryKey? {
        liveIndexOf(id).map { key(at: $0) }
    }

    /// True when the sender of `id` had not seen every message shown before it in the live
    /// view: some message above it is concurrent with it (a reply written without seeing
    /// it) or happened after it (it arrived late). A UI marks such a message and can show
    /// `causalContext(of:)` as what it answers. Decided at insert, O(1) to read. A device's
    /// own message, stamped with everything the device holds, is never late. (A message's
    /// history position may also differ from its live one; compare `historyIndex(of:)`
    /// with `liveIndex(of:)` for that.)
    public func isLateReply(_ id: MessageID) -> Bool {
        liveIndexOf(id).map { records[$0].flags.contains(.late) } ?? false
    }

    // MARK: Causal context

    /// The latest messages the sender of `id` had seen when sending it (the maximal
    /// entries among those held that happened before it), in history-key order, so a UI
    /// can mark a late reply. Empty when nothing held precedes it (or `id` is not held).
    ///
    /// For each node of the message's clock the candidate is the node's held message with
    /// the highest own counter not above the clock's entry (for the sender itself: below
    /// its own); every held predecessor precedes one of these. A candidate is dropped when
    /// another candidate's clock has seen it. Cost O(k · (k + c)), independent of the
    /// timeline's size.
    public func causalContext(of id: MessageID) -> [MessageID] {
        guard let target = liveIndexOf(id) else { return [] }
        let clock = storedClock(at: target)
        let senderNode = senders.node(records[target].sender)

        // Candidates, sorted by node (the clock's order).
        var candidates: [(node: UInt64, counter: UInt64, live: Int)] = []
        for e in clock.entries {
            guard let list = nodes.list(of: e.node) else { continue }
            // The sender's own entry names the message itself: look below it.
            let own = e.node == senderNode
            if own && e.counter == 0 { continue }      // (canonical clocks have no zero)
            let bound = own ? e.counter - 1 : e.counter
            sent[list].forEachDescending(atMost: bound) { counter, live in
                if live == target { return true }
                let c = storedClock(at: live)
                // Guard against malformed clocks: a candidate must really precede.
                if clock.dominatesOrEquals(c) && c != clock {
                    candidates.append((e.node, counter, live))
                }
                return false
            }
        }
        if candidates.count <= 1 { return candidates.map { records[$0.live].id } }

        // Keep the maximal ones: candidate n precedes candidate m when m's clock has seen
        // n's own counter. One merge walk of each candidate's clock over the candidate list.
        var dominated = [Bool](repeating: false, count: candidates.count)
        for (mi, m) in candidates.enumerated() {
            let mc = storedClock(at: m.live).entries
            var ci = 0
            for e in mc {
                while ci < candidates.count && candidates[ci].node < e.node { ci += 1 }
                if ci == candidates.count { break }
                if candidates[ci].node == e.node && ci != mi && e.counter >= candidates[ci].counter {
                    dominated[ci] = true
                }
            }
        }
        var result: [(key: HistoryKey, id: MessageID)] = []
        for (ci, c) in candidates.enumerated() where !dominated[ci] {
            result.append((key(at: c.live), records[c.live].id))
        }
        result.sort { $0.key < $1.key }
        return result.map(\.id)
    }
}
