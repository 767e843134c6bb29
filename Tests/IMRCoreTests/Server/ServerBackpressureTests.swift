import Testing
@testable import IMRCore

/// A device that is behind is brought up to date by sync, never by unbounded queues.
@Suite struct ServerBackpressureTests {
    @Test(arguments: StoreKind.allCases)
    func aSlowReaderStopsGettingPushesAndGetsAHeadHintWhenItDrains(_ kind: StoreKind) throws {
        let h = try ServerHarness(kind, config: ServerConfig(rateLimit: nil, maxOutboundFramesPerSession: 10))
        try h.engine.createConversation("general", members: ["alice", "bob"])
        let alice = h.connect("alice")
        let bob = h.connect("bob")
        _ = h.take(alice); _ = h.take(bob)

        // The host reports bob's socket full: nothing more is queued for him.
        h.engine.setWritable(bob, false, now: h.now)
        for i in 0..<50 {
            h.send("m\(i)", in: "general", from: alice)
            // alice reads her acks; her own echoes are pushes too, so keep her drained.
            while let out = h.engine.pollOutput() {
                if case let .frame(s, bytes) = out, s == bob { h.inbox[bob, default: []].append(try h.codec.decode(bytes)) }
            }
        }
        #expect(h.inbox[bob, default: []].isEmpty)
        #expect(h.engine.stats.pushesDropped == 50)
        #expect(h.events().contains(.sessionBehind(bob)))

        // Writable again: one push of the head message, beyond bob's cursor, so he syncs.
        h.engine.setWritable(bob, true, now: h.now)
        let hint = h.take(bob)
        #expect(hint.compactMap(\.pushed).map(\.seq) == [50])
        #expect(h.events().contains(.sessionRecovered(bob)))
        h.feed(.syncRequest(SyncRequest(conversation: "general", afterSeq: 0, limit: 100)), from: bob)
        #expect(h.take(bob).first?.sync?.messages.count == 50)
        // And live pushes resume.
        h.send("live", in: "general", from: alice)
        #expect(h.take(bob).compactMap(\.pushed).map(\.seq) == [51])
    }

    @Test(arguments: StoreKind.allCases)
    func aSessionThatIsNotPolledIsBoundedByTheQueueLimit(_ kind: StoreKind) throws {
        let h = try ServerHarness(kind, config: ServerConfig(rateLimit: nil, maxOutboundFramesPerSession: 10))
        try h.engine.createConversation("general", members: ["alice", "bob"])
        let alice = h.connect("alice")
        let bob = h.connect("bob")
        _ = h.take(alice); _ = h.take(bob)
        // Nobody polls: bob's queue may not grow past the bound.
        for i in 0..<200 { h.send("m\(i)", in: "general", from: alice) }
        var bobFrames = 0
        var seqs: [UInt64] = []
        while let out = h.engine.pollOutput() {
            if case let .frame(s, bytes) = out, s == bob {
                bobFrames += 1
                if let m = try h.codec.decode(bytes).pushed { seqs.append(m.seq) }
            }
        }
        #expect(seqs.prefix(10) == ArraySlice(1...10))
        #expect(seqs.last == 200, "the hint after draining names the head")
        #expect(bobFrames <= 11)
        #expect(h.engine.stats.accepted == 200)
    }

    @Test func aSessionThatNeverReadsItsRepliesIsClosed() throws {
        let h = try ServerHarness(.memory, config: ServerConfig(rateLimit: nil, maxOutboundFramesPerSession: 10, maxOutboundFramesBeforeClose: 100))
        let s = h.connect("alice")
        for i in 0..<150 { h.feed(.ping(nonce: UInt64(i)), from: s) }
        var frames: [Frame] = []
        var closed = false
        while let out = h.engine.pollOutput() {
            switch out {
            case let .frame(_, bytes): frames.append(try h.codec.decode(bytes))
            case .close: closed = true
            }
        }
        #expect(closed)
        #expect(frames.count == 101)  // 100 pongs, then the fatal error
        #expect(frames.last?.errorFrame?.fatal == true)
    }
}
