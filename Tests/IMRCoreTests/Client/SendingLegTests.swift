import Testing
@testable import IMRCore

@Suite struct SendingLegTests {
    // MARK: sending -> sent

    @Test func ackMovesSendingToSentWithOneEventEach() throws {
        let e = try ClientEngine(config: testConfig())
        try e.goLive(now: 0)
        _ = e.drainEvents()
        let id = try e.send(conversation: "c", payload: [1, 2], now: 10)
        let sends = e.drainFrames().compactMap(\.send)
        #expect(sends.map(\.messageID) == [id])
        #expect(sends[0].clock[1] == 1)
        #expect(e.drainEvents().isEmpty)   // a new message is `sending` without an event: send returned its id
        #expect(e.state(of: id) == .sending)
        #expect(e.timeline("c")?.entry(id)?.seq == nil)

        try e.handle(.sendAck(SendAck(messageID: id, conversation: "c", seq: 1, serverTimeMs: 99)), now: 20)
        #expect(e.drainEvents() == [
            .stateChanged(id: id, conversation: "c", state: .sent(seq: 1, serverTimeMs: 99)),
            .ownMessageConfirmed(conversation: "c", id: id, seq: 1, serverTimeMs: 99, liveIndex: 0),
        ])
        #expect(e.state(of: id) == .sent(seq: 1, serverTimeMs: 99))
        #expect(e.outbox().first { $0.id == id }?.seq == 1)
        #expect(e.timeline("c")?.entry(id)?.seq == 1)
        #expect(e.cursor("c") == 1)
        // A second (duplicate) ack changes nothing and emits nothing.
        try e.handle(.sendAck(SendAck(messageID: id, conversation: "c", seq: 1, serverTimeMs: 99, duplicate: true)), now: 21)
        #expect(e.drainEvents().isEmpty)
        #expect(e.stats.duplicateAcks == 1)
        #expect(e.nextTimeout == nil)
    }

    @Test func retransmissionKeepsIdAndClockAndBacksOffToTheCap() throws {
        let e = try ClientEngine(config: testConfig { $0.maxAttempts = 6; $0.backoffCapMs = 400 })
        try e.goLive(now: 0)
        let id = try e.send(conversation: "c", payload: [1], now: 0)
        let first = e.drainFrames().compactMap(\.send)[0]
        var deadlines: [UInt64] = []
        var now: UInt64 = 0
        for _ in 0..<5 {
            // Drive to the exact deadline (early wake-ups fire nothing).
            while let t = e.nextTimeout {
                now = t
                e.handleTimeout(now: now)
                let again = e.drainFrames().compactMap(\.send)
                if !again.isEmpty {
                    #expect(again == [first])
                    deadlines.append(now)
                    break
                }
            }
        }
        // Timeouts 100, 200, 400, 400 (cap), 400.
        #expect(deadlines == [100, 300, 700, 1_100, 1_500])
        #expect(e.outbox().first { $0.id == id }?.attempts == 6)
        #expect(e.stats.retransmissions == 5)
    }

    @Test func jitterStaysWithinBoundsAndIsSeeded() throws {
        func firstTimeout(seed: UInt64) throws -> UInt64 {
            let e = try ClientEngine(config: testConfig { $0.jitter = 0.5; $0.ackTimeoutBaseMs = 1_000; $0.backoffCapMs = 5_000; $0.seed = seed })
            try e.goLive(now: 0)
            _ = try e.send(conversation: "c", payload: [1], now: 0)
            _ = e.drainFrames()
            var now: UInt64 = 0
            while let t = e.nextTimeout {
                now = t
                e.handleTimeout(now: now)
                if !e.drainFrames().isEmpty { return now }
            }
            return 0
        }
        let values = try (1...20).map { try firstTimeout(seed: $0) }
        #expect(values.allSatisfy { $0 >= 500 && $0 <= 1_500 })
        #expect(Set(values).count > 5)
        #expect(try firstTimeout(seed: 7) == (try firstTimeout(seed: 7)))
    }

    // MARK: -> failed, and back

    @Test func attemptsExhaustedThenLateAckMovesFailedToSent() throws {
        let e = try ClientEngine(config: testConfig { $0.maxAttempts = 2 })
        try e.goLive(now: 0)
        let id = try e.send(conversation: "c", payload: [1], now: 0)
        _ = e.drainEvents()
        var now: UInt64 = 0
        while e.state(of: id) == .sending, let t = e.nextTimeout {
            now = t
            e.handleTimeout(now: now)
        }
        #expect(e.state(of: id) == .failed(.attemptsExhausted))
        #expect(e.drainFrames().compactMap(\.send).count == 2)
        #expect(e.drainEvents() == [.stateChanged(id: id, conversation: "c", state: .failed(.attemptsExhausted))])
        #expect(e.nextTimeout == nil)
        try e.handle(.sendAck(SendAck(messageID: id, conversation: "c", seq: 4, serverTimeMs: 5)), now: now + 1)
        #expect(e.state(of: id) == .sent(seq: 4, serverTimeMs: 5))
        #expect(e.drainEvents().compactMap(\.stateChange).map(\.1) == [.sent(seq: 4, serverTimeMs: 5)])
    }

    @Test func retryOfFailedSendsSameIdAndClockWithFreshBudget() throws {
        let e = try ClientEngine(config: testConfig { $0.maxAttempts = 1 })
        try e.goLive(now: 0)
        let id = try e.send(conversation: "c", payload: [9], now: 0)
        let original = e.drainFrames().compactMap(\.send)[0]
        e.handleTimeout(now: 100)
        #expect(e.state(of: id) == .failed(.attemptsExhausted))
        _ = e.drainEvents()
        try e.retry(id, now: 150)
        #expect(e.drainEvents() == [.stateChanged(id: id, conversation: "c", state: .sending)])
        #expect(e.drainFrames().compactMap(\.send) == [original])
        #expect(e.outbox().first { $0.id == id }?.attempts == 1)
        #expect(throws: ClientError.notFailed(id)) { try e.retry(id, now: 151) }
        let stranger = MessageID(high: 1, low: 2)
        #expect(throws: ClientError.unknownMessage(stranger)) { try e.retry(stranger, now: 151) }
    }

    @Test func rejectWithRetryAfterDelaysTheNextAttempt() throws {
        let e = try ClientEngine(config: testConfig())
        try e.goLive(now: 0)
        let id = try e.send(conversation: "c", payload: [1], now: 0)
        _ = e.drainFrames(); _ = e.drainEvents()
        try e.handle(.sendReject(SendReject(messageID: id, conversation: "c", code: .rateLimited, retryAfterMs: 700)), now: 10)
        #expect(e.state(of: id) == .sending)
        #expect(e.drainEvents().isEmpty)
        e.handleTimeout(now: 110)   // the old ack timeout would have fired here
        #expect(e.drainFrames().isEmpty)
        e.handleTimeout(now: 709)
        #expect(e.drainFrames().isEmpty)
        e.handleTimeout(now: 710)
        #expect(e.drainFrames().compactMap(\.send).map(\.messageID) == [id])
        #expect(e.outbox().first { $0.id == id }?.attempts == 2)
    }

    @Test func permanentRejectFails() throws {
        let e = try ClientEngine(config: testConfig())
        try e.goLive(now: 0)
        let id = try e.send(conversation: "c", payload: [1], now: 0)
        _ = e.drainEvents()
        try e.handle(.sendReject(SendReject(messageID: id, conversation: "c", code: .notMember)), now: 5)
        #expect(e.state(of: id) == .failed(.rejected(.notMember)))
        #expect(e.drainEvents() == [.stateChanged(id: id, conversation: "c", state: .failed(.rejected(.notMember)))])
        #expect(e.nextTimeout == nil)
    }

    @Test func maxOfflineAgeFailsAWaitingMessage() throws {
        let e = try ClientEngine(config: testConfig { $0.maxOfflineAgeMs = 5_000 })
        let id = try e.send(conversation: "c", payload: [1], now: 1_000)
        _ = e.drainEvents()
        #expect(e.drainFrames().isEmpty)   // offline: nothing goes out
        e.handleTimeout(now: 5_999)
        #expect(e.state(of: id) == .sending)
        #expect(e.outbox().first { $0.id == id }?.attempts == 0)
        e.handleTimeout(now: 6_000)
        #expect(e.state(of: id) == .failed(.maxOfflineAge))
        #expect(e.drainEvents() == [.stateChanged(id: id, conversation: "c", state: .failed(.maxOfflineAge))])
    }

    @Test func connectedWithoutWelcomeIsNotLiveAndDoesNotCountAttempts() throws {
        let e = try ClientEngine(config: testConfig())
        let id = try e.send(conversation: "c", payload: [1], now: 0)
        e.connected(now: 1)
        #expect(e.drainFrames().map { if case .hello = $0 { true } else { false } } == [true])
        e.handleTimeout(now: 5_000)
        #expect(e.outbox().first { $0.id == id }?.attempts == 0)
        // Disconnecting mid-flight: the timer pauses, attempts do not grow.
        try e.handle(.welcome(Welcome(user: "me", serverTimeMs: 0)), now: 5_000)
        #expect(e.drainFrames().compactMap(\.send).count == 1)
        e.disconnected(now: 5_010)
        e.handleTimeout(now: 9_000)
        #expect(e.drainFrames().isEmpty)
        #expect(e.outbox().first { $0.id == id }?.attempts == 1)
        #expect(e.state(of: id) == .sending)
    }

    @Test func helloIsRetransmittedWithBackoffUntilTheWelcome() throws {
        let e = try ClientEngine(config: testConfig())
        e.connected(now: 0)
        func hellos() -> Int { e.drainFrames().filter { if case .hello = $0 { true } else { false } }.count }
        #expect(hellos() == 1)
        let first = try #require(e.nextTimeout)
        e.handleTimeout(now: first - 1)
        #expect(hellos() == 0)                      // not yet due
        e.handleTimeout(now: first)
        #expect(hellos() == 1)                      // the welcome (or the hello) was lost
        let second = try #require(e.nextTimeout)
        #expect(second - first > first)             // backing off
        try e.handle(.welcome(Welcome(user: "me", serverTimeMs: 0)), now: first + 1)
        #expect(e.drainEvents().contains(.connectionReady))
        e.handleTimeout(now: second + 100_000)
        #expect(hellos() == 0)                      // welcomed: no more hellos
        // The welcome answering the repeated hello changes nothing and is no error.
        try e.handle(.welcome(Welcome(user: "me", serverTimeMs: 0)), now: second + 100_001)
        #expect(e.drainEvents().isEmpty)
        #expect(e.stats.helloRetransmissions == 1)
        // A dropped connection stops the hellos.
        e.connected(now: 300_000)
        #expect(hellos() == 1)
        e.disconnected(now: 300_001)
        e.handleTimeout(now: 900_000)
        #expect(hellos() == 0)
    }

    // MARK: ordering and window

    @Test func reconnectResendsUnackedInOriginalOrderBeforeNewOnes() throws {
        let e = try ClientEngine(config: testConfig { $0.inflightWindow = 3 })
        try e.goLive(now: 0)
        let ids = try (0..<5).map { try e.send(conversation: "c\($0 % 2)", payload: [UInt8($0)], now: 0) }
        #expect(e.drainFrames().compactMap(\.send).map(\.messageID) == Array(ids[0..<3]))
        try e.handle(.sendAck(SendAck(messageID: ids[1], conversation: "c1", seq: 1, serverTimeMs: 0)), now: 1)
        #expect(e.drainFrames().compactMap(\.send).map(\.messageID) == [ids[3]])
        e.disconnected(now: 2)
        let late = try e.send(conversation: "c0", payload: [9], now: 3)
        let resent = try e.goLive(now: 4).compactMap(\.send).map(\.messageID)
        #expect(resent == [ids[0], ids[2], ids[3]])
        try e.handle(.sendAck(SendAck(messageID: ids[0], conversation: "c0", seq: 1, serverTimeMs: 0)), now: 5)
        try e.handle(.sendAck(SendAck(messageID: ids[2], conversation: "c0", seq: 2, serverTimeMs: 0)), now: 5)
        #expect(e.drainFrames().compactMap(\.send).map(\.messageID) == [ids[4], late])
    }

    @Test func windowFullQueuesInOrderAndAcksRefill() throws {
        let e = try ClientEngine(config: testConfig { $0.inflightWindow = 2 })
        try e.goLive(now: 0)
        let ids = try (0..<5).map { try e.send(conversation: "c", payload: [UInt8($0)], now: 0) }
        #expect(e.drainFrames().compactMap(\.send).map(\.messageID) == Array(ids[0..<2]))
        // Timeouts retransmit within the window, never admit more.
        e.handleTimeout(now: 100)
        #expect(e.drainFrames().compactMap(\.send).map(\.messageID) == Array(ids[0..<2]))
        try e.handle(.sendAck(SendAck(messageID: ids[1], conversation: "c", seq: 1, serverTimeMs: 0)), now: 101)
        #expect(e.drainFrames().compactMap(\.send).map(\.messageID) == [ids[2]])
        try e.handle(.sendReject(SendReject(messageID: ids[0], conversation: "c", code: .invalid)), now: 102)
        #expect(e.drainFrames().compactMap(\.send).map(\.messageID) == [ids[3]])
    }

    @Test func serverWindowLowersTheConfiguredOne() throws {
        let e = try ClientEngine(config: testConfig { $0.inflightWindow = 10 })
        for i in 0..<5 { _ = try e.send(conversation: "c", payload: [UInt8(i)], now: 0) }
        #expect(try e.goLive(now: 0, maxInflight: 2).compactMap(\.send).count == 2)
    }

    // MARK: clocks

    @Test func clockIncrementsPerSendAndMergesReceivedClocks() throws {
        let e = try ClientEngine(config: testConfig(node: 5))
        try e.goLive(now: 0)
        _ = try e.send(conversation: "c", payload: [1], now: 0)
        try e.handle(.push(message("c", seq: 1, node: 9, counter: 3)), now: 1)
        _ = try e.send(conversation: "c", payload: [2], now: 2)
        _ = try e.send(conversation: "d", payload: [3], now: 2)
        let clocks = e.drainFrames().compactMap(\.send).map(\.clock)
        #expect(clocks[0] == (try VectorClock(entries: [.init(node: 5, counter: 1)])))
        #expect(clocks[1] == (try VectorClock(entries: [.init(node: 5, counter: 2), .init(node: 9, counter: 3)])))
        #expect(clocks[2] == (try VectorClock(entries: [.init(node: 5, counter: 1)])))
        #expect(e.clock("c")[9] == 3)
    }

    // MARK: bad input

    @Test func unknownAckIsIgnoredAndCounted() throws {
        let e = try ClientEngine(config: testConfig())
        try e.goLive(now: 0)
        _ = e.drainEvents()
        try e.handle(.sendAck(SendAck(messageID: MessageID(high: 1, low: 1), conversation: "c", seq: 1, serverTimeMs: 0)), now: 1)
        try e.handle(.sendReject(SendReject(messageID: MessageID(high: 1, low: 1), conversation: "c", code: .invalid)), now: 1)
        #expect(e.stats.unknownAcks == 2)
        #expect(e.drainEvents().isEmpty)
        #expect(e.conversations.isEmpty)
    }

    @Test func ackForTheWrongConversationIsAnErrorAndChangesNothing() throws {
        let e = try ClientEngine(config: testConfig())
        try e.goLive(now: 0)
        let id = try e.send(conversation: "c", payload: [1], now: 0)
        _ = e.drainEvents(); _ = e.drainFrames()
        #expect(throws: ClientError.ackConversationMismatch(id, expected: "c", got: "d")) {
            try e.handle(.sendAck(SendAck(messageID: id, conversation: "d", seq: 1, serverTimeMs: 0)), now: 1)
        }
        #expect(throws: ClientError.ackConversationMismatch(id, expected: "c", got: "d")) {
            try e.handle(.sendReject(SendReject(messageID: id, conversation: "d", code: .invalid)), now: 1)
        }
        #expect(e.state(of: id) == .sending)
        #expect(e.drainEvents().isEmpty)
        #expect(e.stats.mismatchedAcks == 2)
        #expect(e.cursor("c") == 0 && e.cursor("d") == 0)
        #expect(!e.conversations.contains("d"))
    }

    @Test func invalidConversationOrPayloadIsATypedErrorAndQueuesNothing() throws {
        let e = try ClientEngine(config: testConfig { $0.limits.maxPayloadBytes = 8 })
        try e.goLive(now: 0)
        _ = e.drainEvents()
        #expect(throws: ClientError.invalidConversation(.empty)) { try e.send(conversation: "", payload: [1], now: 0) }
        #expect(throws: ClientError.invalidConversation(.tooLong(129, limit: 128))) {
            try e.send(conversation: String(repeating: "x", count: 129), payload: [1], now: 0)
        }
        #expect(throws: ClientError.invalidConversation(.containsNUL)) { try e.send(conversation: "a\u{0}b", payload: [1], now: 0) }
        // A look-alike that is not in NFC is refused; its composed form is the name.
        #expect(throws: ClientError.invalidConversation(.notNFC)) { try e.send(conversation: "jose\u{301}", payload: [1], now: 0) }
        #expect(throws: ClientError.emptyPayload) { try e.send(conversation: "c", payload: [], now: 0) }
        #expect(throws: ClientError.payloadTooLarge(9, limit: 8)) { try e.send(conversation: "c", payload: Array(repeating: 0, count: 9), now: 0) }
        #expect(e.drainFrames().isEmpty)
        #expect(e.drainEvents().isEmpty)
        #expect(e.outbox().isEmpty)
        #expect(e.conversations.isEmpty)
    }

    @Test func aLookAlikeOfAKnownConversationIsAnotherNameAndRefused() throws {
        let e = try ClientEngine(config: testConfig())
        try e.goLive(now: 0)
        _ = try e.send(conversation: "jos\u{E9}", payload: [1], now: 0)
        _ = e.drainFrames(); _ = e.drainEvents()
        // Canonically equal to the known name, but other bytes: not that conversation.
        #expect(throws: ClientError.invalidConversation(.notNFC)) { try e.send(conversation: "jose\u{301}", payload: [2], now: 0) }
        #expect(e.cursor("jose\u{301}") == 0 && e.timeline("jose\u{301}") == nil)
        #expect(e.timeline("jos\u{E9}")?.count == 1)
        #expect(e.drainFrames().isEmpty)
    }

    @Test func aSendOverTheServersAnnouncedPayloadLimitIsRefusedLocally() throws {
        let e = try ClientEngine(config: testConfig())
        e.connected(now: 0)
        _ = e.drainFrames()
        try e.handle(.welcome(Welcome(user: "me", serverTimeMs: 0, limits: ServerLimits(maxPayloadBytes: 16))), now: 0)
        _ = e.drainFrames(); _ = e.drainEvents()
        #expect(throws: ClientError.payloadTooLarge(17, limit: 16)) { try e.send(conversation: "c", payload: Array(repeating: 1, count: 17), now: 0) }
        #expect(e.drainFrames().isEmpty && e.outbox().isEmpty)
        _ = try e.send(conversation: "c", payload: Array(repeating: 1, count: 16), now: 0)
        #expect(e.drainFrames().count == 1)
    }

    @Test func badBytesAndClientBoundFramesAreTypedErrors() throws {
        let e = try ClientEngine(config: testConfig())
        #expect(throws: ClientError.wire(.malformed)) {
            try [UInt8]([0xFF, 0xFF, 0xFF]).withUnsafeBytes { try e.handle(frameBytes: $0, now: 0) }
        }
        #expect(throws: ClientError.unexpectedFrame("welcome without hello")) {
            try e.handle(.welcome(Welcome(user: "u", serverTimeMs: 0)), now: 0)
        }
        #expect(throws: ClientError.unexpectedFrame("send")) {
            try e.handle(.send(Send(conversation: "c", messageID: MessageID(high: 1, low: 1), clock: VectorClock(), payload: [1])), now: 0)
        }
        #expect(throws: ClientError.invalidConfig("nodeID must not be 0")) { try ClientEngine(config: testConfig(node: 0)) }
        #expect(throws: ClientError.invalidConfig("jitter must be in 0...1")) { try ClientEngine(config: testConfig { $0.jitter = 2 }) }
    }

    @Test func spuriousTimeoutsDoNothing() throws {
        let e = try ClientEngine(config: testConfig())
        try e.goLive(now: 0)
        let id = try e.send(conversation: "c", payload: [1], now: 0)
        _ = e.drainFrames(); _ = e.drainEvents()
        for t: UInt64 in [0, 1, 50, 99, 99, 3] { e.handleTimeout(now: t) }
        #expect(e.drainFrames().isEmpty)
        #expect(e.drainEvents().isEmpty)
        #expect(e.outbox().first { $0.id == id }?.attempts == 1)
        #expect(e.nextTimeout == 100)
    }

    @Test func encodedFramesRoundTripThroughTheEngine() throws {
        let e = try ClientEngine(config: testConfig())
        e.connected(now: 0)
        let codec = FrameCodec()
        let hello = try codec.decode(try #require(e.pollTransmit()))
        #expect(hello == .hello(Hello(token: "t1", deviceNode: 1)))
        let welcome = try codec.encode(.welcome(Welcome(user: "me", serverTimeMs: 0)))
        try welcome.withUnsafeBytes { try e.handle(frameBytes: $0, now: 0) }
        let id = try e.send(conversation: "c", payload: [7], now: 1)
        guard case let .send(s) = try codec.decode(try #require(e.pollTransmit())) else { Issue.record("no send"); return }
        #expect(s.messageID == id)
        let ack = try codec.encode(.sendAck(SendAck(messageID: id, conversation: "c", seq: 1, serverTimeMs: 3)))
        try ack.withUnsafeBytes { try e.handle(frameBytes: $0, now: 2) }
        #expect(e.state(of: id) == .sent(seq: 1, serverTimeMs: 3))
    }

    /// The outbox lists the last `sentRetention` acked messages (oldest first, wrapping around
    /// its ring) before the unacked ones, each with its conversation, seq and attempts.
    @Test func outboxKeepsTheLastSentMessagesInAckOrder() throws {
        let e = try ClientEngine(config: testConfig { $0.sentRetention = 3 })
        try e.goLive(now: 0)
        var ids: [MessageID] = []
        for i in 0..<6 { ids.append(try e.send(conversation: i % 2 == 0 ? "even" : "odd", payload: [UInt8(i)], now: 1)) }
        _ = e.drainFrames()
        e.handleTimeout(now: 150)   // every message retransmitted once: 2 attempts each
        _ = e.drainFrames()
        // Acked out of send order; the last one stays unacked.
        for (n, i) in [1, 0, 3, 2, 4].enumerated() {
            let name = i % 2 == 0 ? "even" : "odd"
            try e.handle(.sendAck(SendAck(messageID: ids[i], conversation: name, seq: UInt64(10 + n), serverTimeMs: 50 + UInt64(n))), now: 200)
        }
        let listed = e.outbox()
        #expect(listed.map(\.id) == [ids[3], ids[2], ids[4], ids[5]])
        #expect(listed.map(\.conversation) == ["odd", "even", "even", "odd"])
        #expect(listed.map(\.state) == [.sent(seq: 12, serverTimeMs: 52), .sent(seq: 13, serverTimeMs: 53),
                                         .sent(seq: 14, serverTimeMs: 54), .sending])
        #expect(listed.map(\.seq) == [12, 13, 14, nil])
        #expect(listed.map(\.attempts) == [2, 2, 2, 2])
    }

    /// `pollTransmit(_:)` hands out the frames `pollTransmit()` would, in place, one per call.
    @Test func frameBytesLentInPlaceAreTheFramesPollTransmitReturns() throws {
        let copying = try ClientEngine(config: testConfig())
        let lending = try ClientEngine(config: testConfig())
        let welcome = try FrameCodec().encode(.welcome(Welcome(user: "me", serverTimeMs: 0)))
        var copied: [[UInt8]] = []
        var lent: [[UInt8]] = []
        for (engine, isLending) in [(copying, false), (lending, true)] {
            engine.connected(now: 0)
            func drain() {
                if isLending {
                    while let frame = engine.pollTransmit({ [UInt8]($0) }) { lent.append(frame) }
                } else {
                    while let frame = engine.pollTransmit() { copied.append(frame) }
                }
            }
            drain()
            try welcome.withUnsafeBytes { try engine.handle(frameBytes: $0, now: 0) }
            for i in 0..<5 { _ = try engine.send(conversation: "c\(i % 2)", payload: [UInt8](repeating: UInt8(i), count: 40 * i + 1), now: 1) }
            drain()
            engine.handleTimeout(now: 60_000)
            drain()
        }
        #expect(copied.count >= 11)
        #expect(lent == copied)
        #expect(lending.pollTransmit { _ in Issue.record("a frame after the queue drained") } == nil)
    }
}
