/// The receiving leg: per-conversation cursor with dedup, out-of-order buffer and gaps;
/// paged sync (after connect, for gaps, after a probe finds news) with one request in
/// flight per conversation; head probes; delivered watermarks; own-echo merge by id.
extension ClientEngine {
    // MARK: frames

    func handlePush(_ m: StoredMessage, now: UInt64) throws(ClientError) {
        guard m.seq > 0 else {
            statistics.invalidMessages += 1
            throw .invalidSeq(conversation: m.conversation, seq: m.seq)
        }
        // A push for an unknown conversation opens it (the server knows we are a member).
        withConversation(at: conversationIndex(named: m.conversation)) { c in
            // The timeline looks the id up after the cursor and clock checks: start loading its slot now.
            c.timeline.prefetch(m.messageID)
            receive(c, m, now: now)
        }
    }

    func handleSyncResponse(_ r: SyncResponse, now: UInt64) throws(ClientError) {
        guard let ci = convIndex[r.conversation] else {
            statistics.invalidSyncPages += 1
            throw .invalidSyncPage(conversation: r.conversation, .unsolicited)
        }
        let c = convs[Int(ci)]
        // Validate the whole page before touching anything.
        let limit = max(Int(c.syncInFlight?.limit ?? 0), Int(pageLimit))
        guard r.messages.count <= limit else {
            statistics.invalidSyncPages += 1
            throw .invalidSyncPage(conversation: c.name, .oversize(count: r.messages.count, limit: limit))
        }
        var previous = r.afterSeq
        for m in r.messages {
            var problem: ClientError.SyncPageProblem?
            if m.conversation != c.name {
                problem = .foreignMessage(m.conversation)
            } else if m.seq <= r.afterSeq {
                problem = .overlapping(afterSeq: r.afterSeq, seq: m.seq)
            } else if m.seq <= previous {
                problem = .outOfOrder(previous: previous, next: m.seq)
            } else if m.seq != previous + 1 {
                problem = .hole(expected: previous + 1, got: m.seq)
            }
            if let problem {
                statistics.invalidSyncPages += 1
                throw .invalidSyncPage(conversation: c.name, problem)
            }
            previous = m.seq
        }

        if r.headSeq > c.knownHead { c.knownHead = r.headSeq }
        for m in r.messages { receive(c, m, now: now) }

        // A probe and a page can share `afterSeq`; an empty answer at the probe's seq is taken
        // as the probe's (if it was the page's, the page's timeout asks again).
        let probeAnswer = r.messages.isEmpty && c.probeAfter == r.afterSeq
        if probeAnswer { c.probeAfter = nil }
        if !probeAnswer, let request = c.syncInFlight, request.afterSeq == r.afterSeq {
            // The answer to the page in flight.
            c.syncInFlight = nil
            wheel.cancel(c.timer)
            statistics.syncPages += 1
            c.cyclePages = (c.cyclePages ?? 0) + 1
            continueSync(c, hasMore: r.hasMore, now: now)
        } else {
            if !probeAnswer { statistics.staleSyncResponses += 1 }
            if !c.isSyncing && c.cursor < c.knownHead {
                // A probe (or a late page) shows messages we lack that no push announced: a gap.
                noteGap(c, now: now)
                startSync(c, now: now)
            }
        }
    }

    // MARK: the cursor

    /// A message of `c` from a push or a sync page: dropped at or below the cursor (or when
    /// already held above it), otherwise shown at once (live view: arrival order) and then
    /// accounted for by the cursor.
    func receive(_ c: ConversationState, _ m: StoredMessage, now: UInt64) {
        if m.seq <= c.cursor || c.heldAbove.contains(m.seq) {
            if m.seq > c.knownHead { c.knownHead = m.seq }
            statistics.duplicatesDropped += 1
            return
        }
        if m.seq > c.cursor + 1 && c.heldAbove.count >= config.maxBufferedPerConversation {
            // Too far ahead to hold: the sync that fills the gap brings it again.
            statistics.bufferOverflowDrops += 1
            if m.seq > c.knownHead { c.knownHead = m.seq }
            noteGap(c, now: now)
            return
        }
        apply(c, m, now: now)
        markHeld(c, seq: m.seq, now: now)
    }

    /// Seq `seq` of `c` is held here (received, or acked as our own): advance the cursor over
    /// every contiguous held seq, or remember it above a gap.
    func markHeld(_ c: ConversationState, seq: UInt64, now: UInt64) {
        if seq > c.knownHead { c.knownHead = seq }
        if seq <= c.cursor { return }
        if seq == c.cursor + 1 {
            c.cursor = seq
            if !c.heldAbove.isEmpty {
                while c.heldAbove.remove(c.cursor + 1) != nil { c.cursor += 1 }
            }
            cursorMoved(c, now: now)
        } else {
            if c.heldAbove.insert(seq).inserted { statistics.outOfOrderBuffered += 1 }
            noteGap(c, now: now)
        }
    }

    /// Takes `m` into the conversation: merges an own message with its pending copy by id,
    /// refuses a clock that goes backwards (the seq is still consumed), otherwise appends it
    /// to the timeline.
    private func apply(_ c: ConversationState, _ m: StoredMessage, now: UInt64) {
        if let slot = outboxSlot(of: m.messageID), outgoing[slot].conversation == c.index {
            // Our own message came back before its ack (or after it failed): sent, never shown twice.
            statistics.ownEchoesMerged += 1
            markSent(slot, id: m.messageID, seq: m.seq, serverTimeMs: m.serverTimeMs, now: now)
            return
        }
        guard c.timeline.admits(m.clock, from: m.senderNode, id: m.messageID) else {
            statistics.invalidMessages += 1
            emit(.error(.clockWentBackwards(conversation: c.name, node: m.senderNode, id: m.messageID)))
            return
        }
        // Inserted from the message's parts: a TimelineEntry would retain its payload, clock and
        // sender only to be dropped again (the store builds one for its row).
        let inserted = m.payload.withUnsafeBufferPointer { payload in
            c.timeline.insert(messageID: m.messageID, seq: m.seq, serverTimeMs: m.serverTimeMs, senderUser: m.senderUser,
                              senderNode: m.senderNode, clock: m.clock, payload: payload)
        }
        guard let live = inserted else {
            // Already held under this id.
            if let held = c.timeline.liveIndex(of: m.messageID), c.timeline.seq(at: held) == nil {
                // An own message restored without its outbox row: confirm it now.
                let i = c.timeline.confirm(m.messageID, seq: m.seq, serverTimeMs: m.serverTimeMs) ?? -1
                statistics.ownEchoesMerged += 1
                persist { store throws(SQLiteError) in
                    if i >= 0 { try store.confirmMessage(conversation: c.name, index: i, seq: m.seq, serverTimeMs: m.serverTimeMs) }
                }
                emit(.ownMessageConfirmed(conversation: c.name, id: m.messageID, seq: m.seq, serverTimeMs: m.serverTimeMs, liveIndex: i))
            } else if m.senderNode == config.nodeID {
                statistics.ownEchoesMerged += 1   // the echo of an own message already acked
            } else {
                statistics.duplicatesDropped += 1
            }
            return
        }
        statistics.messagesReceived += 1
        c.clockMayHaveGrown()
        if store != nil { persistReceived(c, m, at: live) }
        emit(.messageReceived(conversation: c.name, seq: m.seq, id: m.messageID, senderUser: m.senderUser,
                              senderNode: m.senderNode, payload: m.payload, clock: m.clock, liveIndex: live))
    }

    /// The store's row of a message just received. Apart (and never inlined) because the
    /// `TimelineEntry` it builds copies the message's arrays: inlined, the compiler took those
    /// copies before the insert on every path, a retain and a release of each array per push
    /// even without a store.
    @inline(never)
    private func persistReceived(_ c: ConversationState, _ m: StoredMessage, at live: Int) {
        persist { store throws(SQLiteError) in try store.insertMessage(conversation: c.name, index: live, TimelineEntry(m)) }
    }

    private func cursorMoved(_ c: ConversationState, now: UInt64) {
        markStoreDirty(c)
        if !c.deliveredDirty {
            c.deliveredDirty = true
            deliveredDirty.append(c.index)
        }
        guard let gap = c.gap, c.cursor >= gap.to else { return }
        c.gap = nil
        statistics.gapsFilled += 1
        emit(.gapFilled(conversation: c.name, from: gap.from, to: gap.to))
        if c.graceArmed {
            // A reordered push filled it within the grace period: no sync needed.
            c.graceArmed = false
            wheel.cancel(c.timer)
        }
        if c.cursor < c.knownHead { noteGap(c, now: now) }
    }

    /// Seqs above the cursor are known to exist but are missing: announce the gap (once) and
    /// give reordered pushes `gapGraceMs` before a sync fills it.
    func noteGap(_ c: ConversationState, now: UInt64) {
        guard c.knownHead > c.cursor else { return }
        var to = c.knownHead
        while to > c.cursor + 1 && c.heldAbove.contains(to) { to -= 1 }
        if let gap = c.gap {
            if to > gap.to { c.gap = (gap.from, to) }
        } else {
            c.gap = (c.cursor + 1, to)
            statistics.gapsOpened += 1
            emit(.gapOpened(conversation: c.name, from: c.cursor + 1, to: to))
        }
        if !c.isSyncing && !c.graceArmed && phase == .live {
            c.graceArmed = true
            wheel.arm(c.timer, at: now.saturatingAdd(config.gapGraceMs))
        }
    }

    // MARK: sync

    /// The page size asked for: the config's, lowered to the server's limit.
    var pageLimit: UInt32 {
        let server = serverMaxSyncPage
        return server > 0 ? min(config.syncPageSize, server) : config.syncPageSize
    }

    /// Starts a sync cycle from the cursor unless one runs (it then continues to the head anyway).
    func startSync(_ c: ConversationState, now: UInt64) {
        guard phase == .live else { return }
        if c.graceArmed {
            c.graceArmed = false
            wheel.cancel(c.timer)
        }
        guard c.cyclePages == nil else { return }
        c.cyclePages = 0
        statistics.syncs += 1
        emit(.syncStarted(conversation: c.name))
        requestPage(c, attempt: 1, now: now)
    }

    private func requestPage(_ c: ConversationState, attempt: Int, now: UInt64) {
        let limit = pageLimit
        c.syncInFlight = .init(afterSeq: c.cursor, limit: limit, attempt: attempt)
        txQueue.append(.frame(.syncRequest(SyncRequest(conversation: c.name, afterSeq: c.cursor, limit: limit))))
        statistics.syncRequests += 1
        wheel.arm(c.timer, at: now.saturatingAdd(backoff(base: config.syncTimeoutMs, attempt: attempt)))
    }

    /// After a page: next page while the server has more (or we are below its head), within
    /// the cycle's page budget.
    private func continueSync(_ c: ConversationState, hasMore: Bool, now: UInt64) {
        let pages = c.cyclePages ?? 0
        if hasMore || c.cursor < c.knownHead {
            if pages >= config.maxSyncPagesPerCycle {
                c.cyclePages = nil
                emit(.error(.syncPageLimit(conversation: c.name, pages: pages)))
                emit(.syncFinished(conversation: c.name))
                return
            }
            requestPage(c, attempt: 1, now: now)
        } else {
            c.cyclePages = nil
            emit(.syncFinished(conversation: c.name))
        }
    }

    func conversationTimerFired(_ c: ConversationState, now: UInt64) {
        if let request = c.syncInFlight {
            // The page never came: ask again (from the cursor, which pushes may have moved),
            // with a longer timeout.
            statistics.syncTimeouts += 1
            requestPage(c, attempt: request.attempt + 1, now: now)
        } else if c.graceArmed {
            c.graceArmed = false
            if c.cursor < c.knownHead { startSync(c, now: now) }
        }
    }

    // MARK: probes

    func probeAll(now: UInt64) {
        guard phase == .live else { return }
        for c in convs where !c.isSyncing {
            c.probeAfter = c.cursor
            txQueue.append(.frame(.syncRequest(SyncRequest(conversation: c.name, afterSeq: c.cursor, limit: 0))))
            statistics.headProbes += 1
        }
    }

    func pollTimerFired(now: UInt64) {
        probeAll(now: now)
        armPollTimer(now: now)
    }

    func armPollTimer(now: UInt64) {
        if phase == .live && config.pollIntervalMs > 0 {
            wheel.arm(pollTimer, at: now.saturatingAdd(config.pollIntervalMs))
        } else {
            wheel.cancel(pollTimer)
        }
    }

    // MARK: delivered watermarks

    /// One delivered frame (per 256 conversations) with the cursor of every conversation that
    /// moved since the last flush: cumulative and coalesced.
    func flushDelivered() {
        guard phase == .live, !deliveredDirty.isEmpty else { return }
        var marks: [Watermark] = []
        for ci in deliveredDirty {
            let c = convs[Int(ci)]
            c.deliveredDirty = false
            guard c.cursor > c.deliveredSent else { continue }
            c.deliveredSent = c.cursor
            marks.append(Watermark(conversation: c.name, deliveredSeq: c.cursor))
        }
        deliveredDirty.removeAll(keepingCapacity: true)
        var start = 0
        while start < marks.count {
            let end = min(marks.count, start + 256)
            txQueue.append(.frame(.delivered(Delivered(watermarks: Array(marks[start..<end])))))
            statistics.deliveredFrames += 1
            start = end
        }
    }

    // MARK: connection

    /// After the welcome: sync every listed conversation whose head is above our cursor and
    /// every conversation known here that the welcome does not list; resend watermarks; start
    /// the head probe.
    func resumeReceivingLeg(_ welcome: Welcome, now: UInt64) {
        var listed = Set<UInt32>()
        for head in welcome.conversations {
            let c = conversation(named: head.conversation)
            listed.insert(c.index)
            if head.headSeq > c.knownHead { c.knownHead = head.headSeq }
        }
        for c in convs {
            if c.cursor > 0 {
                c.deliveredSent = 0
                if !c.deliveredDirty {
                    c.deliveredDirty = true
                    deliveredDirty.append(c.index)
                }
            }
            if c.cursor < c.knownHead || !listed.contains(c.index) {
                startSync(c, now: now)
            }
        }
        armPollTimer(now: now)
    }

    /// The connection dropped: syncs in flight are abandoned (they restart after the next
    /// welcome); gaps and buffered pushes stay.
    func dropReceivingLeg(now: UInt64) {
        for c in convs {
            wheel.cancel(c.timer)
            c.graceArmed = false
            c.syncInFlight = nil
            c.probeAfter = nil
            if c.cyclePages != nil {
                c.cyclePages = nil
                emit(.syncFinished(conversation: c.name))
            }
        }
    }
}
