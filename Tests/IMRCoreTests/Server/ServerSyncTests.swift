import Testing
@testable import IMRCore

/// Server rule 5: sync returns messages in seq order, in pages, with the head seq and has-more.
@Suite struct ServerSyncTests {
    private func seeded(_ kind: StoreKind, messages: Int, config: ServerConfig = ServerConfig(rateLimit: nil)) throws -> (ServerHarness, SessionID) {
        let h = try ServerHarness(kind, config: config)
        try h.engine.createConversation("general", members: ["alice", "bob"])
        let alice = h.connect("alice")
        for i in 0..<messages { h.send("m\(i)", in: "general", from: alice) }
        _ = h.take(alice)
        let bob = h.connect("bob")
        _ = h.take(bob)
        return (h, bob)
    }

    private func sync(_ h: ServerHarness, _ s: SessionID, after: UInt64, limit: UInt32, conversation: String = "general") -> SyncResponse? {
        h.feed(.syncRequest(SyncRequest(conversation: conversation, afterSeq: after, limit: limit)), from: s)
        return h.take(s).first?.sync
    }

    @Test(arguments: StoreKind.allCases)
    func pagesComeInSeqOrderWithHeadAndHasMore(_ kind: StoreKind) throws {
        let (h, bob) = try seeded(kind, messages: 25)
        var cursor: UInt64 = 0
        var seen: [UInt64] = []
        var pages = 0
        while true {
            let r = try #require(sync(h, bob, after: cursor, limit: 10))
            pages += 1
            #expect(r.headSeq == 25)
            #expect(r.afterSeq == cursor)
            #expect(r.messages.allSatisfy { $0.seq > cursor })
            seen += r.messages.map(\.seq)
            cursor = r.messages.last?.seq ?? cursor
            if !r.hasMore { break }
        }
        #expect(seen == Array(1...25))
        #expect(pages == 3)
        #expect(h.engine.stats.syncMessages == 25)
    }

    @Test(arguments: StoreKind.allCases)
    func absurdLimitsAreClampedToTheMaximumPage(_ kind: StoreKind) throws {
        let (h, bob) = try seeded(kind, messages: 30, config: ServerConfig(maxSyncPage: 7, rateLimit: nil))
        let r = try #require(sync(h, bob, after: 0, limit: .max))
        #expect(r.messages.map(\.seq) == Array(1...7))
        #expect(r.hasMore)
        let beyond = try #require(sync(h, bob, after: .max, limit: .max))
        #expect(beyond.messages.isEmpty)
        #expect(!beyond.hasMore)
        #expect(beyond.headSeq == 30)
    }

    @Test(arguments: StoreKind.allCases)
    func limitZeroIsAHeadProbe(_ kind: StoreKind) throws {
        let (h, bob) = try seeded(kind, messages: 4)
        let r = try #require(sync(h, bob, after: 2, limit: 0))
        #expect(r.messages.isEmpty)
        #expect(r.headSeq == 4)
        #expect(r.hasMore, "a probe behind the head says there is more")
        let upToDate = try #require(sync(h, bob, after: 4, limit: 0))
        #expect(upToDate.headSeq == 4)
        #expect(!upToDate.hasMore)
    }

    @Test(arguments: StoreKind.allCases)
    func pagesStayUnderTheFrameLimit(_ kind: StoreKind) throws {
        var config = ServerConfig(maxSyncPage: 1000, rateLimit: nil)
        config.limits.maxFrameBytes = 64 << 10
        config.limits.maxPayloadBytes = 10 << 10
        let h = try ServerHarness(kind, config: config)
        try h.engine.createConversation("general", members: ["alice"])
        let alice = h.connect("alice")
        let big = [UInt8](repeating: 0x61, count: 10 << 10)
        for _ in 0..<20 {
            h.feed(.send(Send(conversation: "general", messageID: h.newID(), clock: VectorClock(), payload: big)), from: alice)
        }
        #expect(h.take(alice).compactMap(\.ack).count == 20)
        var cursor: UInt64 = 0
        var pages = 0
        while true {
            h.feed(.syncRequest(SyncRequest(conversation: "general", afterSeq: cursor, limit: 1000)), from: alice)
            h.drain()
            let r = try #require(h.inbox[alice]?.first?.sync)
            h.inbox[alice] = []
            #expect(!r.messages.isEmpty)
            #expect(try FrameCodec().encode(.syncResponse(r)).count <= 64 << 10)
            cursor = r.messages.last!.seq
            pages += 1
            if !r.hasMore { break }
        }
        #expect(cursor == 20)
        #expect(pages >= 4)
    }

    @Test(arguments: StoreKind.allCases)
    func syncOfAForeignOrUnknownConversationIsAnError(_ kind: StoreKind) throws {
        let (h, _) = try seeded(kind, messages: 2)
        let eve = h.connect("eve")
        h.feed(.syncRequest(SyncRequest(conversation: "general", afterSeq: 0, limit: 10)), from: eve)
        h.feed(.syncRequest(SyncRequest(conversation: "nowhere", afterSeq: 0, limit: 10)), from: eve)
        let frames = h.take(eve)
        #expect(frames.compactMap(\.errorFrame).map(\.code) == [.notMember, .unknownConversation])
        #expect(frames.compactMap(\.sync).isEmpty)
        #expect(!h.closed.contains(eve))
    }
}
