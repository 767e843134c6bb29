/// Rebuilding the engine from its store: conversations with their cursor and clock,
/// timelines in live order, and the outbox in send order.
extension ClientEngine {
    func restore(_ snapshot: ClientStore.Snapshot) {
        if let u = snapshot.user, !u.isEmpty { user = u }
        for row in snapshot.conversations {
            let c = conversation(named: row.name)
            c.cursor = row.cursor
            c.knownHead = row.cursor
            c.deliveredSent = row.cursor
            c.clock = row.clock
            c.storeDirty = false
        }
        storeDirty.removeAll()
        for (name, entries) in snapshot.messages.sorted(by: { $0.key < $1.key }) {
            let c = conversation(named: name)
            for e in entries { c.timeline.insert(e) }
            // A clock row older than its messages (not expected) is repaired by merging.
            c.clockMayHaveGrown()
        }
        outgoing.noteRestoredOrder(snapshot.outbox.map(\.order).max() ?? 0)
        for row in snapshot.outbox {
            guard let ci = convIndex[row.conversation],
                  let live = convs[Int(ci)].timeline.liveIndex(of: row.id),
                  convs[Int(ci)].timeline.seq(at: live) == nil else {
                emit(.error(.store(SQLiteError(code: 11, message: "outbox row \(row.id) has no pending message"))))
                continue
            }
            let slot = outgoing.add(row.id, conversation: ci, live: UInt32(live), ageStart: row.ageStart,
                                    attempts: UInt16(clamping: row.attempts),
                                    wheel: &wheel, timerOwner: Self.ownerMessage)
            if let failure = row.failure { outgoing.markFailed(slot, failure) }
            restoredPending = true
        }
        for c in convs where c.storeDirty { storeDirty.append(c.index) }
    }
}
