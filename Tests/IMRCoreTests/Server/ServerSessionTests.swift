import Testing
@testable import IMRCore

/// hello -> token -> welcome; frames before hello; timers; many sessions.
@Suite struct ServerSessionTests {
    @Test(arguments: StoreKind.allCases)
    func helloGetsWelcomeWithLimitsServerTimeAndConversationHeads(_ kind: StoreKind) throws {
        var config = ServerConfig(maxSyncPage: 50, maxInflight: 8, rateLimit: nil)
        config.wallClockOffsetMs = 1_700_000_000_000
        let h = try ServerHarness(kind, config: config)
        try h.engine.createConversation("general", members: ["alice", "bob"])
        try h.engine.createConversation("pair", members: ["alice", "carol"])
        try h.engine.createConversation("other", members: ["bob"])
        let bob = h.connect("bob")
        h.send("hi", in: "general", from: bob)
        h.drain()
        let alice = h.engine.openSession(now: h.now)
        h.feed(.hello(Hello(token: "tok:alice", deviceNode: 7)), from: alice)
        let frames = h.take(alice)
        let welcome = try #require(frames.first?.welcome)
        #expect(welcome.user == "alice")
        #expect(welcome.serverTimeMs == 1_700_000_000_000 + h.now)
        #expect(welcome.limits == ServerLimits(maxFrameBytes: 1 << 20, maxPayloadBytes: 256 << 10, maxSyncPage: 50, maxInflight: 8))
        #expect(welcome.conversations == [ConversationHead(conversation: "general", headSeq: 1),
                                          ConversationHead(conversation: "pair", headSeq: 0)])
        #expect(h.engine.stats.sessionsAuthenticated == 2)
        #expect(h.events().contains(.authenticated(alice, user: "alice", node: 7)))
    }

    @Test(arguments: StoreKind.allCases)
    func badExpiredOrWrongVersionHelloGetsFatalErrorAndClose(_ kind: StoreKind) throws {
        let h = try ServerHarness(kind)
        let cases: [(Hello, ErrorCode)] = [
            (Hello(token: "forged", deviceNode: 1), .authFailed),
            (Hello(token: "", deviceNode: 1), .authFailed),
            (Hello(token: "old:alice", deviceNode: 1), .tokenExpired),
            (Hello(token: "tok:alice", protocolVersion: 99, deviceNode: 1), .unsupportedVersion),
        ]
        for (hello, code) in cases {
            let s = h.engine.openSession(now: h.now)
            h.feed(.hello(hello), from: s)
            let frames = h.take(s)
            #expect(frames.count == 1)
            #expect(frames.first?.errorFrame?.code == code)
            #expect(frames.first?.errorFrame?.fatal == true)
            #expect(h.closed.contains(s))
            // Nothing more is accepted from a closed session.
            h.feed(.hello(Hello(token: "tok:alice", deviceNode: 1)), from: s)
            #expect(h.take(s).isEmpty)
        }
        #expect(h.engine.stats.authFailures == 4)
        #expect(h.engine.stats.sessionsOpen == 0)
        #expect(h.engine.stats.sessionsAuthenticated == 0)
    }

    @Test(arguments: StoreKind.allCases)
    func framesBeforeHelloAreRefusedAndChangeNothing(_ kind: StoreKind) throws {
        let h = try ServerHarness(kind)
        try h.engine.createConversation("general", members: ["alice"])
        // Before hello a session may send nothing else: any other frame closes it.
        for frame: Frame in [
            .send(Send(conversation: "general", messageID: h.newID(), clock: VectorClock(), payload: [1])),
            .syncRequest(SyncRequest(conversation: "general", afterSeq: 0, limit: 10)),
            .createConversation(CreateConversation(requestID: 1, conversation: "x", members: [])),
            .ping(nonce: 5),
        ] {
            let s = h.engine.openSession(now: h.now)
            h.engine.handle(frame, from: s, now: h.now)
            let frames = h.take(s)
            #expect(frames.count == 1 && frames[0].errorFrame?.code == .notAuthenticated && frames[0].errorFrame?.fatal == true)
            #expect(h.closed.contains(s))
        }
        #expect(try h.store.headSeq(of: "general") == 0)
        #expect(try h.store.members(of: "x") == nil)
        #expect(h.engine.unauthenticatedSessions == 0)
        // A session that says hello first is served.
        let s = h.engine.openSession(now: h.now)
        #expect(h.engine.unauthenticatedSessions == 1)
        h.feed(.hello(Hello(token: "tok:alice", deviceNode: 1)), from: s)
        #expect(h.take(s).first?.welcome?.user == "alice")
        #expect(h.engine.unauthenticatedSessions == 0)
        // A repeated hello of the same device (its welcome was lost) is answered again.
        h.feed(.hello(Hello(token: "tok:alice", deviceNode: 1)), from: s)
        #expect(h.take(s).first?.welcome?.user == "alice")
        #expect(h.engine.stats.repeatedHellos == 1)
        // A hello of another user or device is refused without closing.
        h.feed(.hello(Hello(token: "tok:bob", deviceNode: 2)), from: s)
        #expect(h.take(s).first?.errorFrame?.fatal == false)
        h.feed(.hello(Hello(token: "tok:alice", deviceNode: 9)), from: s)
        #expect(h.take(s).first?.errorFrame?.fatal == false)
        #expect(!h.closed.contains(s))
    }

    /// Session timers near the end of the clock's range saturate instead of overflowing, and a
    /// clock that steps back counts as no time passed (no session expires for it).
    @Test func timersSurviveTheEndOfTimeAndAClockThatStepsBack() throws {
        let config = ServerConfig(rateLimit: nil, helloTimeoutMs: 5_000, timerGranularityMs: 100)
        let end = try ServerHarness(.memory, config: config).engine
        _ = end.openSession(now: .max - 10)
        #expect(end.nextTimeout == .max)
        end.handleTimeout(now: .max)
        #expect(end.stats.sessionsOpen == 1)

        let engine = try ServerHarness(.memory, config: config).engine
        let early = engine.openSession(now: 50_000)
        let late = engine.openSession(now: 60_000)    // the host clock is ahead for this one
        engine.handleTimeout(now: 56_000)             // early's hello timeout has passed
        var closed: [SessionID] = []
        while let output = engine.pollOutput() { if case let .close(session) = output { closed.append(session) } }
        #expect(closed == [early])
        #expect(!closed.contains(late) && engine.stats.sessionsOpen == 1)
    }

    @Test func helloTimeoutPingAndIdleClose() throws {
        let config = ServerConfig(rateLimit: nil, helloTimeoutMs: 5_000, pingIntervalMs: 10_000, idleTimeoutMs: 25_000, timerGranularityMs: 100)
        let h = try ServerHarness(.memory, config: config)
        let silent = h.engine.openSession(now: h.now)
        let alice = h.connect("alice")
        let bob = h.connect("bob")
        _ = h.take(alice); _ = h.take(bob)
        #expect(h.engine.nextTimeout != nil)
        for _ in 0..<60 { h.advance(100) }  // 6 s
        h.drain()
        #expect(h.closed.contains(silent))
        #expect(h.inbox[silent]?.last?.errorFrame?.code == .notAuthenticated)
        for _ in 0..<45 { h.advance(100) }  // 10.5 s: both get a ping
        let ping = try #require(h.take(alice).first)
        guard case let .ping(nonce) = ping else { Issue.record("expected a ping, got \(ping)"); return }
        #expect(h.take(bob).first.map { if case .ping = $0 { true } else { false } } == true)
        h.feed(.pong(nonce: nonce), from: alice)           // alice answers, bob stays silent
        for _ in 0..<150 { h.advance(100) }  // 25.5 s
        h.drain()
        #expect(h.closed.contains(bob))
        #expect(!h.closed.contains(alice))
        #expect(h.engine.stats.sessionsOpen == 1)
    }

    @Test(arguments: StoreKind.allCases)
    func thousandsOfSessionsOpenAndClose(_ kind: StoreKind) throws {
        let h = try ServerHarness(kind)
        try h.engine.createConversation("general", members: ["alice", "bob"])
        var open: [SessionID] = []
        for round in 0..<5 {
            for i in 0..<1_000 {
                let s = h.engine.openSession(now: h.now)
                if i % 3 != 0 { h.feed(.hello(Hello(token: "tok:\(i % 2 == 0 ? "alice" : "bob")", deviceNode: UInt64(i))), from: s) }
                if i % 7 == 0 { h.feedBytes([0xFF, 0x00, 0x13], from: s) }  // garbage: closed by the server
                open.append(s)
            }
            h.drain()
            h.inbox = [:]
            for s in open { h.engine.closeSession(s, now: h.now) }
            open = []
            #expect(h.engine.stats.sessionsOpen == 0, "round \(round)")
            #expect(h.engine.stats.sessionsAuthenticated == 0)
        }
        #expect(h.engine.nextTimeout == nil)
        #expect(h.engine.pollOutput() == nil)
        // Still serving.
        let alice = h.connect("alice")
        h.send("still here", in: "general", from: alice)
        #expect(h.take(alice).contains { $0.ack?.seq == 1 })
    }

    @Test func hostCloseDiscardsQueuedFrames() throws {
        let h = try ServerHarness(.memory)
        let s = h.engine.openSession(now: h.now)
        h.feed(.ping(nonce: 1), from: s)
        h.engine.closeSession(s, now: h.now)
        h.engine.closeSession(s, now: h.now)   // twice is harmless
        #expect(h.engine.pollOutput() == nil)
        h.feed(.ping(nonce: 2), from: s)
        #expect(h.engine.pollOutput() == nil)
    }

    @Test func serverTimeNeverGoesBackwards() throws {
        let h = try ServerHarness(.memory)
        try h.engine.createConversation("c", members: ["alice"])
        let alice = h.connect("alice")
        h.engine.setWallClock(unixMs: 2_000_000, now: h.now)
        h.send("a", in: "c", from: alice)
        h.engine.setWallClock(unixMs: 1_000_000, now: h.now)   // the wall clock jumps back
        h.send("b", in: "c", from: alice)
        let acks = h.take(alice).compactMap(\.ack)
        #expect(acks.map(\.serverTimeMs) == [2_000_000, 2_000_000])
    }
}

@Suite struct TokenBucketTests {
    @Test func burstThenRefill() {
        var b = TokenBucket(RateLimit(burst: 3, refillPerSecond: 2), now: 0)
        #expect(b.take(now: 0) == nil)
        #expect(b.take(now: 0) == nil)
        #expect(b.take(now: 0) == nil)
        #expect(b.take(now: 0) == 500)
        #expect(b.take(now: 499) == 1)
        #expect(b.take(now: 500) == nil)
        #expect(b.take(now: 10_000_000) == nil)   // refill is capped at the burst
        #expect(b.take(now: 10_000_000) == nil)
        #expect(b.take(now: 10_000_000) == nil)
        #expect(b.take(now: 10_000_000) != nil)
    }
}
