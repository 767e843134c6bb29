/// send -> rate limit -> membership -> idempotent store -> ack or reject -> fan-out.
extension ServerEngine {
    func handleSend(_ send: Send, _ s: Session, _ now: UInt64) {
        guard let user = s.user else { return }
        // A send handed in as a value may name an invalid conversation, which a reject could
        // not carry (it would not encode): the reject then names none, as for refused bytes.
        let validConversation = (try? IdentifierRules.validate(send.conversation, field: "conversation", limits: config.limits)) != nil
        func reject(_ code: RejectCode, retryAfterMs: UInt64? = nil, _ detail: String) {
            counters.rejected += 1
            if code == .rateLimited { counters.rateLimited += 1 }
            emit(.rejected(s.id, messageID: send.messageID, code: code))
            enqueue(.sendReject(SendReject(messageID: send.messageID, conversation: validConversation ? send.conversation : "",
                                           code: code, retryAfterMs: retryAfterMs, detail: detail)), to: s)
        }

        if let wait = s.bucket?.take(now: now) {
            reject(.rateLimited, retryAfterMs: max(1, wait), "rate limited: try again in \(max(1, wait)) ms")
            return
        }
        // Frames handed in already decoded have not met the codec's limits: check them here.
        guard send.payload.count <= config.limits.maxPayloadBytes else {
            reject(.payloadTooLarge, "payload of \(send.payload.count) bytes exceeds \(config.limits.maxPayloadBytes)")
            return
        }
        guard send.clock.count <= config.limits.maxClockEntries, validConversation else {
            reject(.invalid, "invalid conversation id or vector clock")
            return
        }

        var memberSet: Membership
        do {
            guard let m = try membership(send.conversation) else {
                reject(.unknownConversation, "no conversation \(send.conversation)")
                return
            }
            memberSet = m
            if !memberSet.contains(user) {
                // Before refusing, read the members afresh: another server sharing the store may
                // have added this user a moment ago.
                forgetMembership(send.conversation)
                if let fresh = try membership(send.conversation) { memberSet = fresh }
            }
        } catch {
            storeFailed(error, "reading members of \(send.conversation)")
            reject(.serverBusy, retryAfterMs: 1000, "server store unavailable")
            return
        }

        let outcome: AppendOutcome
        do {
            if !memberSet.contains(user) {
                // A former member retransmitting a message stored before its removal still gets
                // its ack; anyone else is refused.
                if let original = try store.message(in: send.conversation, id: send.messageID), original.senderUser == user {
                    outcome = .existing(original)
                } else {
                    reject(.notMember, "\(user) is not a member of \(send.conversation)")
                    return
                }
            } else {
                // The sender is the session's user and device; nothing in the frame says otherwise.
                try beginWrite()
                outcome = try store.append(NewMessage(
                    conversation: send.conversation, messageID: send.messageID, senderUser: user,
                    senderNode: s.node, clock: send.clock, payload: send.payload, serverTimeMs: serverTime(now)))
            }
        } catch {
            storeFailed(error, "storing a message in \(send.conversation)")
            reject(.serverBusy, retryAfterMs: 1000, "server store unavailable")
            return
        }

        switch outcome {
        case let .existing(original):
            guard original.senderUser == user else {
                reject(.idConflict, "message id already used by another sender in \(send.conversation)")
                return
            }
            counters.duplicates += 1
            emit(.duplicateAcknowledged(conversation: original.conversation, seq: original.seq, messageID: original.messageID))
            enqueue(.sendAck(SendAck(messageID: original.messageID, conversation: original.conversation, seq: original.seq,
                                     serverTimeMs: original.serverTimeMs, duplicate: true)), to: s)
        case let .stored(message):
            // The store has the message; the ack is released only once it is committed
            // (at once, or with group commit at the next drain).
            counters.accepted += 1
            emit(.accepted(conversation: message.conversation, seq: message.seq, messageID: message.messageID, sender: user))
            enqueue(.sendAck(SendAck(messageID: message.messageID, conversation: message.conversation, seq: message.seq,
                                     serverTimeMs: message.serverTimeMs, duplicate: false)), to: s)
            fanOut(message, members: orderedMembers(message.conversation, memberSet), except: s.id)
            noteSent(message, members: memberSet)
        }
    }

    /// A message another server stored in the shared store (its seq announced by the store):
    /// pushed to this engine's online member devices, as if it had been accepted here. A
    /// device that misses it still closes the gap by sync and head probe.
    public func deliverStoredElsewhere(conversation: String, seq: UInt64, now: UInt64) {
        guard seq > 0 else { return }
        do {
            guard let message = try store.messages(in: conversation, after: seq - 1, limit: 1).first, message.seq == seq,
                  let memberSet = try membership(conversation) else { return }
            // No session here sent it: every online member device gets it.
            fanOut(message, members: orderedMembers(conversation, memberSet), except: nil)
            noteSent(message, members: memberSet)
        } catch {
            storeFailed(error, "reading a message stored elsewhere in \(conversation)")
        }
    }

    /// Pushes a stored message to every online device of every member but the device that
    /// sent it (nil: a message accepted elsewhere, pushed to every device): its ack carries
    /// the seq, and the client holds the message from the ack. The sender's other devices get the push.
    func fanOut(_ message: StoredMessage, members: [String], except sender: SessionID?) {
        var bytes: [UInt8]?
        for member in members {
            guard let devices = online[ExactIdentifier(member)] else { continue }
            if bytes == nil { bytes = encode(.push(message)) }
            guard let bytes else { return }
            for id in devices where id != sender {
                guard let d = sessions[id] else { continue }
                if enqueueDroppable(bytes: bytes, to: d, conversation: message.conversation) {
                    counters.pushesQueued += 1
                } else {
                    counters.pushesDropped += 1
                }
            }
        }
    }
}
