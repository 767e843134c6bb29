import Crypto
import CryptoExtras
import Foundation
import JWTKit
import IMRCore
import Logging
import Testing
@testable import IMRRelay
@testable import imrctl

/// JWTs as the relay checks them: HS256 with the secret, ES256 and RS256 with a public key;
/// every refusal with its verdict (the engine turns `.invalid` into AUTH_FAILED and `.expired`
/// into TOKEN_EXPIRED).
@Suite struct JWTTokenTests {
    let authority = try! TokenAuthority(secret: Array("0123456789abcdef0123456789abcdef".utf8))
    let nowMs: UInt64 = 1_800_000_000_000
    var now: Date { Date(timeIntervalSince1970: Double(nowMs) / 1000) }

    static func segment(_ json: String) -> String {
        Data(json.utf8).base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    @Test func mintedTokensVerifyUntilTheyExpireWithSkew() async throws {
        let verifier = authority.verifier()
        let token = try await authority.mint(user: "alice", ttlSeconds: 60, nowUnixMs: nowMs)
        #expect(verifier.verify(token: token, nowUnixMs: nowMs) == .valid(user: "alice"))
        #expect(verifier.verify(token: token, nowUnixMs: nowMs + 60_000 + 29_000) == .valid(user: "alice"), "30 s of skew")
        #expect(verifier.verify(token: token, nowUnixMs: nowMs + 60_000 + 30_000) == .expired)
        let unicode = try await authority.mint(user: "zoë.ü/+", ttlSeconds: 60, nowUnixMs: nowMs)
        #expect(verifier.verify(token: unicode, nowUnixMs: nowMs) == .valid(user: "zoë.ü/+"))
    }

    @Test func forgedMalformedAndMisdirectedTokensAreRefused() async throws {
        let verifier = authority.verifier(audience: "relay-1")
        let good = try await authority.mint(RelayClaims(user: "alice", expires: now + 60, audience: "relay-1"))
        #expect(verifier.verify(token: good, nowUnixMs: nowMs) == .valid(user: "alice"))
        let parts = good.split(separator: ".").map(String.init)
        let payload = Self.segment(#"{"sub":"mallory","exp":\#(nowMs / 1000 + 60),"aud":"relay-1"}"#)
        let other = try TokenAuthority(secret: Array("another secret, also long enough for HS256".utf8))
        let es256 = try TokenAuthority(es256PrivateKeyPEM: P256.Signing.PrivateKey().pemRepresentation)
        let refused: [(String, String)] = [
            (parts[0] + "." + payload + "." + parts[2], "another user under the same signature"),
            (parts[0] + "." + parts[1] + "." + String(parts[2].reversed()), "a bad signature"),
            (Self.segment(#"{"alg":"none","typ":"JWT"}"#) + "." + parts[1] + ".", "alg none"),
            (Self.segment(#"{"alg":"HS512","typ":"JWT"}"#) + "." + parts[1] + "." + parts[2], "another algorithm named"),
            (try await other.mint(RelayClaims(user: "alice", expires: now + 60, audience: "relay-1")), "another secret"),
            (try await es256.mint(RelayClaims(user: "alice", expires: now + 60, audience: "relay-1")), "ES256 to an HS256 relay"),
            (try await authority.mint(RelayClaims(user: "alice", expires: now + 60)), "no audience"),
            (try await authority.mint(RelayClaims(user: "alice", expires: now + 60, audience: "relay-2")), "another audience"),
            (try await authority.mint(RelayClaims(user: "alice", expires: now + 600, notBefore: now + 300, audience: "relay-1")),
             "not yet valid"),
            (try await authority.mint(RelayClaims(user: "", expires: now + 60, audience: "relay-1")), "no user"),
            ("", "empty"), ("a.b.c", "garbage"), (good + ".", "four parts"), (String(repeating: "A", count: 10_000), "long"),
        ]
        for (token, why) in refused {
            #expect(verifier.verify(token: token, nowUnixMs: nowMs) == .invalid, "\(why)")
        }
        // Authentic but expired: expired, not invalid; a tampered expired token is invalid.
        let expired = try await authority.mint(RelayClaims(user: "alice", expires: now - 3600, audience: "relay-1"))
        #expect(verifier.verify(token: expired, nowUnixMs: nowMs) == .expired)
        #expect(verifier.verify(token: expired.dropLast(2) + "AA", nowUnixMs: nowMs) == .invalid)
        #expect(throws: (any Error).self) { try TokenAuthority(secret: Array("shorter than the 32 bytes of SHA-256".utf8.prefix(31))) }
    }

    @Test func es256AndRS256TokensVerifyWithThePublicKeyOnly() async throws {
        let dir = NSTemporaryDirectory() + "imr-jwt-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let p256 = P256.Signing.PrivateKey()
        try p256.publicKey.pemRepresentation.write(toFile: dir + "/es256.pem", atomically: true, encoding: .utf8)
        let es256 = try TokenAuthority(es256PrivateKeyPEM: p256.pemRepresentation)
        let esVerifier = try JWTTokenVerifier(publicKeyFile: dir + "/es256.pem")
        #expect(esVerifier.verify(token: try await es256.mint(user: "alice", ttlSeconds: 60, nowUnixMs: nowMs), nowUnixMs: nowMs)
                == .valid(user: "alice"))
        #expect(esVerifier.verify(token: try await authority.mint(user: "alice", ttlSeconds: 60, nowUnixMs: nowMs), nowUnixMs: nowMs)
                == .invalid, "an HS256 token to an ES256 relay")

        let rsa = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        try rsa.publicKey.pemRepresentation.write(toFile: dir + "/rs256.pem", atomically: true, encoding: .utf8)
        let keys = JWTKeyCollection()
        await keys.add(rsa: try Insecure.RSA.PrivateKey(pem: rsa.pemRepresentation), digestAlgorithm: .sha256)
        let rsToken = try await keys.sign(RelayClaims(user: "bob", expires: now + 60))
        let rsVerifier = try JWTTokenVerifier(publicKeyFile: dir + "/rs256.pem")
        #expect(rsVerifier.verify(token: rsToken, nowUnixMs: nowMs) == .valid(user: "bob"))
        #expect(esVerifier.verify(token: rsToken, nowUnixMs: nowMs) == .invalid)
        try "not a key".write(toFile: dir + "/junk.pem", atomically: true, encoding: .utf8)
        #expect(throws: (any Error).self) { try JWTTokenVerifier(publicKeyFile: dir + "/junk.pem") }
    }
}

/// The relay in-process (as the demo runs it), over real loopback TCP.
@Suite struct RelayInProcessTests {
    static let secret = Array("in-process-secret-0123456789abcdef".utf8)

    func withRelay(configure: (inout ServerConfig) -> Void = { _ in }, _ body: (Int, TokenAuthority) async throws -> Void) async throws {
        let authority = try TokenAuthority(secret: Self.secret)
        var options = RelayOptions(databasePath: nil, verifier: authority.verifier())
        options.conversations = [("general", ["alice", "bob"])]
        options.server.rateLimit = nil
        configure(&options.server)
        var logger = Logger(label: "imr.relay.test")
        logger.logLevel = .warning
        let relay = Relay(options: options, logger: logger)
        let port = try await relay.start(host: "127.0.0.1", port: 0)
        #expect(port > 0)
        do { try await body(port, authority) } catch { try await relay.stop(); throw error }
        try await relay.stop()
    }

    @Test(.timeLimit(.minutes(1)))
    func sendPushSyncOverTCP() async throws {
        try await withRelay { port, authority in
            let alice = try RawClient(port: port)
            let bob = try RawClient(port: port)
            #expect(try await alice.hello(token: authority.mint(user: "alice", ttlSeconds: 60), node: 1).conversations
                    == [ConversationHead(conversation: "general", headSeq: 0)])
            _ = try await bob.hello(token: authority.mint(user: "bob", ttlSeconds: 60), node: 2)
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
            let token = try await authority.mint(user: "alice", ttlSeconds: 60)
            for frame in [Frame.hello(Hello(token: token, deviceNode: 1)),
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
            _ = try await good.hello(token: authority.mint(user: "alice", ttlSeconds: 60), node: 1)

            // A bad token: error frame, then the connection closes.
            let forged = try RawClient(port: port)
            try forged.send(.hello(Hello(token: "forged", deviceNode: 9)))
            #expect(try forged.readToEnd().errorCodes == [.authFailed])

            // An expired token.
            let late = try RawClient(port: port)
            try late.send(.hello(Hello(token: try await authority.mint(RelayClaims(user: "bob", expires: Date(timeIntervalSince1970: 1))),
                                       deviceNode: 9)))
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
            _ = try await retry.hello(token: authority.mint(user: "bob", ttlSeconds: 60), node: 3)

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
            _ = try await silent.hello(token: authority.mint(user: "alice", ttlSeconds: 60), node: 1)
            _ = try await lively.hello(token: authority.mint(user: "bob", ttlSeconds: 60), node: 2)
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
            let token = try await authority.mint(user: "alice", ttlSeconds: 60)
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
