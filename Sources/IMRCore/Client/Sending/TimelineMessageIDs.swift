/// The outbox's view of its messages' ids: each is read from the message's record in its
/// conversation's timeline (the outbox keeps no copy).
///
/// It reaches the conversations through its engine without holding it: a view lives only
/// within one call on the engine, and holding the conversation list (or the engine) cost a
/// retain and a release, two atomic operations, per outbox lookup.
struct TimelineMessageIDs: OutboxMessageIDs {
    let engine: Unmanaged<ClientEngine>

    @inline(__always)
    func id(conversation: UInt32, live: UInt32) -> MessageID {
        engine._withUnsafeGuaranteedRef { $0.convs[Int(conversation)].timeline.messageID(at: Int(live)) }
    }
}

extension ClientEngine {
    var messageIDs: TimelineMessageIDs { TimelineMessageIDs(engine: .passUnretained(self)) }

    /// The outbox slot of message `id`, nil when the outbox does not hold it. An empty outbox
    /// (a device that only receives, or between a send's ack and the next send) answers
    /// without a probe.
    func outboxSlot(of id: MessageID) -> UInt32? {
        outgoing.count == 0 ? nil : outgoing.find(id, messageIDs)
    }
}
