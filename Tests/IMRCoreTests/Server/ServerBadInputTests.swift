import Testing
@testable import IMRCore

/// Garbage, oversize and wrong-direction input: an error frame (and a close when the stream
/// cannot be trusted), and the engine goes on serving everyone else.
@Suite struct ServerBadInputTests {
    @Test(arguments: StoreKind.allCases)
    func garbageBytesGetAnErrorFrameAndACloseAndTheServerGoesOn(_ kind: StoreKind) throws {
        let h = try ServerHarness(kind)
        try h.engine.createConversation("general", members: ["alice", "bob"])
        let alice = h.connect("alice")
        let bob = h.connect("bob")
        _ = h.take(alice); _ = h.take(bob)
        h.feedBytes([0xFF, 0xFF, 0xFF, 0x01, 0x02], from: bob)
        let frames = h.take(bob)
        #expect(frames.count == 1)
        #expect(frames.first?.errorFrame?.code == .badFrame)
        #expect(frames.first?.errorFrame?.fatal == true)
        #expect(h.closed.contains(bob))
        h.send("after the garbage", in: "general", from: alice)
        #expect(h.take(alice).first?.ack?.seq == 1)
        #expect(h.engine.stats.protocolViolations == 1)
    }

    @Test func streamErrorsCloseWithTheRightCode() throws {
        let h = try ServerHarness(.memory)
        let a = h.connect("a"), b = h.connect("b")
        h.engine.handleStreamError(.frameTooLarge(Int.max, limit: 1 << 20), from: a, now: h.now)
        h.engine.handleStreamError(.malformedLength, from: b, now: h.now)
        #expect(h.take(a).last?.errorFrame?.code == .frameTooLarge)
        #expect(h.take(b).last?.errorFrame?.code == .badFrame)
        #expect(h.closed == [a, b])
    }

    @Test func anUnknownWireVersionIsFatal() throws {
        let h = try ServerHarness(.memory)
        let s = h.connect("a")
        _ = h.take(s)
        // version = 2 (field 1, varint), body = ping {} (field 19, length 0)
        h.feedBytes([0x08, 0x02, 0x9A, 0x01, 0x00], from: s)
        #expect(h.take(s).first?.errorFrame?.code == .unsupportedVersion)
        #expect(h.closed.contains(s))
    }

    @Test func serverFramesFromAClientAreRefusedNonFatally() throws {
        let h = try ServerHarness(.memory)
        let s = h.connect("a")
        _ = h.take(s)
        h.feed(.welcome(Welcome(user: "a", serverTimeMs: 1)), from: s)
        h.feed(.sendAck(SendAck(messageID: h.newID(), conversation: "c", seq: 1, serverTimeMs: 1)), from: s)
        h.feed(.receipt(Receipt(conversation: "c", user: "a", deliveredSeq: 1)), from: s)
        h.feed(.error(ErrorFrame(code: .internalError, detail: "client complains")), from: s)
        let frames = h.take(s)
        #expect(frames.compactMap(\.errorFrame).map(\.code) == [.badFrame, .badFrame, .badFrame])
        #expect(!h.closed.contains(s))
    }

    /// Found by fuzz-server: a frame handed in as a value, with an id the codec refuses, got an
    /// answer naming that id, which could not be encoded; it was lost and counted as a store
    /// failure. It is refused as its bytes would be, and a send is refused naming no conversation.
    @Test func aValueFrameTheCodecWouldRefuseIsRefusedLikeItsBytes() throws {
        let h = try ServerHarness(.memory)
        let s = h.connect("a")
        _ = h.take(s)
        h.engine.handle(.removeMember(MemberChange(requestID: 1, conversation: "", user: "")), from: s, now: h.now)
        h.engine.handle(.createConversation(CreateConversation(requestID: 2, conversation: "cafe\u{301}", members: [])), from: s, now: h.now)
        let id = h.newID()
        h.engine.handle(.send(Send(conversation: "nul\u{0}x", messageID: id, clock: VectorClock(), payload: [1])), from: s, now: h.now)
        let frames = h.take(s)
        #expect(frames.compactMap(\.errorFrame).map(\.code) == [.badFrame, .badFrame])
        #expect(frames.compactMap(\.reject).map { [$0.messageID == id, $0.conversation == "", $0.code == .invalid] } == [[true, true, true]])
        #expect(!h.closed.contains(s))
        #expect(h.engine.stats.storeFailures == 0)
    }

    @Test(arguments: StoreKind.allCases)
    func randomBytesNeverTrapAndNeverStoreAnything(_ kind: StoreKind) throws {
        let h = try ServerHarness(kind)
        try h.engine.createConversation("general", members: ["alice"])
        var rng = SeededGenerator(seed: 7)
        for round in 0..<2_000 {
            let s = h.engine.openSession(now: h.now)
            if round % 2 == 0 { h.feed(.hello(Hello(token: "tok:alice", deviceNode: 1)), from: s) }
            let n = Int(rng.next() % 64)
            var bytes = (0..<n).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            if round % 3 == 0, !bytes.isEmpty { bytes[0] = 0x08; if bytes.count > 1 { bytes[1] = 0x01 } }   // version 1, then noise
            h.feedBytes(bytes, from: s)
            h.drain()
            h.engine.closeSession(s, now: h.now)
        }
        #expect(h.engine.stats.sessionsOpen == 0)
        #expect(try h.store.headSeq(of: "general") == 0)
    }
}
