import Foundation
import IMRCore
import Logging
import Testing
@testable import IMRRelay
@testable import imrctl

@Suite struct HMACTokenTests {
    let authority = try! HMACTokenAuthority(secret: Array("0123456789abcdef0123".utf8))
    let now: UInt64 = 1_800_000_000_000

    @Test func mintedTokensVerifyUntilTheyExpire() {
        let token = authority.mint(user: "alice", ttlSeconds: 60, nowUnixMs: now)
        #expect(authority.verify(token: token, nowUnixMs: now) == .valid(user: "alice"))
        #expect(authority.verify(token: token, nowUnixMs: now + 59_999) == .valid(user: "alice"))
        #expect(authority.verify(token: token, nowUnixMs: now + 60_000) == .expired)
        let unicode = authority.mint(user: "zoë.ü/+", ttlSeconds: 60, nowUnixMs: now)
        #expect(authority.verify(token: unicode, nowUnixMs: now) == .valid(user: "zoë.ü/+"))
    }

    @Test func tamperedForeignAndMalformedTokensAreInvalid() throws {
        let token = authority.mint(user: "alice", ttlSeconds: 60, nowUnixMs: now)
        let parts = token.split(separator: ".").map(String.init)
        let other = try HMACTokenAuthority(secret: Array("another secret, also long".utf8))
        let bad = [
            Base64URL.encode(Array("mallory".utf8)) + "." + parts[1] + "." + parts[2],   // other user
            parts[0] + "." + String(UInt64(parts[1])! + 3600) + "." + parts[2],          // extended expiry
            parts[0] + "." + parts[1] + "." + String(parts[2].reversed()),
            other.mint(user: "alice", ttlSeconds: 60, nowUnixMs: now),
            "", ".", "..", "a.b.c", "alice", token + ".", token + "x", parts[0] + ".-1." + parts[2],
            parts[0] + ". 1." + parts[2], String(repeating: "A", count: 10_000),
        ]
        for t in bad { #expect(authority.verify(token: t, nowUnixMs: now) == .invalid, "\(t.prefix(40))") }
        // An expired token that was tampered with is invalid, not expired.
        #expect(authority.verify(token: bad[1], nowUnixMs: now + 10_000_000) == .invalid)
        #expect(throws: (any Error).self) { try HMACTokenAuthority(secret: Array("short".utf8)) }
    }

    @Test func base64URLRoundTrips() {
        var rng = SeededGenerator(seed: 3)
        for n in 0..<40 {
            let bytes = (0..<n).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            let text = Base64URL.encode(bytes)
            #expect(!text.contains("=") && !text.contains("+") && !text.contains("/"))
            #expect(Base64URL.decode(text) == bytes)
        }
        #expect(Base64URL.decode("a") == nil)
        #expect(Base64URL.decode("ab=c") == nil)
    }
}

/// The relay in-process (as the demo runs it), over real loopback TCP.
@Suite struct RelayInProcessTests {
    static let secret = Array("in-process-secret-0123456789".utf8)

    func withRelay(configure: (inout ServerConfig) -> Void = { _ in }, _ body: (Int, HMACTokenAuthority) throws -> Void) async throws {
        let authority = try HMACTokenAuthority(secret: Self.secret)
        var options = RelayOptions(databasePath: nil, verifier: HMACTokenVerifier(authority: authority))
        options.conversations = [("general", ["alice", "bob"])]
        options.server.rateLimit = nil
        configure(&options.server)
        var logger = Logger(label: "imr.relay.test")
        logger.logLevel = .warning
        let relay = Relay(options: options, logger: logger)
        let port = try await relay.start(host: "127.0.0.1", port: 0)
        #expect(port > 0)
        do { try body(port, authority) } catch { try await relay.stop(); throw error }
        try await relay.stop()
    }

    @Test(.timeLimit(.minutes(1)))
    func sendPushSyncOverTCP() async throws {
        try await withRelay { port, authority in
            let alice = try RawClient(port: port)
            let bob = try RawClient(port: port)
            #expect(try alice.hello(token: authority.mint(user: "alice", ttlSeconds: 60), node: 1).conversations
                    == [ConversationHead(conversation: "general", headSeq: 0)])
            _ = try bob.hello(token: authority.mint(user: "bob", ttlSeconds: 60), node: 2)
            var rng = SeededGenerator(seed: 1)
            let id = MessageID.uuidV7(unixMilliseconds: 1, using: &rng)
            try alice.send(.send(Send(conversation: "general", messageID: id, clock: VectorClock(), payload: Array("hi".utf8))))
            let ack = try alice.read { f -> SendAck? in if case let .sendAck(a) = f { return a } else { return nil } }
            #expect(ack.seq == 1)
            let push = try bob.read { f -> StoredMessage? in if case let .push(m) = f { return m } else { return nil } }
            #expect(push.messageID == id && push.senderUser == "alice" && push.senderNode == 1)
            try bob.send(.ping(nonce: 77))
            #expect(try bob.read { f -> UInt64? in if case let .pong(n) = f { return n } else { return nil } } == 77)
            #expect(try bob.syncAll("general").messages.map(\.messageID) == [id])
        }
    }

    /// Hello and a 32 KiB send in one write: the event loop hands the hello to the engine
    /// thread, waits for its verdict, then splits the send at the full frame limit.
    @Test(.timeLimit(.minutes(1)))
    func helloPipelinedWithALargeSendIsServed() async throws {
        try await withRelay { port, authority in
            let codec = FrameCodec()
            var rng = SeededGenerator(seed: 2)
            let id = MessageID.uuidV7(unixMilliseconds: 1, using: &rng)
            var bytes: [UInt8] = []
            for frame in [Frame.hello(Hello(token: authority.mint(user: "alice", ttlSeconds: 60), deviceNode: 1)),
                          .send(Send(conversation: "general", messageID: id, clock: VectorClock(),
                                     payload: [UInt8](repeating: 7, count: 32 << 10)))] {
                let body = try codec.encode(frame)
                Varint.append(UInt64(body.count), to: &bytes)
                bytes += body
            }
            let alice = try RawClient(port: port)
            try alice.sendRaw(bytes)
            _ = try alice.read { f -> Welcome? in if case let .welcome(w) = f { return w } else { return nil } }
            let ack = try alice.read { f -> SendAck? in if case let .sendAck(a) = f { return a } else { return nil } }
            #expect(ack.messageID == id && ack.seq == 1)
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func badInputClosesOnlyTheOffendingConnection() async throws {
        try await withRelay { port, authority in
            let good = try RawClient(port: port)
            _ = try good.hello(token: authority.mint(user: "alice", ttlSeconds: 60), node: 1)

            // A bad token: error frame, then the connection closes.
            let forged = try RawClient(port: port)
            try forged.send(.hello(Hello(token: "forged", deviceNode: 9)))
            #expect(try forged.readToEnd().errorCodes == [.authFailed])

            // An expired token.
            let late = try RawClient(port: port)
            try late.send(.hello(Hello(token: authority.mint(user: "bob", expiresAtUnixSeconds: 1), deviceNode: 9)))
            #expect(try late.readToEnd().errorCodes == [.tokenExpired])

            // An oversize length prefix (2^40 bytes): refused before anything is buffered.
            let huge = try RawClient(port: port)
            var prefix: [UInt8] = []
            Varint.append(1 << 40, to: &prefix)
            try huge.sendRaw(prefix)
            #expect(try huge.readToEnd().errorCodes == [.frameTooLarge])

            // Garbage inside a well-formed length prefix.
            let garbage = try RawClient(port: port)
            try garbage.sendRaw([5, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF])
            #expect(try garbage.readToEnd().errorCodes == [.badFrame])

            // A frame before hello: refused, and the connection closes (one chance before hello).
            let early = try RawClient(port: port)
            try early.send(.syncRequest(SyncRequest(conversation: "general", afterSeq: 0, limit: 1)))
            #expect(try early.readToEnd().errorCodes == [.notAuthenticated])
            let retry = try RawClient(port: port)
            _ = try retry.hello(token: authority.mint(user: "bob", ttlSeconds: 60), node: 3)

            // The good connection never noticed.
            try good.send(.ping(nonce: 1))
            #expect(try good.read { f -> UInt64? in if case let .pong(n) = f { return n } else { return nil } } == 1)
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func silentConnectionsArePingedThenClosed() async throws {
        try await withRelay(configure: { $0.pingIntervalMs = 200; $0.idleTimeoutMs = 700; $0.timerGranularityMs = 50 }) { port, authority in
            let silent = try RawClient(port: port)
            let lively = try RawClient(port: port)
            _ = try silent.hello(token: authority.mint(user: "alice", ttlSeconds: 60), node: 1)
            _ = try lively.hello(token: authority.mint(user: "bob", ttlSeconds: 60), node: 2)
            let started = Date()
            // The lively one answers every ping for a while.
            var pings = 0
            while Date().timeIntervalSince(started) < 1.5 {
                if case let .ping(nonce) = try lively.read() {
                    pings += 1
                    try lively.send(.pong(nonce: nonce))
                }
            }
            #expect(pings >= 3)
            // The silent one got a ping, then the connection closed.
            let frames = try silent.readToEnd()
            #expect(frames.contains { if case .ping = $0 { true } else { false } })
            // The lively one is still served.
            try lively.send(.syncRequest(SyncRequest(conversation: "general", afterSeq: 0, limit: 0)))
            #expect(try lively.read { f -> SyncResponse? in if case let .syncResponse(r) = f { r } else { nil } }.headSeq == 0)
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func manyConnectionsOpenAndClose() async throws {
        try await withRelay { port, authority in
            let token = authority.mint(user: "alice", ttlSeconds: 60)
            for round in 0..<10 {
                var batch: [RawClient] = []
                for i in 0..<50 {
                    let c = try RawClient(port: port)
                    if (i + round) % 2 == 0 { _ = try c.hello(token: token, node: UInt64(i)) }
                    batch.append(c)
                }
                batch.removeAll()   // closes them
            }
            let last = try RawClient(port: port)
            _ = try last.hello(token: token, node: 1)
        }
    }
}
