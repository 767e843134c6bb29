/// The sending leg: `sending -> sent` on the server's ack, `-> failed` when the budget is
/// spent, retransmission with backoff on a live connection only, the in-flight window,
/// and the per-conversation clock stamped into each message.
extension ClientEngine {
    // MARK: app commands

    /// Records a new message and queues it; returns its id (a UUIDv7 from the seeded
    /// generator and `now`). With a store, returns only after the message is committed.
    /// The message appears at once in the conversation's timeline (without a seq).
    public func send(conversation name: String, payload: [UInt8], now: UInt64) throws(ClientError) -> MessageID {
        try payload.withUnsafeBufferPointer { (bytes) throws(ClientError) in try send(conversation: name, payload: bytes, now: now) }
    }

    /// `send(conversation:payload:now:)` of bytes the caller keeps: they are copied into the
    /// timeline (the C ABI's path, which makes no array of them).
    public func send(conversation name: String, payload: UnsafeBufferPointer<UInt8>, now: UInt64) throws(ClientError) -> MessageID {
        let known = knownConversationIndex(name)
        let checked = known.map { i in withConversation(at: i) { $0.nameIsValid } } ?? false
        if !checked {
            do {
                try IdentifierRules.validate(name, field: "conversation", limits: config.limits)
            } catch {
                if case let .invalidIdentifier(_, problem) = error { throw .invalidConversation(problem) }
                throw .wire(error)
            }
        }
        guard !payload.isEmpty else { throw .emptyPayload }
        guard payload.count <= config.limits.maxPayloadBytes, payload.count <= serverMaxPayloadBytes else {
            throw .payloadTooLarge(payload.count, limit: min(config.limits.maxPayloadBytes, serverMaxPayloadBytes))
        }
        if let failure = storeFailure { throw .store(failure) }
        settle(now)
        let index = known ?? openConversation(name).index
        let (id, live) = try withConversation(at: index) { c throws(ClientError) in try stamp(c, payload: payload, now: now) }
        let slot = outgoing.add(id, conversation: index, live: UInt32(live), ageStart: now,
                                wheel: &wheel, timerOwner: Self.ownerMessage)
        statistics.messagesSent += 1
        if phase == .live { pump(now: now) } else { armAgeTimer(slot) }
        try finish(now: now)
        return id
    }

    /// Stamps a new own message into `c`: the next clock, a fresh id, committed to the store
    /// first when there is one, then the timeline. Returns the id and its live index.
    private func stamp(_ c: ConversationState, payload: UnsafeBufferPointer<UInt8>,
                       now: UInt64) throws(ClientError) -> (MessageID, Int) {
        // The conversation's clock is stamped in place (no copy of it per message); a store
        // that refuses the message gets the previous clock back.
        let previousClock = store != nil ? c.clock : nil
        // The id is drawn first: what its timeline insert reads first starts loading meanwhile.
        var id = newOwnID(for: c, now: now)
        c.incrementClock(config.nodeID)
        while true {
            // An id already in use can only come from a repeated seed (a store's messages from an
            // earlier run); draw again. Without a store the outbox holds only ids drawn here, and
            // the timeline insert below refuses an id this conversation already holds.
            if store != nil, outboxSlot(of: id) != nil || c.timeline.contains(id) {
                id = newOwnID(for: c, now: now)
                continue
            }
            if let store {
                // Durable first: if the commit fails, nothing changed.
                let entry = TimelineEntry(messageID: id, seq: nil, serverTimeMs: nil, senderUser: user,
                                          senderNode: config.nodeID, clock: c.clock, payload: Array(payload))
                do {
                    try store.insertMessage(conversation: c.name, index: c.timeline.count, entry)
                    try store.saveOutbox(.init(id: id, conversation: c.name, order: outgoing.nextOrder, ageStart: now,
                                               attempts: 0, failure: nil))
                    try store.saveConversation(name: c.name, cursor: c.cursor, clock: c.clock)
                    try store.commit()
                } catch {
                    store.rollback()
                    if let previousClock { c.clock = previousClock }
                    throw .store(error)
                }
                if c.storeDirty { c.storeDirty = false; storeDirty.removeAll { $0 == c.index } }
            }
            // Without a store the timeline answers the uniqueness question itself.
            if let live = c.insertOwnMessage(id, senderUser: user, senderNode: config.nodeID, payload: payload) {
                return (id, live)
            }
            id = newOwnID(for: c, now: now)
        }
    }

    /// A fresh id (UUIDv7 from the seeded generator and `now`) for a message of `c`; the
    /// timeline starts loading what its insert will read first.
    private func newOwnID(for c: ConversationState, now: UInt64) -> MessageID {
        let id = MessageID.uuidV7(unixMilliseconds: now, using: &rng)
        c.timeline.prefetch(id)
        return id
    }

    /// Sends a `failed` message again with the same id (and clock), with a fresh attempt
    /// budget, behind the messages already waiting.
    public func retry(_ id: MessageID, now: UInt64) throws(ClientError) {
        guard let slot = outboxSlot(of: id) else { throw .unknownMessage(id) }
        guard outgoing[slot].phase == .failed else { throw .notFailed(id) }
        if let failure = storeFailure { throw .store(failure) }
        settle(now)
        let s = outgoing[slot]
        let name = convs[Int(s.conversation)].name
        if let store {
            do {
                try store.saveOutbox(.init(id: id, conversation: name, order: outgoing.nextOrder, ageStart: now,
                                           attempts: 0, failure: nil))
                try store.commit()
            } catch {
                store.rollback()
                throw .store(error)
            }
        }
        outgoing.requeue(slot, ageStart: now)
        statistics.manualRetries += 1
        emit(.stateChanged(id: id, conversation: name, state: .sending))
        if phase == .live { pump(now: now) } else { armAgeTimer(slot) }
        try finish(now: now)
    }

    // MARK: frames

    func handleAck(_ ack: SendAck, now: UInt64) throws(ClientError) {
        guard let slot = outboxSlot(of: ack.messageID) else {
            // Already sent (an answer to a retransmission) or never ours.
            if let ci = convIndex[ack.conversation], case let t = convs[Int(ci)].timeline,
               let live = t.liveIndex(of: ack.messageID), t.senderNode(at: live) == config.nodeID, t.seq(at: live) != nil {
                statistics.duplicateAcks += 1
            } else {
                statistics.unknownAcks += 1
            }
            return
        }
        try withConversation(at: outgoing[slot].conversation) { c throws(ClientError) in
            // Decoded names are NFC (the codec refuses others), so `==` compares their bytes.
            guard c.name == ack.conversation else {
                statistics.mismatchedAcks += 1
                throw .ackConversationMismatch(ack.messageID, expected: c.name, got: ack.conversation)
            }
            guard ack.seq > 0 else {
                statistics.invalidMessages += 1
                throw .invalidSeq(conversation: ack.conversation, seq: 0)
            }
            statistics.acks += 1
            markSent(slot, id: ack.messageID, seq: ack.seq, serverTimeMs: ack.serverTimeMs, now: now)
            // The ack also tells the receiving leg that this seq is held here.
            markHeld(c, seq: ack.seq, now: now)
        }
    }

    func handleReject(_ reject: SendReject, now: UInt64) throws(ClientError) {
        guard let slot = outboxSlot(of: reject.messageID) else {
            statistics.unknownAcks += 1
            return
        }
        let s = outgoing[slot]
        let name = convs[Int(s.conversation)].name
        guard name == reject.conversation else {   // decoded, so NFC: `==` is byte equality
            statistics.mismatchedAcks += 1
            throw .ackConversationMismatch(reject.messageID, expected: name, got: reject.conversation)
        }
        statistics.rejects += 1
        // A reject of a transmission from an earlier connection (or of a failed message) changes nothing.
        guard s.isAdmitted else { return }
        if let after = reject.retryAfterMs {
            if Int(s.attempts) >= config.maxAttempts {
                fail(slot, .attemptsExhausted, now: now)
            } else {
                outgoing.setHeld(slot, true)
                wheel.arm(s.timer, at: now.saturatingAdd(after))
            }
        } else {
            fail(slot, .rejected(reject.code), now: now)
        }
    }

    // MARK: transitions

    /// Any state -> `sent`: the message leaves the outbox; its timeline entry gets the seq.
    /// `id` is the message's: the caller found `slot` by it (no second read from the timeline).
    func markSent(_ slot: UInt32, id: MessageID, seq: UInt64, serverTimeMs: UInt64, now: UInt64) {
        let attempts = outgoing[slot].attempts
        let phase = outgoing[slot].phase
        withConversation(at: outgoing[slot].conversation) { c in
            wheel.cancel(outgoing[slot].timer)
            let live = c.timeline.confirm(id, at: Int(outgoing[slot].live), seq: seq, serverTimeMs: serverTimeMs) ?? -1
            outgoing.remove(slot)
            if store != nil {
                persist { store throws(SQLiteError) in
                    try store.deleteOutbox(id)
                    if live >= 0 { try store.confirmMessage(conversation: c.name, index: live, seq: seq, serverTimeMs: serverTimeMs) }
                }
            }
            if config.sentRetention > 0 {
                rememberSent(SentRecord(id: id, conversation: c.index, attempts: attempts, seq: seq, serverTimeMs: serverTimeMs))
            }
            emit(.stateChanged(id: id, conversation: c.name, state: .sent(seq: seq, serverTimeMs: serverTimeMs)))
            emit(.ownMessageConfirmed(conversation: c.name, id: id, seq: seq, serverTimeMs: serverTimeMs, liveIndex: live))
        }
        if phase == .inflight || phase == .held { pump(now: now) }
    }

    /// `sending -> failed`.
    func fail(_ slot: UInt32, _ reason: FailureReason, now: UInt64) {
        let s = outgoing[slot]
        let id = outgoing.id(of: slot, messageIDs)
        wheel.cancel(s.timer)
        let wasAdmitted = s.isAdmitted
        outgoing.markFailed(slot, reason)
        statistics.failures += 1
        let name = convs[Int(s.conversation)].name
        persist { store throws(SQLiteError) in
            try store.saveOutbox(.init(id: id, conversation: name, order: s.order, ageStart: s.ageStart,
                                       attempts: UInt32(s.attempts), failure: reason))
        }
        emit(.stateChanged(id: id, conversation: name, state: .failed(reason)))
        if wasAdmitted { pump(now: now) }
    }

    /// Admits waiting messages, in send order, while the window has room (live connection only).
    func pump(now: UInt64) {
        guard phase == .live else { return }
        while outgoing.admittedCount < window, let slot = outgoing.admitNext() {
            transmit(slot, now: now)
        }
    }

    /// One transmission on the live connection: counts an attempt and arms the ack timer.
    /// The frame carries the message's original id and clock.
    func transmit(_ slot: UInt32, now: UInt64) {
        if outgoing[slot].attempts < .max { outgoing[slot].attempts += 1 }
        let attempts = Int(outgoing[slot].attempts)
        txQueue.append(.message(conversation: outgoing[slot].conversation, live: outgoing[slot].live))
        statistics.transmissions += 1
        if attempts > 1 { statistics.retransmissions += 1 }
        wheel.arm(outgoing[slot].timer, at: now.saturatingAdd(backoff(base: config.ackTimeoutBaseMs, attempt: attempts)))
    }

    func armAgeTimer(_ slot: UInt32) {
        let s = outgoing[slot]
        wheel.arm(s.timer, at: s.ageStart.saturatingAdd(config.maxOfflineAgeMs))
    }

    func messageTimerFired(slot: UInt32, now: UInt64) {
        let s = outgoing[slot]
        switch s.phase {
        case .inflight:
            // The ack timeout: retransmit, or give up when the budget is spent.
            if Int(s.attempts) >= config.maxAttempts { fail(slot, .attemptsExhausted, now: now) } else { transmit(slot, now: now) }
        case .held:
            // A send-reject's retry-after has passed.
            if Int(s.attempts) >= config.maxAttempts {
                fail(slot, .attemptsExhausted, now: now)
            } else {
                outgoing.setHeld(slot, false)
                transmit(slot, now: now)
            }
        case .waiting:
            guard phase != .live else { return }
            if now >= s.ageStart.saturatingAdd(config.maxOfflineAgeMs) { fail(slot, .maxOfflineAge, now: now) } else { armAgeTimer(slot) }
        case .failed, .free:
            break
        }
    }

    // MARK: connection

    /// After the welcome: waiting messages lose their age timers and go out in order.
    func resumeSendingLeg(now: UInt64) {
        for slot in outgoing.waitingSlots() { wheel.cancel(outgoing[slot].timer) }
        pump(now: now)
    }

    /// The connection dropped: everything admitted waits again (to be resent first, in
    /// order), and every waiting message ages toward `maxOfflineAgeMs`.
    func dropSendingLeg(now: UInt64) {
        _ = outgoing.unadmitAll()
        for slot in outgoing.waitingSlots() { armAgeTimer(slot) }
    }

    private func rememberSent(_ record: SentRecord) {
        guard config.sentRetention > 0 else { return }
        if recentSent.count < config.sentRetention {
            recentSent.append(record)
        } else {
            recentSent[recentSentNext] = record
            recentSentNext = (recentSentNext + 1) % config.sentRetention
        }
    }
}
