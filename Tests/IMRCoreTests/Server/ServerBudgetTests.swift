import Testing
@testable import IMRCore

/// Every connection has a budget: bytes queued toward it, the
/// rate of its requests, the requests waiting for it to read, the size of its lists.
@Suite struct ServerBudgetTests {
    /// A conversation of `count` messages of `size` bytes each.
    static func filled(_ h: ServerHarness, count: Int, size: Int) throws -> SessionID {
        try h.engine.createConversation("big", members: ["alice", "bob"])
        let alice = h.connect("alice")
        let payload = String(repeating: "x", count: size)
        for _ in 0..<count { h.send(payload, in: "big", from: alice) }
        _ = h.take(alice)
        return alice
    }

    @Test(arguments: StoreKind.allCases)
    func syncRepliesAreProducedOnlyAsTheConnectionDrains(_ kind: StoreKind) throws {
        let config = ServerConfig(rateLimit: nil, outboundSoftLimitBytes: 600 << 10, outboundHardLimitBytes: 4 << 20)
        let h = try ServerHarness(kind, config: config)
        _ = try Self.filled(h, count: 40, size: 100 << 10)
        let bob = h.connect("bob")
        _ = h.take(bob)
        // 100 pipelined requests for pages of about 1 MiB, and the host never writes: the
        // first reply goes over the soft limit, the other 99 wait.
        for _ in 0..<100 { h.feed(.syncRequest(SyncRequest(conversation: "big", afterSeq: 0, limit: 100)), from: bob) }
        h.engine.setBacklog(bob, bytes: 0, now: h.now)
        #expect(h.engine.isInputPaused(bob))
        var outputs = 0
        var bytes = 0
        while let out = h.engine.pollOutput() {
            if case let .frame(_, frame) = out { outputs += 1; bytes += frame.count }
        }
        #expect(outputs == 1 && bytes < 1 << 20)
        // The host reports that its socket holds those bytes unwritten: still nothing more.
        h.engine.setBacklog(bob, bytes: bytes, now: h.now)
        h.advance(1)
        #expect(h.engine.pollOutput() == nil)
        #expect(h.engine.isInputPaused(bob))
        // Written: the next reply comes, one at a time as the connection drains.
        h.engine.setBacklog(bob, bytes: 0, now: h.now)
        var replies = 0
        while let out = h.engine.pollOutput() { if case .frame = out { replies += 1 } }
        #expect(replies == 1)
        #expect(!h.closed.contains(bob))
        // Draining step by step answers every request, in order.
        var total = 2
        for _ in 0..<200 where h.engine.isInputPaused(bob) {
            h.engine.setBacklog(bob, bytes: 0, now: h.now)
            h.advance(1)
            while let out = h.engine.pollOutput() { if case .frame = out { total += 1 } }
        }
        #expect(total == 100)
        #expect(!h.engine.isInputPaused(bob))
    }

    @Test(arguments: StoreKind.allCases)
    func aPageOfLargeMessagesIsReadOnlyAsFarAsOneFrameCarries(_ kind: StoreKind) throws {
        let h = try ServerHarness(kind)
        _ = try Self.filled(h, count: 30, size: 100 << 10)
        let page = try h.store.messages(in: "big", after: 0, limit: 256, maxBytes: 1 << 20)
        #expect(page.map(\.seq) == Array(1...11), "stops after the message that crosses the budget")
        #expect(try h.store.messages(in: "big", after: 5, limit: 3, maxBytes: 1 << 20).map(\.seq) == [6, 7, 8])
        #expect(try h.store.messages(in: "big", after: 0, limit: 10, maxBytes: 0).map(\.seq) == [1], "at least one")
    }

    @Test func requestsBeyondTheRateWaitForTokens() throws {
        let config = ServerConfig(rateLimit: nil, requestRateLimit: RateLimit(burst: 5, refillPerSecond: 10))
        let h = try ServerHarness(.memory, config: config)
        let alice = h.connect("alice")
        _ = h.take(alice)
        for i in 0..<20 { h.feed(.ping(nonce: UInt64(i)), from: alice) }
        #expect(h.take(alice).count == 5)
        #expect(h.engine.isInputPaused(alice))
        #expect(h.engine.nextTimeout == h.now + 100, "one token every 100 ms")
        h.advance(100)
        #expect(h.take(alice) == [.pong(nonce: 5)])
        // The bucket holds at most its burst, however long the wait.
        h.advance(1_000)
        #expect(h.take(alice).count == 5)
        var rest: [Frame] = []
        for _ in 0..<20 where h.engine.isInputPaused(alice) {
            h.advance(100)
            rest += h.take(alice)
        }
        #expect(rest.count == 9 && rest.last == .pong(nonce: 19))
        #expect(!h.engine.isInputPaused(alice))
        // Sends keep their own bucket: they are not held by the request budget.
        try h.engine.createConversation("c", members: ["alice"])
        for i in 0..<10 { h.feed(.ping(nonce: UInt64(100 + i)), from: alice) }
        #expect(h.engine.isInputPaused(alice))
        h.send("hi", in: "c", from: alice)
        #expect(h.take(alice).compactMap(\.ack).isEmpty, "a send behind waiting requests keeps its order")
    }

    @Test func aConnectionThatPilesUpRequestsIsClosed() throws {
        let config = ServerConfig(rateLimit: nil, requestRateLimit: RateLimit(burst: 1, refillPerSecond: 1),
                                  maxParkedInputBytes: 4 << 10)
        let h = try ServerHarness(.memory, config: config)
        let alice = h.connect("alice")
        _ = h.take(alice)
        for i in 0..<1_000 { h.feed(.ping(nonce: UInt64(i)), from: alice) }
        let frames = h.take(alice)
        #expect(frames.last?.errorFrame?.code == .rateLimited && frames.last?.errorFrame?.fatal == true)
        #expect(h.closed.contains(alice))
    }

    @Test func aBacklogOverTheHardLimitClosesTheConnection() throws {
        let h = try ServerHarness(.memory, config: ServerConfig(rateLimit: nil, outboundHardLimitBytes: 1 << 20))
        let alice = h.connect("alice")
        _ = h.take(alice)
        h.engine.setBacklog(alice, bytes: 2 << 20, now: h.now)
        #expect(h.take(alice).last?.errorFrame?.fatal == true)
        #expect(h.closed.contains(alice))
    }

    /// Found by fuzz-server: a backlog of Int.max (the C ABI allows INT64_MAX) added to the
    /// bytes already queued overflowed, a trap that killed the host.
    @Test func aBacklogOfIntMaxClosesWithoutOverflow() throws {
        let h = try ServerHarness(.memory, config: ServerConfig(rateLimit: nil, outboundHardLimitBytes: 1 << 20))
        let alice = h.connect("alice")   // its welcome is still queued
        h.engine.setBacklog(alice, bytes: Int.max, now: h.now)
        #expect(h.take(alice).last?.errorFrame?.fatal == true)
        #expect(h.closed.contains(alice))

        let unbounded = try ServerHarness(.memory, config: ServerConfig(rateLimit: nil, outboundHardLimitBytes: .max))
        let bob = unbounded.connect("bob")
        unbounded.engine.setBacklog(bob, bytes: Int.max, now: unbounded.now)
        unbounded.feed(.ping(nonce: 1), from: bob)
        unbounded.engine.setBacklog(bob, bytes: 0, now: unbounded.now)
        #expect(unbounded.take(bob).contains { $0 == .pong(nonce: 1) })
        #expect(!unbounded.closed.contains(bob))
    }

    @Test(arguments: StoreKind.allCases)
    func watermarkListsAreCappedAndCollapsed(_ kind: StoreKind) throws {
        let h = try ServerHarness(kind)
        try h.engine.createConversation("c", members: ["alice", "bob"])
        let alice = h.connect("alice")
        let bob = h.connect("bob")
        for i in 0..<3 { h.send("m\(i)", in: "c", from: alice) }
        _ = h.take(alice); _ = h.take(bob)
        // Over the cap: refused whole (the codec would not encode it; build it with a larger limit).
        let wide = FrameCodec(limits: WireLimits(maxWatermarksPerFrame: 100_000))
        let marks = (0..<300).map { Watermark(conversation: "c", deliveredSeq: UInt64($0 % 4)) }
        h.feedBytes(try wide.encode(.delivered(Delivered(watermarks: marks))), from: bob)
        let refused = h.take(bob)
        #expect(refused.count == 1 && refused[0].errorFrame?.code == .badFrame && refused[0].errorFrame?.fatal == false)
        #expect(try h.store.deviceWatermark(conversation: "c", user: "bob", node: h.engine.sessions[bob]!.node).delivered == 0)
        // A frame far larger than 256 watermarks can be is refused before it is unpacked.
        let huge = (0..<50_000).map { Watermark(conversation: "conv-\($0)", deliveredSeq: 1) }
        let hugeBytes = try wide.encode(.delivered(Delivered(watermarks: huge)))
        #expect(hugeBytes.count > 600_000 && hugeBytes.count < 1 << 20)
        h.feedBytes(hugeBytes, from: bob)
        let tooBig = h.take(bob)
        #expect(tooBig.count == 1 && tooBig[0].errorFrame?.code == .badFrame && tooBig[0].errorFrame?.fatal == false)
        #expect(tooBig.first?.errorFrame?.detail.contains("bytes of a delivered frame") == true, "refused by its size, before unpacking")
        // Under the cap, one conversation named 200 times: one receipt, the highest.
        let repeated = (0..<200).map { Watermark(conversation: "c", deliveredSeq: UInt64($0 % 4)) }
        h.feed(.delivered(Delivered(watermarks: repeated)), from: bob)
        h.advance(h.config.receiptIntervalMs)
        let receipts = h.take(alice).compactMap { if case let .receipt(r) = $0 { return r } else { return nil } }
        #expect(receipts.map(\.deliveredSeq) == [3])
    }

    @Test func beforeHelloOnlyASmallHelloIsAccepted() throws {
        let h = try ServerHarness(.memory, config: ServerConfig(rateLimit: nil, maxHelloBytes: 256))
        let big = h.engine.openSession(now: h.now)
        h.feed(.hello(Hello(token: "tok:" + String(repeating: "a", count: 400), deviceNode: 1)), from: big)
        #expect(h.take(big).first?.errorFrame.map { [$0.code == .frameTooLarge, $0.fatal] } == [true, true])
        #expect(h.closed.contains(big))
        // A malformed token (invalid UTF-8, a NUL, over the token limit) is fatal too.
        let limits = WireLimits(maxTokenBytes: 64)
        let strict = try ServerHarness(.memory, config: ServerConfig(limits: limits, rateLimit: nil))
        let badTokens: [[UInt8]] = [[0x74, 0xFF, 0xFE], [0x74, 0x00, 0x75], [UInt8](repeating: 0x61, count: 100)]
        for token in badTokens {
            let s = strict.engine.openSession(now: strict.now)
            strict.feedBytes(Self.helloBytes(token: token), from: s)
            let frames = strict.take(s)
            #expect(frames.count == 1 && frames[0].errorFrame?.fatal == true, "\(token.prefix(4))")
            #expect(strict.closed.contains(s))
        }
        #expect(strict.engine.unauthenticatedSessions == 0)
    }

    /// A hello frame with raw token bytes (the codec refuses to encode bad ones): version 1,
    /// hello = field 10 { token = 1, protocol_version = 2, device_node = 3 (fixed64) }.
    static func helloBytes(token: [UInt8]) -> [UInt8] {
        var hello: [UInt8] = [0x0A]
        Varint.append(UInt64(token.count), to: &hello)
        hello += token + [0x10, 0x01, 0x19, 7, 0, 0, 0, 0, 0, 0, 0]
        var frame: [UInt8] = [0x08, 0x01, 0x52]
        Varint.append(UInt64(hello.count), to: &frame)
        return frame + hello
    }
}
