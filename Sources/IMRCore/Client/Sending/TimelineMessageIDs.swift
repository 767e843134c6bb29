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
}
