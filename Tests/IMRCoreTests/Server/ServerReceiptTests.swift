import Testing
@testable import IMRCore

/// Receipts: coalesced over an interval, and in large conversations only to the members whose
/// messages the user passed.
@Suite struct ServerReceiptTests {
    private func mark(_ conversation: String, _ delivered: UInt64, read: UInt64? = nil) -> Frame {
        .delivered(Delivered(watermarks: [Watermark(conversation: conversation, deliveredSeq: delivered, readSeq: read)]))
    }

    @Test(arguments: StoreKind.allCases)
    func advancesWithinAnIntervalMakeOneReceipt(_ kind: StoreKind) throws {
        let h = try ServerHarness(kind, config: ServerConfig(rateLimit: nil, receiptIntervalMs: 250))
        try h.engine.createConversation("general", members: ["alice", "bob"])
        let alice = h.connect("alice", node: 1)
        let bobPhone = h.connect("bob", node: 2)
        let bobLaptop = h.connect("bob", node: 3)
        for i in 0..<5 { h.send("m\(i)", in: "general", from: alice) }
        for s in [alice, bobPhone, bobLaptop] { _ = h.take(s) }

        h.feed(mark("general", 2), from: bobPhone)
        h.advance(100)
        h.feed(mark("general", 4, read: 1), from: bobLaptop)
        h.feed(mark("general", 3), from: bobPhone)
        #expect(h.take(alice).isEmpty, "nothing before the interval has passed")
        #expect(try h.store.userWatermark(conversation: "general", user: "bob") == WatermarkPair(delivered: 4, read: 1),
                "watermarks are recorded at once; only the receipt waits")
        #expect(h.engine.nextTimeout == 1_250, "the timer is armed for the interval's end")

        h.advance(150)
        #expect(h.take(alice).compactMap(\.receipt) == [Receipt(conversation: "general", user: "bob", deliveredSeq: 4, readSeq: 1)])
        #expect(h.take(bobPhone).isEmpty && h.take(bobLaptop).isEmpty, "a user hears nothing of itself")
        h.advance(1_000)
        #expect(h.take(alice).isEmpty, "one receipt per interval, not one per report")
    }

    @Test func receiptsOffSendsNoneAndArmsNoTimer() throws {
        let h = try ServerHarness(.memory, config: ServerConfig(rateLimit: nil, pingIntervalMs: 0, idleTimeoutMs: 0,
                                                                 timerGranularityMs: 60_000, sendReceipts: false))
        try h.engine.createConversation("general", members: ["alice", "bob"])
        let alice = h.connect("alice")
        let bob = h.connect("bob")
        h.send("hi", in: "general", from: alice)
        _ = h.take(alice)
        _ = h.take(bob)
        h.feed(mark("general", 1), from: bob)
        #expect(h.engine.nextTimeout == 61_000, "only the session sweep is due")
        h.advance(60_000)
        #expect(h.take(alice).isEmpty)
        #expect(try h.store.userWatermark(conversation: "general", user: "bob").delivered == 1)
    }

    /// One publisher, 60 members who all report: the publisher hears of each of them once,
    /// the others hear nothing (the old rule sent 59 × 59 frames).
    @Test(arguments: StoreKind.allCases)
    func inALargeGroupOnlySendersHearOfTheirMessages(_ kind: StoreKind) throws {
        let h = try ServerHarness(kind, config: ServerConfig(rateLimit: nil, requestRateLimit: nil,
                                                            receiptIntervalMs: 250, receiptGroupLimit: 32))
        let users = (0..<60).map { "user\($0)" }
        try h.engine.createConversation("big", members: users)
        let sessions = users.map { h.connect($0) }
        let publisher = sessions[0]
        for i in 0..<3 { h.send("m\(i)", in: "big", from: publisher) }
        for s in sessions { _ = h.take(s) }

        for s in sessions.dropFirst() { h.feed(mark("big", 3), from: s) }
        h.advance(250)
        let heard = h.take(publisher).compactMap(\.receipt)
        #expect(heard.count == 59)
        #expect(Set(heard.map(\.user)) == Set(users.dropFirst()))
        #expect(heard.allSatisfy { $0.deliveredSeq == 3 })
        for s in sessions.dropFirst() { #expect(h.take(s).isEmpty, "members who sent nothing hear nothing") }
        #expect(h.engine.stats.receiptsQueued == 59)

        // A second sender: readers who pass its message tell it and the first sender (whose
        // messages they had not read yet); one who had already passed it tells no one new.
        h.send("reply", in: "big", from: sessions[1])
        for s in sessions { _ = h.take(s) }
        h.feed(mark("big", 4, read: 4), from: sessions[2])
        h.advance(250)
        #expect(h.take(publisher).compactMap(\.receipt) == [Receipt(conversation: "big", user: "user2", deliveredSeq: 4, readSeq: 4)])
        #expect(h.take(sessions[1]).compactMap(\.receipt) == [Receipt(conversation: "big", user: "user2", deliveredSeq: 4, readSeq: 4)])
        #expect(h.take(sessions[3]).isEmpty)
    }

    @Test func aRemovedSenderHearsNoMoreReceipts() throws {
        let h = try ServerHarness(.memory, config: ServerConfig(rateLimit: nil, requestRateLimit: nil,
                                                               receiptIntervalMs: 0, receiptGroupLimit: 2))
        try h.engine.createConversation("room", members: ["alice", "bob", "carol"], owners: ["carol"])
        let alice = h.connect("alice")
        let bob = h.connect("bob")
        h.send("hi", in: "room", from: alice)
        _ = h.take(alice)
        _ = h.take(bob)
        try h.engine.removeMember("alice", from: "room")
        h.feed(mark("room", 1), from: bob)
        #expect(h.take(alice).compactMap(\.receipt).isEmpty)
    }

    @Test func aFailedCommitDropsPendingReceipts() throws {
        let store = ServerGroupCommitTests.FlakyStore()
        let engine = ServerEngine(config: ServerConfig(rateLimit: nil, receiptIntervalMs: 100), store: store, verifier: TestVerifier())
        try engine.createConversation("general", members: ["alice", "bob"])
        let codec = FrameCodec()
        func frames(to s: SessionID) -> [Frame] {
            var out: [Frame] = []
            while let o = engine.pollOutput() { if case let .frame(id, bytes) = o, id == s { out.append(try! codec.decode(bytes)) } }
            return out
        }
        let alice = engine.openSession(now: 0), bob = engine.openSession(now: 0)
        engine.handle(.hello(Hello(token: "tok:alice", deviceNode: 1)), from: alice, now: 0)
        engine.handle(.hello(Hello(token: "tok:bob", deviceNode: 2)), from: bob, now: 0)
        var rng = SeededGenerator(seed: 1)
        engine.handle(.send(Send(conversation: "general", messageID: .uuidV7(unixMilliseconds: 1, using: &rng), clock: VectorClock(), payload: [1])), from: alice, now: 0)
        _ = frames(to: alice)
        store.failNextCommit = true
        engine.handle(mark("general", 1), from: bob, now: 10)
        _ = frames(to: alice)   // the commit of bob's watermark fails here
        engine.handleTimeout(now: 200)
        #expect(frames(to: alice).compactMap(\.receipt).isEmpty, "no receipt tells of a watermark that was rolled back")
    }
}
