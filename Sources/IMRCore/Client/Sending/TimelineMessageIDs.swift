/// The outbox's view of its messages' ids: each is read from the message's record in its
/// conversation's timeline (the outbox keeps no copy).
struct TimelineMessageIDs: OutboxMessageIDs {
    let convs: [ConversationState]

    @inline(__always)
    func id(conversation: UInt32, live: UInt32) -> MessageID {
        convs[Int(conversation)].timeline.messageID(at: Int(live))
    }
}

extension ClientEngine {
    var messageIDs: TimelineMessageIDs { TimelineMessageIDs(convs: convs) }

    /// The outbox slot of message `id`, nil when the outbox does not hold it. An empty outbox
    /// (a device that only receives, or between a send's ack and the next send) answers
    /// without building the id view, which retains the conversation list.
    func outboxSlot(of id: MessageID) -> UInt32? {
        outgoing.count == 0 ? nil : outgoing.find(id, messageIDs)
    }
}
