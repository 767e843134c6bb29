import Testing
@testable import IMRCore

@Suite struct ReceivingLegTests {
    /// A server log of conversation "c": message i has seq i, from node 100 + i % 3.
    let log: [StoredMessage] = (1...40).map { i in
        message("c", seq: UInt64(i), node: 100 + UInt64(i % 3), counter: UInt64(i))
    }

    func page(after: UInt64, limit: Int, head: UInt64? = nil) -> Frame {
        let h = head ?? UInt64(log.count)
        let msgs = Array(log.filter { $0.seq > after && $0.seq <= h }.prefix(limit))
        return .syncResponse(SyncResponse(conversation: "c", messages: msgs, headSeq: h,
                                          hasMore: (msgs.last?.seq ?? after) < h, afterSeq: after))
    }

    func ids(_ e: ClientEngine) -> [MessageID] { e.timeline("c")?.live.map(\.messageID) ?? [] }

    @Test func pushesAdvanceTheCursorAndDuplicatesAreDropped() throws {
        let e = try ClientEngine(config: testConfig())
        try e.goLive(now: 0)
        _ = e.drainEvents()
        try e.handle(.push(log[0]), now: 1)
        try e.handle(.push(log[1]), now: 2)
        try e.handle(.push(log[0]), now: 3)
        try e.handle(.push(log[1]), now: 3)
        #expect(e.cursor("c") == 2)
        #expect(e.stats.duplicatesDropped == 2)
        #expect(ids(e) == [log[0].messageID, log[1].messageID])
        let received = e.drainEvents().filter { if case .messageReceived = $0 { true } else { false } }
        #expect(received == [
            .messageReceived(conversation: "c", seq: 1, id: log[0].messageID, senderUser: log[0].senderUser, senderNode: log[0].senderNode,
                             payload: log[0].payload, clock: log[0].clock, liveIndex: 0),
            .messageReceived(conversation: "c", seq: 2, id: log[1].messageID, senderUser: log[1].senderUser, senderNode: log[1].senderNode,
                             payload: log[1].payload, clock: log[1].clock, liveIndex: 1),
        ])
        // The conversation clock merged both messages' clocks.
        #expect(e.clock("c")[101] == 1 && e.clock("c")[102] == 2)
    }

    @Test func gapIsFilledBySyncAfterTheGracePeriod() throws {
        let e = try ClientEngine(config: testConfig())
        try e.goLive(now: 0)
        _ = e.drainEvents()
        try e.handle(.push(log[0]), now: 1)
        try e.handle(.push(log[3]), now: 2)   // 2 and 3 missing
        #expect(e.cursor("c") == 1)
        #expect(e.drainEvents().contains(.gapOpened(conversation: "c", from: 2, to: 3)))
        #expect(e.drainFrames().compactMap(\.syncRequest).isEmpty)
        e.handleTimeout(now: 51)
        #expect(e.drainFrames().compactMap(\.syncRequest).isEmpty)
        e.handleTimeout(now: 52)
        let request = try #require(e.drainFrames().compactMap(\.syncRequest).first)
        #expect(request == SyncRequest(conversation: "c", afterSeq: 1, limit: 10))
        #expect(e.drainEvents() == [.syncStarted(conversation: "c")])
        try e.handle(page(after: 1, limit: 10, head: 4), now: 60)
        #expect(e.cursor("c") == 4)
        #expect(ids(e) == [log[0], log[3], log[1], log[2]].map(\.messageID))   // live: arrival order
        let events = e.drainEvents()
        #expect(events.contains(.gapFilled(conversation: "c", from: 2, to: 3)))
        #expect(events.last == .syncFinished(conversation: "c"))
        #expect(e.stats.duplicatesDropped == 1)   // seq 4 came again in the page
        #expect(e.nextTimeout == nil)
    }

    @Test func aReorderedPushThatFillsTheGapCancelsTheSync() throws {
        let e = try ClientEngine(config: testConfig())
        try e.goLive(now: 0)
        _ = e.drainEvents()
        try e.handle(.push(log[2]), now: 1)
        try e.handle(.push(log[1]), now: 2)
        try e.handle(.push(log[0]), now: 3)
        #expect(e.cursor("c") == 3)
        let events = e.drainEvents()
        #expect(events.contains(.gapOpened(conversation: "c", from: 1, to: 2)))
        #expect(events.contains(.gapFilled(conversation: "c", from: 1, to: 2)))
        #expect(e.stats.gapsOpened == 1 && e.stats.gapsFilled == 1)
        e.handleTimeout(now: 1_000)
        #expect(e.drainFrames().compactMap(\.syncRequest).isEmpty)
        #expect(e.stats.syncs == 0)
        #expect(e.nextTimeout == nil)
    }

    @Test func welcomeSyncsPageByPageUntilHasMoreIsFalse() throws {
        let e = try ClientEngine(config: testConfig())
        var requests = try e.goLive(now: 0, heads: [ConversationHead(conversation: "c", headSeq: 25)]).compactMap(\.syncRequest)
        var pages = 0
        while let r = requests.first {
            #expect(r.limit == 10)
            #expect(r.afterSeq == e.cursor("c"))
            try e.handle(page(after: r.afterSeq, limit: Int(r.limit), head: 25), now: 1)
            pages += 1
            requests = e.drainFrames().compactMap(\.syncRequest)
            #expect(requests.count <= 1)   // one sync in flight per conversation
        }
        #expect(pages == 3)
        #expect(e.cursor("c") == 25)
        #expect(ids(e) == log.prefix(25).map(\.messageID))
        let events = e.drainEvents()
        #expect(events.filter { $0 == .syncStarted(conversation: "c") }.count == 1)
        #expect(events.last == .syncFinished(conversation: "c"))
    }

    @Test func welcomeSyncsLocalConversationsButNotThoseAtTheirHead() throws {
        let e = try ClientEngine(config: testConfig())
        try e.handle(.push(log[0]), now: 0)              // "c" known locally, cursor 1
        try e.handle(.push(message("d", seq: 1, node: 7, counter: 1)), now: 0)
        let requests = try e.goLive(now: 1, heads: [ConversationHead(conversation: "c", headSeq: 1),
                                                    ConversationHead(conversation: "new", headSeq: 3)]).compactMap(\.syncRequest)
        #expect(Set(requests.map(\.conversation)) == ["d", "new"])
        #expect(e.conversations.contains("new"))
    }

    @Test func syncTimeoutIsRetriedWithBackoff() throws {
        let e = try ClientEngine(config: testConfig())
        try e.goLive(now: 0, heads: [ConversationHead(conversation: "c", headSeq: 5)])
        var times: [UInt64] = []
        var now: UInt64 = 0
        while times.count < 3, let t = e.nextTimeout {
            now = t
            e.handleTimeout(now: now)
            if let r = e.drainFrames().compactMap(\.syncRequest).first {
                #expect(r.afterSeq == 0)
                times.append(now)
            }
        }
        #expect(times == [500, 1_500, 2_500])   // 500, then 1000, then the 1000 cap
        #expect(e.stats.syncTimeouts == 3)
        try e.handle(page(after: 0, limit: 10, head: 5), now: now + 1)
        #expect(e.cursor("c") == 5)
    }

    @Test func aHeadProbeFindsALostLastMessage() throws {
        let e = try ClientEngine(config: testConfig { $0.pollIntervalMs = 1_000 })
        try e.goLive(now: 0)
        try e.handle(.push(log[0]), now: 1)
        _ = e.drainEvents(); _ = e.drainFrames()
        // The push of seq 2 was lost; nothing else arrives.
        e.handleTimeout(now: 999)
        #expect(e.drainFrames().isEmpty)
        e.handleTimeout(now: 1_000)
        let probe = try #require(e.drainFrames().compactMap(\.syncRequest).first)
        #expect(probe == SyncRequest(conversation: "c", afterSeq: 1, limit: 0))
        try e.handle(.syncResponse(SyncResponse(conversation: "c", messages: [], headSeq: 2, hasMore: true, afterSeq: 1)), now: 1_010)
        #expect(e.drainEvents() == [.gapOpened(conversation: "c", from: 2, to: 2), .syncStarted(conversation: "c")])
        let fill = try #require(e.drainFrames().compactMap(\.syncRequest).first)
        #expect(fill == SyncRequest(conversation: "c", afterSeq: 1, limit: 10))
        try e.handle(page(after: 1, limit: 10, head: 2), now: 1_020)
        #expect(e.cursor("c") == 2)
        #expect(e.stats.headProbes == 1)
        // The next probe follows a poll interval later; `probe(now:)` probes at once.
        e.probe(now: 1_500)
        #expect(e.drainFrames().compactMap(\.syncRequest) == [SyncRequest(conversation: "c", afterSeq: 2, limit: 0)])
        var now: UInt64 = 1_500
        while let t = e.nextTimeout, e.drainFrames().isEmpty {
            now = t
            e.handleTimeout(now: now)
        }
        #expect(now == 2_500)
    }

    @Test func ownMessagesComingBackMergeWithThePendingCopy() throws {
        let e = try ClientEngine(config: testConfig(node: 7) { $0.maxAttempts = 1 })
        try e.goLive(now: 0, user: "me")
        let a = try e.send(conversation: "c", payload: [1], now: 0)
        let b = try e.send(conversation: "c", payload: [2], now: 0)
        let sends = e.drainFrames().compactMap(\.send)
        _ = e.drainEvents()
        // Both fail (no ack within one attempt); a's echo arrives by push, b is found by a sync.
        func stored(_ s: Send, seq: UInt64) -> StoredMessage {
            StoredMessage(conversation: "c", seq: seq, serverTimeMs: 50 + seq, senderUser: "me", senderNode: 7,
                          messageID: s.messageID, clock: s.clock, payload: s.payload)
        }
        e.handleTimeout(now: 100)
        #expect(e.state(of: a) == .failed(.attemptsExhausted))
        #expect(e.state(of: b) == .failed(.attemptsExhausted))
        try e.handle(.push(stored(sends[0], seq: 1)), now: 101)
        #expect(e.state(of: a) == .sent(seq: 1, serverTimeMs: 51))
        // The failed b is found on the server by a sync: failed -> sent.
        try e.handle(.syncResponse(SyncResponse(conversation: "c", messages: [stored(sends[1], seq: 2)], headSeq: 2,
                                                hasMore: false, afterSeq: 1)), now: 102)
        #expect(e.state(of: b) == .sent(seq: 2, serverTimeMs: 52))
        try e.handle(.sendAck(SendAck(messageID: a, conversation: "c", seq: 1, serverTimeMs: 51)), now: 103)
        #expect(ids(e) == [a, b])
        #expect(e.timeline("c")!.live.map(\.seq) == [1, 2])
        let changes = e.drainEvents().compactMap(\.stateChange)
        #expect(changes.map(\.0) == [a, b, a, b])   // failed, failed, sent, sent: one event per change
        #expect(changes.map(\.1) == [.failed(.attemptsExhausted), .failed(.attemptsExhausted),
                                      .sent(seq: 1, serverTimeMs: 51), .sent(seq: 2, serverTimeMs: 52)])
        #expect(e.stats.ownEchoesMerged == 2 && e.stats.duplicateAcks == 1)
        #expect(e.cursor("c") == 2)
    }

    @Test func aSendCarriesEveryClockReceivedBeforeItAndNoRefusedOne() throws {
        let e = try ClientEngine(config: testConfig(node: 1))
        try e.goLive(now: 0)
        _ = e.drainFrames()
        // Two concurrent senders, then a refused message claiming more of node 7 than node 6 saw.
        try e.handle(.push(message("c", seq: 1, node: 5, counter: 3, clock: [.init(node: 7, counter: 2)])), now: 1)
        try e.handle(.push(message("c", seq: 2, node: 6, counter: 4, clock: [.init(node: 7, counter: 1)])), now: 1)
        try e.handle(.push(message("c", seq: 3, node: 6, counter: 5, clock: [.init(node: 5, counter: 1), .init(node: 7, counter: 1)])),
                     now: 1)
        try e.handle(.push(message("c", seq: 4, node: 5, counter: 2, id: 42, clock: [.init(node: 7, counter: 8)])), now: 1)
        #expect(e.stats.invalidMessages == 1)
        let expected: [VectorClock.Entry] = [.init(node: 1, counter: 1), .init(node: 5, counter: 3), .init(node: 6, counter: 5),
                                             .init(node: 7, counter: 2)]
        _ = try e.send(conversation: "c", payload: [1], now: 2)
        #expect(e.drainFrames().compactMap(\.send).map(\.clock.entries) == [expected])
        #expect(e.clock("c").entries == expected)
        // Received after the send: the next one carries it too, its own entry one higher.
        try e.handle(.push(message("c", seq: 5, node: 8, counter: 1, clock: [.init(node: 1, counter: 1)])), now: 3)
        #expect(e.clock("c")[8] == 1 && e.clock("c")[1] == 1)
        _ = try e.send(conversation: "c", payload: [2], now: 4)
        let second = e.drainFrames().compactMap(\.send).map(\.clock)
        #expect(second.count == 1 && second.first?[8] == 1 && second.first?[1] == 2 && second.first?[6] == 5)
    }

    @Test func messagesFromTheSameUsersOtherDeviceAppearLikeAnyOther() throws {
        let e = try ClientEngine(config: testConfig(node: 7))
        try e.goLive(now: 0, user: "me")
        var m = message("c", seq: 1, node: 8, counter: 1)
        m.senderUser = "me"
        try e.handle(.push(m), now: 1)
        #expect(e.timeline("c")?.live.map(\.senderUser) == ["me"])
        #expect(e.stats.messagesReceived == 1)
    }

    // MARK: bad input

    @Test func seqZeroIsRefusedAndChangesNothing() throws {
        let e = try ClientEngine(config: testConfig())
        var m = log[0]
        m.seq = 0
        #expect(throws: ClientError.invalidSeq(conversation: "c", seq: 0)) { try e.handle(.push(m), now: 0) }
        #expect(e.conversations.isEmpty)
        #expect(e.stats.invalidMessages == 1)
    }

    @Test func aClockThatGoesBackwardsIsDroppedWithoutStallingTheCursor() throws {
        let e = try ClientEngine(config: testConfig())
        try e.goLive(now: 0)
        _ = e.drainEvents()
        try e.handle(.push(message("c", seq: 1, node: 5, counter: 2, clock: [.init(node: 6, counter: 4)])), now: 1)
        // Node 5's next message claims to have seen less of node 6: impossible.
        let bad = message("c", seq: 2, node: 5, counter: 3, clock: [.init(node: 6, counter: 1)])
        try e.handle(.push(bad), now: 2)
        // Reusing a counter for another message is refused too; missing its own entry as well.
        try e.handle(.push(message("c", seq: 3, node: 5, counter: 2, id: 999, clock: [.init(node: 6, counter: 4)])), now: 3)
        var noOwn = message("c", seq: 4, node: 9, counter: 1)
        noOwn.senderNode = 10
        try e.handle(.push(noOwn), now: 4)
        // A legitimate reordering (an older message of node 5 after a newer one) is fine.
        try e.handle(.push(message("c", seq: 5, node: 5, counter: 1)), now: 5)
        #expect(e.cursor("c") == 5)
        #expect(e.stats.invalidMessages == 3)
        #expect(e.timeline("c")?.count == 2)
        #expect(e.drainEvents().filter { if case .error(.clockWentBackwards) = $0 { true } else { false } }.count == 3)
        #expect(e.clock("c")[6] == 4)
    }

    @Test(arguments: [
        ("out of order", [3, 2]),
        ("overlapping", [1, 2]),
        ("hole", [2, 4]),
    ]) func badSyncPagesAreRefusedAndRetriedAfterTheTimeout(_ name: String, _ seqs: [Int]) throws {
        let e = try ClientEngine(config: testConfig())
        try e.goLive(now: 0, heads: [ConversationHead(conversation: "c", headSeq: 5)])
        _ = try e.handle(page(after: 0, limit: 1, head: 5), now: 1)   // cursor 1; a page for after 1 is in flight
        _ = e.drainFrames()
        let bad = Frame.syncResponse(SyncResponse(conversation: "c", messages: seqs.map { log[$0 - 1] }, headSeq: 5,
                                                  hasMore: true, afterSeq: 1))
        #expect(throws: ClientError.self) { try e.handle(bad, now: 2) }
        #expect(e.cursor("c") == 1)
        #expect(e.stats.invalidSyncPages == 1)
        e.handleTimeout(now: 501)
        #expect(e.drainFrames().compactMap(\.syncRequest) == [SyncRequest(conversation: "c", afterSeq: 1, limit: 10)])
    }

    @Test func oversizeForeignAndUnsolicitedPagesAreRefused() throws {
        let e = try ClientEngine(config: testConfig())
        try e.goLive(now: 0, heads: [ConversationHead(conversation: "c", headSeq: 40)])
        #expect(throws: ClientError.invalidSyncPage(conversation: "c", .oversize(count: 11, limit: 10))) {
            try e.handle(.syncResponse(SyncResponse(conversation: "c", messages: Array(log[0..<11]), headSeq: 40, hasMore: true, afterSeq: 0)), now: 1)
        }
        #expect(throws: ClientError.invalidSyncPage(conversation: "c", .foreignMessage("d"))) {
            try e.handle(.syncResponse(SyncResponse(conversation: "c", messages: [message("d", seq: 1, node: 1, counter: 1)],
                                                    headSeq: 40, hasMore: true, afterSeq: 0)), now: 1)
        }
        #expect(throws: ClientError.invalidSyncPage(conversation: "zz", .unsolicited)) {
            try e.handle(.syncResponse(SyncResponse(conversation: "zz", messages: [], headSeq: 0, hasMore: false, afterSeq: 0)), now: 1)
        }
        #expect(e.cursor("c") == 0)
    }

    @Test func aSyncThatNeverEndsStopsAfterThePageBudget() throws {
        let e = try ClientEngine(config: testConfig { $0.maxSyncPagesPerCycle = 5 })
        var requests = try e.goLive(now: 0, heads: [ConversationHead(conversation: "c", headSeq: 1_000)]).compactMap(\.syncRequest)
        _ = e.drainEvents()
        var answered = 0
        while let r = requests.first {
            // A broken server: always "more", never any message.
            try e.handle(.syncResponse(SyncResponse(conversation: "c", messages: [], headSeq: 1_000, hasMore: true,
                                                    afterSeq: r.afterSeq)), now: 1)
            answered += 1
            if answered > 100 { break }
            requests = e.drainFrames().compactMap(\.syncRequest)
        }
        #expect(answered == 5)
        #expect(e.drainEvents() == [.error(.syncPageLimit(conversation: "c", pages: 5)), .syncFinished(conversation: "c")])
        #expect(e.cursor("c") == 0)
    }

    @Test func aPushForAnUnknownConversationOpensIt() throws {
        let e = try ClientEngine(config: testConfig())
        try e.handle(.push(message("fresh", seq: 1, node: 3, counter: 1)), now: 0)
        #expect(e.conversations == ["fresh"])
        #expect(e.cursor("fresh") == 1)
    }

    @Test func theOutOfOrderBufferIsBounded() throws {
        let e = try ClientEngine(config: testConfig { $0.maxBufferedPerConversation = 3 })
        try e.goLive(now: 0)
        for m in log[2..<8] { try e.handle(.push(m), now: 1) }
        #expect(e.stats.outOfOrderBuffered == 3 && e.stats.bufferOverflowDrops == 3)
        e.handleTimeout(now: 51)
        let r = try #require(e.drainFrames().compactMap(\.syncRequest).last)
        try e.handle(page(after: r.afterSeq, limit: 10, head: 8), now: 52)
        #expect(e.cursor("c") == 8)
        #expect(e.timeline("c")?.count == 8)
    }

    // MARK: watermarks

    @Test func deliveredWatermarksAreCumulativeAndCoalesced() throws {
        let e = try ClientEngine(config: testConfig { $0.deliveredFlushMs = 100 })
        try e.goLive(now: 0)
        for m in log[0..<5] { try e.handle(.push(m), now: 10) }
        try e.handle(.push(message("d", seq: 1, node: 1, counter: 1)), now: 20)
        #expect(e.drainFrames().compactMap(\.delivered).isEmpty)
        e.handleTimeout(now: 110)
        let frames = e.drainFrames().compactMap(\.delivered)
        #expect(frames == [Delivered(watermarks: [Watermark(conversation: "c", deliveredSeq: 5),
                                                  Watermark(conversation: "d", deliveredSeq: 1)])])
        // Nothing new, nothing sent; a reconnect re-announces the watermarks.
        e.handleTimeout(now: 500)
        #expect(e.drainFrames().isEmpty)
        e.disconnected(now: 600)
        try e.goLive(now: 700)
        e.handleTimeout(now: 800)
        #expect(e.drainFrames().compactMap(\.delivered).first?.watermarks.count == 2)
    }
}
