/// Delivered/read receipts. A user's advance is noted, coalesced per (conversation, user) over
/// `receiptIntervalMs`, then told to the other members' online devices: to every one of them
/// in conversations of up to `receiptGroupLimit` members, and in larger ones only to the
/// members with a message the user had not yet passed (the receipts of their own messages).
/// The frames per interval then grow with the members, not with their square.
extension ServerEngine {
    /// `user`'s watermarks in `conversation` went from `before` to `after`.
    func noteReceipt(conversation: String, user: String, from before: WatermarkPair, to after: WatermarkPair, now: UInt64) {
        guard config.sendReceipts else { return }
        receipts.note(conversation: conversation, user: user, from: before, to: after,
                      dueAt: now.saturatingAdd(config.receiptIntervalMs))
    }

    /// A stored message: in a large conversation its sender will want receipts for it.
    func noteSent(_ message: StoredMessage, members: Membership) {
        guard config.sendReceipts, members.count > config.receiptGroupLimit else { return }
        receipts.recordSent(seq: message.seq, by: message.senderUser, in: message.conversation)
    }

    /// Sends the pending receipts once their interval has passed.
    func flushReceiptsIfDue(now: UInt64) {
        guard let due = receipts.dueAt, now >= due else { return }
        for pending in receipts.takePending() { sendReceipt(pending) }
    }

    /// Receipts are cumulative, so one dropped under backpressure is superseded by the next.
    private func sendReceipt(_ pending: ReceiptBoard.Pending) {
        let memberSet: Membership
        do {
            guard let m = try membership(pending.conversation), m.contains(pending.user) else { return }
            memberSet = m
        } catch {
            storeFailed(error, "reading members of \(pending.conversation)")
            return
        }
        let recipients: [String]
        if memberSet.count <= config.receiptGroupLimit {
            recipients = orderedMembers(pending.conversation, memberSet)
        } else {
            // Whose messages lie beyond where the user stood: the lower of the advanced marks.
            var passedFrom = UInt64.max
            if pending.to.delivered > pending.from.delivered { passedFrom = pending.from.delivered }
            if pending.to.read > pending.from.read { passedFrom = min(passedFrom, pending.from.read) }
            recipients = receipts.senders(in: pending.conversation, after: passedFrom, except: pending.user)
                .filter { memberSet.contains($0) }
        }
        let receipt = Receipt(conversation: pending.conversation, user: pending.user, deliveredSeq: pending.to.delivered,
                              readSeq: pending.to.read > 0 ? pending.to.read : nil)
        var bytes: [UInt8]?
        for member in recipients where !member.utf8.elementsEqual(pending.user.utf8) {
            guard let devices = online[ExactIdentifier(member)] else { continue }
            if bytes == nil { bytes = encode(.receipt(receipt)) }
            guard let bytes else { return }
            for id in devices {
                guard let d = sessions[id] else { continue }
                if enqueueDroppable(bytes: bytes, to: d, conversation: pending.conversation) {
                    counters.receiptsQueued += 1
                }
            }
        }
    }
}
