import Foundation
import IMRCore
import Testing

/// Hostile clients against `imrctl relay` as a child process (so that its memory is measured
/// alone). Each test is one finding and checks, besides the behaviour the finding is about, that
/// the relay's resident memory stays bounded while it is attacked, that a well-behaved client
/// beside the attack keeps getting its pongs within 50 ms, and that a fresh client is still
/// served afterwards.
@Suite(.serialized) struct HostileClientTests {
    // MARK: Look-alike identities

    /// "josé" precomposed and decomposed are equal as Swift strings but not as bytes: the
    /// decomposed name must not open the door to what the precomposed one may do.
    @Test(.timeLimit(.minutes(1)))
    func lookAlikeUserNameGetsNothingOfTheRealUser() throws {
        let scratch = try Scratch()
        let real = "jos\u{00E9}", impostor = "jose\u{0301}"
        #expect(real == impostor && !Self.sameBytes(real, impostor), "equal strings, different bytes")
        let relay = try Self.startRelay(scratch, ["--db", scratch.db, "--conversation", "room:\(real),bob"])
        try Self.underAttack(relay, "look-alike user") {
            let jose = try RawClient(port: relay.port)
            let welcome = try jose.hello(token: real, node: 1)
            #expect(Array(welcome.user.utf8) == Array(real.utf8))
            #expect(welcome.conversations.contains { Self.sameBytes($0.conversation, "room") })

            let fake = try RawClient(port: relay.port, timeoutSeconds: 2)
            try fake.send(.hello(Hello(token: impostor, deviceNode: 2)))
            let door = try Self.first(on: fake) { if case .welcome = $0 { true } else if case .error = $0 { true } else { false } }
            if case let .error(refusal) = door {
                // Refused at the door: a name not in Unicode NFC is no user.
                #expect(refusal.code == .authFailed)
                #expect(refusal.fatal)
                #expect(Self.framesUntilClose(fake).closed, "a refused hello ends the connection")
            } else if case let .welcome(w) = door {
                // Let in as a different user: then every door of "room" stays shut to it.
                #expect(!w.conversations.contains { Self.sameBytes($0.conversation, "room") }, "room is listed to the impostor")

                let sync = try Self.syncAnswer(on: fake, "room")
                #expect(Self.errorCode(sync) == .notMember, "the impostor's sync of room: \(sync)")

                let secret = Self.newMessageID()
                try jose.send(.send(Send(conversation: "room", messageID: secret, clock: VectorClock(), payload: Array("for josé".utf8))))
                #expect(try Self.verdict(on: jose, for: secret).isAck)
                try fake.send(.ping(nonce: 77))
                var leaked: [StoredMessage] = []
                _ = try fake.read(until: { f -> Bool? in if case .pong(77) = f { true } else { nil } },
                                  other: { if case let .push(m) = $0 { leaked.append(m) } })
                #expect(leaked.isEmpty, "pushes of room reached the impostor")

                let forged = Self.newMessageID()
                try fake.send(.send(Send(conversation: "room", messageID: forged, clock: VectorClock(), payload: Array("as josé".utf8))))
                let sent = try Self.verdict(on: fake, for: forged)
                #expect(sent.rejectCode == .notMember, "the impostor's send into room: \(sent.frame)")

                try fake.send(.addMember(MemberChange(requestID: 1, conversation: "room", user: "mallory")))
                let added = try Self.conversationResult(on: fake, request: 1)
                #expect(added.code != .ok, "the impostor added a member to room")
            }

            // Whatever it tried: room holds only josé's messages and mallory did not get in.
            let (messages, _) = try jose.syncAll("room")
            #expect(messages.allSatisfy { Self.sameBytes($0.senderUser, real) }, "a message from someone else is in room")
            let mallory = try RawClient(port: relay.port)
            #expect(!(try mallory.hello(token: "mallory", node: 3)).conversations.contains { Self.sameBytes($0.conversation, "room") })
        }
    }

    /// "café" exists (created over the wire; the relay restarted since, so nothing of it is in
    /// memory); "cafe\u{0301}" is the same string to Swift. Creating the look-alike must not make
    /// its creator a member of, or a reader of, the real one.
    @Test(.timeLimit(.minutes(1)))
    func lookAlikeConversationNameReachesNothingOfTheRealOne() throws {
        let scratch = try Scratch()
        let real = "caf\u{00E9}", lookAlike = "cafe\u{0301}"
        let arguments = ["--db", scratch.db]
        let first = try Self.startRelay(scratch, arguments)
        do {
            let alice = try RawClient(port: first.port)
            _ = try alice.hello(token: "alice", node: 1)
            try alice.send(.createConversation(CreateConversation(requestID: 1, conversation: real, members: ["alice", "bob"])))
            #expect(try Self.conversationResult(on: alice, request: 1).code == .ok)
            for i in 0..<3 {
                let id = Self.newMessageID()
                try alice.send(.send(Send(conversation: real, messageID: id, clock: VectorClock(), payload: Array("secret \(i)".utf8))))
                #expect(try Self.verdict(on: alice, for: id).isAck)
            }
        }
        #expect(first.terminate() == 0)
        let relay = try Self.startRelay(scratch, arguments)

        try Self.underAttack(relay, "look-alike conversation") {
            let mallory = try RawClient(port: relay.port, timeoutSeconds: 2)
            _ = try mallory.hello(token: "mallory", node: 9)
            try mallory.sendRaw(Self.rawCreate(requestID: 7, conversation: lookAlike, members: ["mallory"]))
            // Refused (the name is not NFC) or created as a conversation of its own: either way, nothing of café.
            let answer = try Self.first(on: mallory) { f in
                if case let .conversationResult(r) = f { r.requestID == 7 } else if case .error = f { true } else { false }
            }
            var createdOwn = false
            if case let .conversationResult(created) = answer {
                #expect(created.members.allSatisfy { Self.sameBytes($0, "mallory") }, "members shown: \(created.members)")
                createdOwn = created.code == .ok
            }

            let sync = try Self.syncAnswer(on: mallory, real)
            #expect(Self.errorCode(sync) == .notMember, "mallory's sync of café: \(sync)")
            #expect(!createdOwn, "a name not in NFC is refused")
            let forged = Self.newMessageID()
            try mallory.send(.send(Send(conversation: real, messageID: forged, clock: VectorClock(), payload: Array("hi".utf8))))
            #expect(try Self.verdict(on: mallory, for: forged).rejectCode == .notMember)

            // café is untouched: alice still sees it and its three messages, all hers.
            let alice = try RawClient(port: relay.port, timeoutSeconds: 2)
            let welcome = try alice.hello(token: "alice", node: 1)
            #expect(welcome.conversations.contains { Self.sameBytes($0.conversation, real) && $0.headSeq == 3 })
            let page = try Self.syncAnswer(on: alice, real)
            guard case let .syncResponse(r) = page else {
                Issue.record("alice lost café: \(page)")
                return
            }
            #expect(r.messages.count == 3 && r.messages.allSatisfy { Self.sameBytes($0.senderUser, "alice") })
        }
    }

    // MARK: Replies nobody reads

    /// A client pipelines sync requests for large messages and never reads the replies: the
    /// relay must not buffer them all (it pauses that connection or closes it).
    @Test(.timeLimit(.minutes(1)))
    func syncRepliesNobodyReadsAreNotBuffered() throws {
        let scratch = try Scratch()
        let relay = try Self.startRelay(scratch, ["--conversation", "archive:filler,hoarder"])
        let payload = [UInt8](repeating: 0x5A, count: WireLimits.default.maxPayloadBytes - 512)
        do {
            let filler = try RawClient(port: relay.port)
            _ = try filler.hello(token: "filler", node: 1)
            for _ in 0..<60 {
                let id = Self.newMessageID()
                try filler.send(.send(Send(conversation: "archive", messageID: id, clock: VectorClock(), payload: payload)))
                #expect(try Self.verdict(on: filler, for: id).isAck)
            }
            try filler.send(.ping(nonce: 1))
            _ = try filler.read { f -> Bool? in if case .pong(1) = f { true } else { nil } }
        }
        let hoarder = try RawClient(port: relay.port, timeoutSeconds: 2)
        _ = try hoarder.hello(token: "hoarder", node: 2)
        let requests = 400
        let codec = FrameCodec()
        var flood: [UInt8] = []
        for _ in 0..<requests {
            try codec.encodeDelimited(.syncRequest(SyncRequest(conversation: "archive", afterSeq: 0, limit: 10_000)), appendingTo: &flood)
        }

        try Self.underAttack(relay, "sync replies nobody reads") {
            try hoarder.sendRaw(flood)
            Thread.sleep(forTimeInterval: 2.5)
        }

        // Reading at last: a paused connection is served again (each answer the first page of
        // archive), a closed one says so.
        let after = Self.drain(hoarder, upTo: requests, within: 10)
        let pages = after.frames.filter { f in
            if case let .syncResponse(r) = f { Self.sameBytes(r.conversation, "archive") && r.afterSeq == 0 && r.messages.first?.seq == 1 } else { false }
        }
        #expect(pages.count + after.frames.errorCodes.count == after.frames.count, "answers other than archive's first page or an error")
        #expect(after.closed || !pages.isEmpty, "still open, yet not served once it reads")
        #expect(relay.process.isRunning)
        print("HostileClient sync replies nobody reads: afterwards \(pages.count) pages read, closed: \(after.closed)")
    }

    // MARK: A frame that holds the loop

    /// One delivered frame with 80,000 watermarks (half naming a real conversation, half
    /// distinct made-up ones): refused as over the per-frame cap, or handled without holding
    /// everyone else's pongs.
    @Test(.timeLimit(.minutes(1)))
    func hugeDeliveredFrameDoesNotHoldTheLoop() throws {
        let scratch = try Scratch()
        let relay = try Self.startRelay(scratch, ["--db", scratch.db, "--conversation", "room:reader,writer"])
        let writer = try RawClient(port: relay.port)
        _ = try writer.hello(token: "writer", node: 1)
        for i in 0..<20 {
            let id = Self.newMessageID()
            try writer.send(.send(Send(conversation: "room", messageID: id, clock: VectorClock(), payload: Array("m\(i)".utf8))))
            #expect(try Self.verdict(on: writer, for: id).isAck)
        }
        let reader = try RawClient(port: relay.port, timeoutSeconds: 5)
        _ = try reader.hello(token: "reader", node: 2)
        // The hand-built frame is well-formed: a small one decodes as the delivered frame it says.
        let sample = [Watermark(conversation: "room", deliveredSeq: 3), Watermark(conversation: "f1", deliveredSeq: 1)]
        #expect(try FrameCodec().decode(Array(Self.rawDelivered(sample).dropFirst())) == .delivered(Delivered(watermarks: sample)))
        var marks: [Watermark] = []
        for i in 0..<40_000 {
            marks.append(Watermark(conversation: "room", deliveredSeq: UInt64(i % 20 + 1)))
            marks.append(Watermark(conversation: "f\(100_000 + i)", deliveredSeq: 1))
        }
        var bytes = Self.rawDelivered(marks)
        #expect(bytes.count > 900_000 && bytes.count < WireLimits.default.maxFrameBytes, "\(bytes.count) bytes")
        try FrameCodec().encodeDelimited(.ping(nonce: 5), appendingTo: &bytes)

        try Self.underAttack(relay, "huge delivered frame") {
            try reader.sendRaw(bytes)
            // The ping behind it: its pong says the frame was handled; an error frame, refused.
            let outcome = Self.drain(reader, upTo: 1) { if case .pong(5) = $0 { true } else if case .error = $0 { true } else { false } }
            #expect(!outcome.frames.isEmpty, "neither a pong nor an error frame after the delivered frame")
            Thread.sleep(forTimeInterval: 0.3)
        }
    }

    // MARK: Sends over the limits

    /// A payload over the limit (in a frame under it) and a clock with too many entries: each is
    /// a rejection of that send, by its message id, and the connection goes on.
    @Test(.timeLimit(.minutes(1)))
    func oversizePayloadAndClockAreRejectedBySendAndTheConnectionStays() throws {
        let scratch = try Scratch()
        let relay = try Self.startRelay(scratch, ["--conversation", "room:sender"])
        let limits = WireLimits.default
        // The stock codec refuses to write these; one with raised limits writes what a hostile peer would.
        let lax = FrameCodec(limits: WireLimits(maxPayloadBytes: limits.maxFrameBytes, maxClockEntries: 4 * limits.maxClockEntries))

        try Self.underAttack(relay, "oversize send") {
            let client = try RawClient(port: relay.port)
            _ = try client.hello(token: "sender", node: 1)

            let big = Self.newMessageID()
            var frame: [UInt8] = []
            try lax.encodeDelimited(.send(Send(conversation: "room", messageID: big, clock: VectorClock(),
                                               payload: [UInt8](repeating: 1, count: limits.maxPayloadBytes + 1))), appendingTo: &frame)
            #expect(frame.count < limits.maxFrameBytes)
            try client.sendRaw(frame)
            let tooBig = try Self.verdict(on: client, for: big)
            #expect(tooBig.rejectCode == .payloadTooLarge, "answer to an oversize payload: \(tooBig.frame)")

            let wide = Self.newMessageID()
            let entries = (0...limits.maxClockEntries).map { VectorClock.Entry(node: UInt64($0 + 1), counter: 1) }
            frame = []
            try lax.encodeDelimited(.send(Send(conversation: "room", messageID: wide,
                                               clock: try VectorClock(entries: entries, maxEntries: entries.count),
                                               payload: Array("wide".utf8))), appendingTo: &frame)
            try client.sendRaw(frame)
            let tooWide = try Self.verdict(on: client, for: wide)
            #expect(tooWide.rejectCode == .invalid, "answer to a clock of \(entries.count) entries: \(tooWide.frame)")

            let fine = Self.newMessageID()
            try client.send(.send(Send(conversation: "room", messageID: fine, clock: VectorClock(), payload: Array("fine".utf8))))
            #expect(try Self.verdict(on: client, for: fine).isAck, "the connection still takes sends")
        }
    }

    // MARK: Hello abuse

    /// Tokens a hello must not get past the door with.
    enum BadToken: String, CaseIterable, Sendable, CustomStringConvertible {
        case invalidUTF8, containsNUL, over4KiB
        var bytes: [UInt8] {
            switch self {
            case .invalidUTF8: [0x61, 0x6C, 0xFF, 0xFE, 0x63, 0x65]
            case .containsNUL: Array("ali".utf8) + [0] + Array("ce".utf8)
            case .over4KiB: [UInt8](repeating: 0x61, count: 4096 + 1000)
            }
        }
        var description: String { rawValue }
    }

    /// A hello with a malformed token gets a fatal error frame and the connection closes at
    /// once, not when the hello timeout would have closed it.
    @Test(.timeLimit(.minutes(1)), arguments: BadToken.allCases)
    func malformedHelloIsClosedAtOnce(_ token: BadToken) throws {
        // The hand-built hello is a well-formed frame: with a good token it decodes as a hello.
        #expect(try FrameCodec().decode(Array(Self.rawHello(token: Array("ok".utf8)).dropFirst()))
                == .hello(Hello(token: "ok", deviceNode: 1)))
        let scratch = try Scratch()
        let relay = try Self.startRelay(scratch, [])
        try Self.underAttack(relay, "hello with \(token)") {
            let client = try RawClient(port: relay.port, timeoutSeconds: 1)
            try client.sendRaw(Self.rawHello(token: token.bytes))
            let end = Self.framesUntilClose(client)
            #expect(end.frames.contains { if case let .error(e) = $0 { e.fatal } else { false } }, "frames: \(end.frames)")
            #expect(end.closed && end.seconds < 1, "closed: \(end.closed) after \(end.seconds) s")
        }
    }

    /// Before hello only a small frame is accepted: a length prefix announcing 1 MiB, followed
    /// by a part of it, ends the connection at once instead of holding a buffer for it.
    @Test(.timeLimit(.minutes(1)))
    func largeFrameBeforeHelloIsClosedAtOnce() throws {
        let scratch = try Scratch()
        let relay = try Self.startRelay(scratch, [])
        try Self.underAttack(relay, "1 MiB frame before hello") {
            let client = try RawClient(port: relay.port, timeoutSeconds: 1)
            var bytes: [UInt8] = []
            Varint.append(UInt64(WireLimits.default.maxFrameBytes), to: &bytes)
            bytes += [UInt8](repeating: 0x52, count: 64 << 10)
            try client.sendRaw(bytes)
            let end = Self.framesUntilClose(client)
            #expect(end.closed && end.seconds < 1, "closed: \(end.closed) after \(end.seconds) s")
        }
    }

    /// Unauthenticated connections beyond --max-unauthenticated are refused or closed.
    @Test(.timeLimit(.minutes(1)))
    func unauthenticatedCrowdIsCapped() throws {
        let scratch = try Scratch()
        let cap = 100
        let relay = try Self.startRelay(scratch, ["--max-unauthenticated", "\(cap)"])
        let pid = relay.process.processIdentifier
        try Self.underAttack(relay, "300 unauthenticated connections") {
            let before = try #require(Self.openSockets(of: pid))   // the listener and the probe's connection
            var crowd: [RawClient] = []
            for _ in 0..<300 { crowd.append(try RawClient(port: relay.port)) }
            // Wait for the relay to settle on what it keeps.
            var held = Int.max
            let deadline = Date().addingTimeInterval(3)
            repeat {
                Thread.sleep(forTimeInterval: 0.1)
                held = (Self.openSockets(of: pid) ?? Int.max) - before
            } while held > cap && Date() < deadline
            #expect(held <= cap, "the relay holds \(held) unauthenticated connections")
            // The crowd leaves; wait until the relay has let go of it, so the fresh client gets in.
            crowd.removeAll()
            Self.waitUntilSockets(of: pid, atMost: before)
        }
    }

    /// With --max-connections 50, the 51st connection is closed at once.
    @Test(.timeLimit(.minutes(1)))
    func connectionBeyondTheMaximumIsClosedAtOnce() throws {
        let scratch = try Scratch()
        let limit = 50
        let relay = try Self.startRelay(scratch, ["--max-connections", "\(limit)"])
        let pid = relay.process.processIdentifier
        try Self.underAttack(relay, "connection 51 of 50") {
            let before = try #require(Self.openSockets(of: pid))
            // The probe holds one connection: 49 more fill the relay.
            var crowd: [RawClient] = []
            for i in 1..<limit {
                let c = try RawClient(port: relay.port)
                _ = try c.hello(token: "crowd\(i)", node: UInt64(i))
                crowd.append(c)
            }
            let surplus = try RawClient(port: relay.port, timeoutSeconds: 1)
            let end = Self.framesUntilClose(surplus)
            #expect(end.closed && end.seconds < 1, "connection \(limit + 1): closed \(end.closed) after \(end.seconds) s")
            // The crowd leaves; wait until the relay has let go of it, so the fresh client fits.
            crowd.removeAll()
            Self.waitUntilSockets(of: pid, atMost: before)
        }
    }

    // MARK: Roles

    /// In a conversation created over the wire, a member may leave but may not remove its
    /// creator; the creator may remove members.
    @Test(.timeLimit(.minutes(1)))
    func memberCannotRemoveTheCreator() throws {
        let scratch = try Scratch()
        let relay = try Self.startRelay(scratch, [])
        try Self.underAttack(relay, "member removes creator") {
            let owner = try RawClient(port: relay.port), bob = try RawClient(port: relay.port), carol = try RawClient(port: relay.port)
            _ = try owner.hello(token: "owner", node: 1)
            _ = try bob.hello(token: "bob", node: 2)
            _ = try carol.hello(token: "carol", node: 3)
            try owner.send(.createConversation(CreateConversation(requestID: 1, conversation: "team", members: ["owner", "bob", "carol"])))
            #expect(try Self.conversationResult(on: owner, request: 1).code == .ok)

            try bob.send(.removeMember(MemberChange(requestID: 2, conversation: "team", user: "owner")))
            let coup = try Self.conversationResult(on: bob, request: 2)
            #expect(coup.code != .ok, "bob removed the creator: \(coup)")
            let stillThere = Self.newMessageID()
            try owner.send(.send(Send(conversation: "team", messageID: stillThere, clock: VectorClock(), payload: Array("mine".utf8))))
            #expect(try Self.verdict(on: owner, for: stillThere).isAck, "the creator can no longer send")

            try bob.send(.removeMember(MemberChange(requestID: 3, conversation: "team", user: "bob")))
            let left = try Self.conversationResult(on: bob, request: 3)
            #expect(left.code == .ok, "bob could not leave: \(left)")

            try owner.send(.removeMember(MemberChange(requestID: 4, conversation: "team", user: "carol")))
            let removed = try Self.conversationResult(on: owner, request: 4)
            #expect(removed.code == .ok && removed.members.map { Array($0.utf8) } == [Array("owner".utf8)], "\(removed)")
            let sync = try Self.syncAnswer(on: carol, "team")
            #expect(Self.errorCode(sync) == .notMember)
        }
    }

    /// A member who left a start-up conversation is not put back when the relay restarts with
    /// the same --conversation argument.
    @Test(.timeLimit(.minutes(1)))
    func leavingSurvivesARestartWithTheSameArguments() throws {
        let scratch = try Scratch()
        let arguments = ["--db", scratch.db, "--conversation", "room:alice,bob"]
        let first = try Self.startRelay(scratch, arguments)
        do {
            let bob = try RawClient(port: first.port)
            _ = try bob.hello(token: "bob", node: 2)
            try bob.send(.removeMember(MemberChange(requestID: 1, conversation: "room", user: "bob")))
            let left = try Self.conversationResult(on: bob, request: 1)
            #expect(left.code == .ok && !left.members.contains { Self.sameBytes($0, "bob") })
        }
        #expect(first.terminate() == 0)
        let relay = try Self.startRelay(scratch, arguments)
        try Self.underAttack(relay, "rejoin by restart") {
            let bob = try RawClient(port: relay.port, timeoutSeconds: 2)
            let welcome = try bob.hello(token: "bob", node: 2)
            #expect(!welcome.conversations.contains { Self.sameBytes($0.conversation, "room") }, "room is bob's again")
            let sync = try Self.syncAnswer(on: bob, "room")
            #expect(Self.errorCode(sync) == .notMember, "bob's sync of room after the restart: \(sync)")
            let alice = try RawClient(port: relay.port)
            #expect(try alice.hello(token: "alice", node: 1).conversations.contains { Self.sameBytes($0.conversation, "room") })
        }
    }

    // MARK: Per-request budgets

    /// 20,000 pings written as fast as possible by a client that reads nothing.
    @Test(.timeLimit(.minutes(1)))
    func pingFloodFromAClientThatNeverReads() throws {
        let scratch = try Scratch()
        let relay = try Self.startRelay(scratch, [])
        let count = 20_000
        let codec = FrameCodec()
        var flood: [UInt8] = []
        for n in 1...count { try codec.encodeDelimited(.ping(nonce: UInt64(n)), appendingTo: &flood) }
        let flooder = try SilentFlooder(port: relay.port, user: "flooder")
        try Self.underAttack(relay, "ping flood") {
            flooder.write(flood)
            _ = flooder.waitUntilWritten(seconds: 2)
            Thread.sleep(forTimeInterval: 1)
        }
        // Reading at last: the pings are answered in order (a relay may pace them), or the
        // connection was closed.
        let after = flooder.drain(upTo: count, within: 3)
        let nonces = after.frames.compactMap { f -> UInt64? in if case let .pong(n) = f { n } else { nil } }
        #expect(nonces.enumerated().allSatisfy { $0.element == UInt64($0.offset + 1) }, "pongs missing or out of order")
        #expect(nonces.count + after.frames.errorCodes.count == after.frames.count, "answers other than pongs and errors")
        #expect(after.closed || !nonces.isEmpty, "still open, yet no ping answered once it reads")
        #expect(relay.process.isRunning)
        print("HostileClient ping flood: afterwards \(nonces.count) pongs read, closed: \(after.closed)")
    }

    /// 20,000 head probes (sync requests with limit 0) written as fast as possible by a client
    /// that reads nothing.
    @Test(.timeLimit(.minutes(1)))
    func headProbeFloodFromAClientThatNeverReads() throws {
        let scratch = try Scratch()
        let relay = try Self.startRelay(scratch, ["--conversation", "room:flooder"])
        let count = 20_000
        let codec = FrameCodec()
        var flood: [UInt8] = []
        for _ in 0..<count {
            try codec.encodeDelimited(.syncRequest(SyncRequest(conversation: "room", afterSeq: 0, limit: 0)), appendingTo: &flood)
        }
        let flooder = try SilentFlooder(port: relay.port, user: "flooder")
        try Self.underAttack(relay, "head-probe flood") {
            flooder.write(flood)
            _ = flooder.waitUntilWritten(seconds: 2)
            Thread.sleep(forTimeInterval: 1)
        }
        // Reading at last: every answer is room's head (a relay may pace them), or the
        // connection was closed.
        let after = flooder.drain(upTo: count, within: 3)
        let heads = after.frames.filter { if case let .syncResponse(r) = $0 { r.messages.isEmpty && r.headSeq == 0 } else { false } }
        #expect(heads.count + after.frames.errorCodes.count == after.frames.count, "answers other than room's head and errors")
        #expect(after.closed || !heads.isEmpty, "still open, yet no probe answered once it reads")
        #expect(relay.process.isRunning)
        print("HostileClient head-probe flood: afterwards \(heads.count) answers read, closed: \(after.closed)")
    }
}
