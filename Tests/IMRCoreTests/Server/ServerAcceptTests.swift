import Testing
@testable import IMRCore

/// Server rules 1–4: membership, sender from the session, idempotent accept, contiguous seq,
/// ack only after the store has it, fan-out to every online member device, watermarks.
@Suite struct ServerAcceptTests {
    @Test(arguments: StoreKind.allCases)
    func sendsAreAckedWithContiguousSeqAfterTheStoreHasThem(_ kind: StoreKind) throws {
        let h = try ServerHarness(kind)
        try h.engine.createConversation("general", members: ["alice", "bob"])
        try h.engine.createConversation("other", members: ["alice"])
        let alice = h.connect("alice", node: 11)
        var ids: [MessageID] = []
        for i in 0..<5 { ids.append(h.send("m\(i)", in: "general", from: alice)) }
        h.send("x", in: "other", from: alice)
        let acks = h.take(alice).compactMap(\.ack)
        #expect(acks.map(\.seq) == [1, 2, 3, 4, 5, 1])
        #expect(acks.map(\.messageID) == ids + [acks[5].messageID])
        #expect(acks.allSatisfy { !$0.duplicate })
        // Every acked message is in the store (for SQLite: in the file, seen by a fresh connection).
        let check: any ServerStore = kind == .sqlite ? try SQLiteServerStore(path: h.dbPath) : h.store
        let stored = try check.messages(in: "general", after: 0, limit: 100)
        #expect(stored.map(\.seq) == [1, 2, 3, 4, 5])
        #expect(stored.map(\.messageID) == ids)
        #expect(stored.map { String(decoding: $0.payload, as: UTF8.self) } == ["m0", "m1", "m2", "m3", "m4"])
        #expect(try check.headSeq(of: "general") == 5)
        #expect(h.engine.stats.accepted == 6)
    }

    @Test(arguments: StoreKind.allCases)
    func senderIdentityComesFromTheSessionNeverTheFrame(_ kind: StoreKind) throws {
        let h = try ServerHarness(kind)
        try h.engine.createConversation("general", members: ["alice", "mallory"])
        let mallory = h.connect("mallory", node: 666)
        let id = h.send("hello", in: "general", from: mallory)
        // A client cannot inject a stored message claiming another sender.
        let forged = StoredMessage(conversation: "general", seq: 99, serverTimeMs: 1, senderUser: "alice", senderNode: 1,
                                   messageID: h.newID(), clock: VectorClock(), payload: Array("I am alice".utf8))
        h.feed(.push(forged), from: mallory)
        let frames = h.take(mallory)
        #expect(frames.contains { $0.errorFrame?.code == .badFrame })
        let stored = try h.store.messages(in: "general", after: 0, limit: 10)
        #expect(stored.count == 1)
        #expect(stored[0].senderUser == "mallory")
        #expect(stored[0].senderNode == 666)
        #expect(stored[0].messageID == id)
    }

    @Test(arguments: StoreKind.allCases)
    func retransmissionReturnsTheOriginalSeqAndTimeWithTheDuplicateFlag(_ kind: StoreKind) throws {
        let h = try ServerHarness(kind)
        try h.engine.createConversation("general", members: ["alice", "bob"])
        let alice = h.connect("alice")
        let bob = h.connect("bob")
        let id = h.send("once", in: "general", from: alice)
        h.send("twice", in: "general", from: alice)
        let first = try #require(h.take(alice).compactMap(\.ack).first)
        _ = h.take(bob)
        h.advance(5_000)
        h.send("once (retransmitted)", in: "general", from: alice, id: id)
        let again = try #require(h.take(alice).compactMap(\.ack).first)
        #expect(again.seq == first.seq)
        #expect(again.serverTimeMs == first.serverTimeMs)
        #expect(again.duplicate)
        #expect(try h.store.headSeq(of: "general") == 2)
        #expect(try h.store.message(in: "general", id: id)?.payload == Array("once".utf8))
        #expect(h.take(bob).isEmpty, "a duplicate is not pushed again")
        // From the user's other device too (the sender is the user).
        let alice2 = h.connect("alice")
        h.send("once", in: "general", from: alice2, id: id)
        #expect(h.take(alice2).compactMap(\.ack).first?.duplicate == true)
        #expect(h.engine.stats.duplicates == 2)
    }

    @Test(arguments: StoreKind.allCases)
    func theSameIDFromAnotherSenderIsRejectedNeverAcked(_ kind: StoreKind) throws {
        let h = try ServerHarness(kind)
        try h.engine.createConversation("general", members: ["alice", "bob"])
        let alice = h.connect("alice")
        let bob = h.connect("bob")
        let id = h.send("alice's", in: "general", from: alice)
        h.drain(); _ = h.take(bob)
        h.send("bob reuses the id", in: "general", from: bob, id: id)
        let frames = h.take(bob)
        #expect(frames.compactMap(\.ack).isEmpty)
        let reject = try #require(frames.compactMap(\.reject).first)
        #expect(reject.code == .idConflict)
        #expect(reject.messageID == id)
        #expect(reject.retryAfterMs == nil)
        #expect(try h.store.headSeq(of: "general") == 1)
        // The same id in another conversation is a different message.
        try h.engine.createConversation("side", members: ["bob"])
        h.send("bob, elsewhere", in: "side", from: bob, id: id)
        #expect(h.take(bob).compactMap(\.ack).first?.seq == 1)
    }

    @Test(arguments: StoreKind.allCases)
    func sendsToForeignOrUnknownConversationsAreRejected(_ kind: StoreKind) throws {
        let h = try ServerHarness(kind)
        try h.engine.createConversation("private", members: ["alice"])
        let eve = h.connect("eve")
        h.send("let me in", in: "private", from: eve)
        h.send("anyone?", in: "nowhere", from: eve)
        let rejects = h.take(eve).compactMap(\.reject)
        #expect(rejects.map(\.code) == [.notMember, .unknownConversation])
        #expect(try h.store.headSeq(of: "private") == 0)
        #expect(h.engine.stats.rejected == 2)
    }

    @Test(arguments: StoreKind.allCases)
    func aRemovedMembersRetransmissionStillGetsItsAck(_ kind: StoreKind) throws {
        let h = try ServerHarness(kind)
        try h.engine.createConversation("general", members: ["alice", "bob"])
        let bob = h.connect("bob")
        let id = h.send("before removal", in: "general", from: bob)
        _ = h.take(bob)
        try h.engine.removeMember("bob", from: "general")
        h.send("before removal", in: "general", from: bob, id: id)
        h.send("after removal", in: "general", from: bob)
        let frames = h.take(bob)
        #expect(frames.compactMap(\.ack).map(\.duplicate) == [true])
        #expect(frames.compactMap(\.reject).map(\.code) == [.notMember])
    }

    @Test(arguments: StoreKind.allCases)
    func pushesReachEveryOnlineMemberDeviceButTheSendingOne(_ kind: StoreKind) throws {
        let h = try ServerHarness(kind)
        try h.engine.createConversation("general", members: ["alice", "bob", "carol"])
        let alicePhone = h.connect("alice", node: 1)
        let aliceLaptop = h.connect("alice", node: 2)
        let bob = h.connect("bob", node: 3)
        let eve = h.connect("eve", node: 4)           // not a member
        // carol is offline
        for s in [alicePhone, aliceLaptop, bob, eve] { _ = h.take(s) }
        let id = h.send("hello all", in: "general", from: alicePhone)
        let phone = h.take(alicePhone)
        #expect(phone.count == 1 && phone.first?.ack?.seq == 1, "the sending device gets its ack, and no echo")
        for s in [aliceLaptop, bob] {   // the sender's other device too
            let pushed = try #require(h.take(s).first?.pushed)
            #expect(pushed.messageID == id)
            #expect(pushed.seq == 1)
            #expect(pushed.senderUser == "alice")
            #expect(pushed.senderNode == 1)
            #expect(pushed.payload == Array("hello all".utf8))
        }
        #expect(h.take(eve).isEmpty)
        // A device that goes offline gets no more pushes.
        h.engine.closeSession(bob, now: h.now)
        h.send("bob left", in: "general", from: aliceLaptop)
        h.drain()
        #expect(h.inbox[bob]?.isEmpty ?? true)
        #expect(h.engine.stats.pushesQueued == 3)
    }

    @Test(arguments: StoreKind.allCases)
    func deliveredWatermarksAreTrackedPerDeviceAndReportedAsReceipts(_ kind: StoreKind) throws {
        // Each advance at once (coalescing: ServerReceiptTests).
        let h = try ServerHarness(kind, config: ServerConfig(rateLimit: nil, receiptIntervalMs: 0))
        try h.engine.createConversation("general", members: ["alice", "bob"])
        let alice = h.connect("alice", node: 1)
        let bobPhone = h.connect("bob", node: 2)
        let bobLaptop = h.connect("bob", node: 3)
        for i in 0..<3 { h.send("m\(i)", in: "general", from: alice) }
        for s in [alice, bobPhone, bobLaptop] { _ = h.take(s) }

        h.feed(.delivered(Delivered(watermarks: [Watermark(conversation: "general", deliveredSeq: 2)])), from: bobPhone)
        #expect(try h.store.deviceWatermark(conversation: "general", user: "bob", node: 2) == WatermarkPair(delivered: 2))
        #expect(h.take(alice).compactMap(\.receipt) == [Receipt(conversation: "general", user: "bob", deliveredSeq: 2)])
        #expect(h.take(bobLaptop).isEmpty, "receipts go to the other members")

        // Beyond the head is clamped; lower watermarks never lower it.
        h.feed(.delivered(Delivered(watermarks: [Watermark(conversation: "general", deliveredSeq: 1_000, readSeq: 1)])), from: bobLaptop)
        #expect(try h.store.deviceWatermark(conversation: "general", user: "bob", node: 3) == WatermarkPair(delivered: 3, read: 1))
        #expect(h.take(alice).compactMap(\.receipt) == [Receipt(conversation: "general", user: "bob", deliveredSeq: 3, readSeq: 1)])
        h.feed(.delivered(Delivered(watermarks: [Watermark(conversation: "general", deliveredSeq: 1)])), from: bobPhone)
        #expect(try h.store.deviceWatermark(conversation: "general", user: "bob", node: 2) == WatermarkPair(delivered: 2))
        #expect(try h.store.userWatermark(conversation: "general", user: "bob") == WatermarkPair(delivered: 3, read: 1))
        #expect(h.take(alice).isEmpty, "nothing advanced, nothing to tell")

        // Watermarks for conversations the device is not in are ignored.
        try h.engine.createConversation("secret", members: ["alice"])
        h.send("s", in: "secret", from: alice)
        _ = h.take(alice)
        h.feed(.delivered(Delivered(watermarks: [Watermark(conversation: "secret", deliveredSeq: 1)])), from: bobPhone)
        #expect(try h.store.userWatermark(conversation: "secret", user: "bob") == WatermarkPair())
        #expect(h.take(alice).isEmpty)
    }

    @Test(arguments: StoreKind.allCases)
    func rateLimitRejectsWithRetryAfterAndRecovers(_ kind: StoreKind) throws {
        let h = try ServerHarness(kind, config: ServerConfig(rateLimit: RateLimit(burst: 5, refillPerSecond: 10)))
        try h.engine.createConversation("general", members: ["alice"])
        let alice = h.connect("alice")
        var ids: [MessageID] = []
        for i in 0..<8 { ids.append(h.send("m\(i)", in: "general", from: alice)) }
        let frames = h.take(alice)
        #expect(frames.compactMap(\.ack).count == 5)
        let rejects = frames.compactMap(\.reject)
        #expect(rejects.count == 3)
        #expect(rejects.allSatisfy { $0.code == .rateLimited && $0.retryAfterMs == 100 })
        h.advance(100)
        h.send("m5", in: "general", from: alice, id: ids[5])
        #expect(h.take(alice).compactMap(\.ack).first?.seq == 6)
        #expect(h.engine.stats.rateLimited == 3)
        // Another session has its own bucket.
        let alice2 = h.connect("alice")
        h.send("other device", in: "general", from: alice2)
        #expect(h.take(alice2).compactMap(\.ack).count == 1)
    }

    @Test(arguments: StoreKind.allCases)
    func oversizedPayloadsAreRejected(_ kind: StoreKind) throws {
        var config = ServerConfig(rateLimit: nil)
        config.limits.maxPayloadBytes = 100
        config.limits.maxClockEntries = 2
        let h = try ServerHarness(kind, config: config)
        try h.engine.createConversation("general", members: ["alice"])
        let alice = h.connect("alice")
        // Through the decoded-frame path (the codec would refuse it earlier on the byte path).
        h.engine.handle(.send(Send(conversation: "general", messageID: h.newID(), clock: VectorClock(),
                                   payload: [UInt8](repeating: 1, count: 101))), from: alice, now: h.now)
        #expect(h.take(alice).compactMap(\.reject).map(\.code) == [.payloadTooLarge])
        // Through bytes: refused by name (its id, the payload code), and the session stays.
        let id = h.newID()
        let big = try FrameCodec().encode(.send(Send(conversation: "general", messageID: id, clock: VectorClock(),
                                                      payload: [UInt8](repeating: 1, count: 101))))
        h.feedBytes(big, from: alice)
        let reject = try #require(h.take(alice).first?.reject)
        #expect(reject.messageID == id && reject.code == .payloadTooLarge && reject.conversation == "general")
        // A clock over the limit: refused by name too, as invalid.
        let crowded = try VectorClock(entries: (1...5).map { VectorClock.Entry(node: $0, counter: 1) }, maxEntries: 10)
        let clockID = h.newID()
        h.feedBytes(try FrameCodec().encode(.send(Send(conversation: "general", messageID: clockID, clock: crowded, payload: [1]))),
                    from: alice)
        #expect(h.take(alice).first?.reject.map { [$0.messageID == clockID, $0.code == .invalid] } == [true, true])
        #expect(!h.closed.contains(alice))
        #expect(try h.store.headSeq(of: "general") == 0)
    }
}
