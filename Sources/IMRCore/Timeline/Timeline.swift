/// The messages of one conversation on one device, with two views:
/// live (arrival order, nothing shown ever moves) and history (causal order,
/// identical on every device that holds the same messages).
///
/// NOTE: first version; the timeline work replaces the internals, keeping this API.
public struct Timeline: Sendable {
    public let order: HistoryOrder
    private var entries: [TimelineEntry] = []
    private var indexByID: [MessageID: Int] = [:]

    public init(order: HistoryOrder = .causal) {
        self.order = order
    }

    public var count: Int { entries.count }

    public func contains(_ id: MessageID) -> Bool { indexByID[id] != nil }

    public func entry(_ id: MessageID) -> TimelineEntry? { indexByID[id].map { entries[$0] } }

    /// Appends a message not yet held and returns its live index; nil when the id is already held.
    @discardableResult
    public mutating func insert(_ entry: TimelineEntry) -> Int? {
        guard indexByID[entry.messageID] == nil else { return nil }
        indexByID[entry.messageID] = entries.count
        entries.append(entry)
        return entries.count - 1
    }

    /// Records the server's seq and time for a pending own message. Returns its live index.
    @discardableResult
    public mutating func confirm(_ id: MessageID, seq: UInt64, serverTimeMs: UInt64) -> Int? {
        guard let i = indexByID[id] else { return nil }
        entries[i].seq = seq
        entries[i].serverTimeMs = serverTimeMs
        return i
    }

    /// Arrival order.
    public var live: [TimelineEntry] { entries }

    /// Causal order (or arrival order with `.arrival`).
    public func history() -> [TimelineEntry] {
        guard order == .causal else { return entries }
        return entries.sorted { a, b in
            let da = a.clock.causalDepth, db = b.clock.causalDepth
            if da != db { return da < db }
            let sa = a.seq ?? .max, sb = b.seq ?? .max
            if sa != sb { return sa < sb }
            return a.messageID < b.messageID
        }
    }

    /// The latest messages the sender of `id` had seen when sending it (the maximal
    /// entries among those that happened before it), so a UI can mark a late reply.
    public func causalContext(of id: MessageID) -> [MessageID] {
        guard let target = entry(id) else { return [] }
        let before = entries.filter { $0.clock.happenedBefore(target.clock) }
        return before.filter { candidate in
            !before.contains { other in candidate.clock.happenedBefore(other.clock) }
        }.map(\.messageID)
    }
}
