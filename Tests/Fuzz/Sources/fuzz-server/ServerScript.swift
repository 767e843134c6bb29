import FuzzKit
import IMRCore

/// One fuzz input as a script over a fresh `ServerEngine` on a `MemoryServerStore`: the first
/// bytes choose the configuration (small budgets and limits are likely, so that the rate
/// limits, backpressure and closes are reached), then each step is an opcode and its
/// arguments. The observer checks the engine after every step.
struct ServerScript {
    let engine: ServerEngine
    let observer: ServerObserver
    let tokens: TokenTable?
    let codec: FrameCodec
    var now: UInt64 = 1_000_000
    /// Sends made so far, for retransmissions (by the same or another session).
    var sends: [Send] = []

    init(_ input: inout FuzzInput) {
        let config = Self.config(&input)
        let store = MemoryServerStore()
        let verifier: any TokenVerifier
        if input.byte() < 16 {
            tokens = nil
            verifier = InsecureUserNameVerifier()
        } else {
            let table = TokenTable()
            for user in Names.users { table.register(token: Names.tokenOf(user), user: user) }
            table.register(token: "texpired", user: "eve", expiresAtUnixMs: 1)
            table.register(token: "tlater", user: "eve", expiresAtUnixMs: 1_003_000)
            table.register(token: "tinvalid", user: "bad\u{0}user")
            tokens = table
            verifier = table
        }
        engine = ServerEngine(config: config, store: store, verifier: verifier)
        observer = ServerObserver(engine: engine, store: store, config: config)
        codec = FrameCodec(limits: config.limits)
        if input.bool() { try? engine.createConversation("general", members: ["alice", "bob"], owners: ["alice"]) }
        if input.bool() { try? engine.createConversation("ops", members: ["carol"]) }
    }

    static func config(_ input: inout FuzzInput) -> ServerConfig {
        var limits = WireLimits.default
        if input.byte() < 64 {
            limits.maxPayloadBytes = input.pick([16, 1024])
            limits.maxFrameBytes = input.pick([2048, 8192])
            limits.maxIdentifierBytes = input.pick([8, 128])
            limits.maxClockEntries = input.pick([2, 16])
            limits.maxWatermarksPerFrame = input.pick([1, 4])
            limits.maxMembersPerFrame = input.pick([2, 8])
        }
        let soft = input.pick([256, 4096, 1 << 20])
        return ServerConfig(
            limits: limits,
            maxSyncPage: input.pick([0, 1, 2, 256]),
            maxInflight: input.pick([1, 64]),
            rateLimit: input.pick([nil, RateLimit(burst: 2, refillPerSecond: 1), RateLimit(burst: 200, refillPerSecond: 100)]),
            maxOutboundFramesPerSession: input.pick([1, 4, 1024]),
            maxOutboundFramesBeforeClose: input.pick([2, 16, 8192]),
            outboundSoftLimitBytes: soft,
            outboundHardLimitBytes: soft * input.pick([1, 4, 8]),
            requestRateLimit: input.pick([nil, RateLimit(burst: 2, refillPerSecond: 1), RateLimit(burst: 500, refillPerSecond: 250)]),
            maxParkedInputBytes: input.pick([128, 4096, 1 << 20]),
            maxHelloBytes: input.pick([32, 8 << 10]),
            helloTimeoutMs: input.pick([100, 5_000]),
            pingIntervalMs: input.pick([0, 300, 30_000]),
            idleTimeoutMs: input.pick([0, 1_000, 90_000]),
            timerGranularityMs: input.pick([0, 1, 500]),
            maxMembersPerConversation: input.pick([1, 3, 10_000]),
            sendReceipts: input.bool(),
            maxQueuedEvents: input.pick([2, 10_000]),
            wallClockOffsetMs: input.pick([0, -2_000_000, Int64.max]),
            autoJoinConversations: input.byte() < 32 ? ["general"] : [],
            groupCommit: input.bool()
        )
    }

    mutating func run(_ input: inout FuzzInput) {
        var steps = 0
        while !input.isAtEnd {
            step(&input)
            observer.drainEvents()
            observer.checkStats()
            steps += 1
            if steps % 32 == 0 { observer.checkStore() }
        }
        // The host's last drain, then everything once more.
        engine.handleTimeout(now: now)
        observer.poll()
        observer.drainEvents()
        observer.checkStats()
        observer.checkStore()
    }

    private mutating func step(_ input: inout FuzzInput) {
        let op = input.byte() % 24
        trace("step \(op)")
        switch op {
        case 0, 1:
            if observer.live.count < 8 { observer.opened(engine.openSession(now: now)) }
        case 2, 3:
            hello(&input)
        case 4, 5, 6:
            deliver(Frames.toServer(&input), &input)
        case 7:
            // A retransmission (or another session's reuse) of an earlier send.
            if !sends.isEmpty { deliver(.send(sends[input.int(below: sends.count)]), &input) }
        case 8:
            let send = Send(conversation: input.pick(Names.validConversations), messageID: Names.messageID(&input),
                            clock: Names.clock(&input), payload: Names.payload(&input))
            deliver(.send(send), &input)
        case 9:
            let bytes = input.bytes(upTo: 64)
            bytes.withUnsafeBytes { engine.handle(frameBytes: $0, from: session(&input), now: now) }
        case 10:
            // A frame with one byte changed.
            guard var bytes = try? codec.encode(Frames.toServer(&input)), !bytes.isEmpty else { return }
            bytes[input.int(below: bytes.count)] = input.byte()
            bytes.withUnsafeBytes { engine.handle(frameBytes: $0, from: session(&input), now: now) }
        case 11, 12:
            advance(&input)
        case 13, 14:
            observer.poll()
        case 15:
            observer.poll(limit: Int(input.byte() % 4))
        case 16:
            let bytes = input.pick([-1, 0, 100, observer.config.outboundSoftLimitBytes, observer.config.outboundHardLimitBytes + 1, Int.max])
            engine.setBacklog(session(&input), bytes: bytes, now: now)
        case 17:
            engine.setWritable(session(&input), input.bool(), now: now)
        case 18:
            let id = session(&input)
            engine.closeSession(id, now: now)
            observer.closedByHost(id)
        case 19:
            let error = input.pick([WireError.malformedLength, .frameTooLarge(9, limit: 8), .streamFailed, .malformed])
            engine.handleStreamError(error, from: session(&input), now: now)
        case 20:
            admin(&input)
        case 21:
            engine.setWallClock(unixMs: input.u64(), now: now)
        default:
            _ = engine.isInputPaused(session(&input))
            _ = engine.isAuthenticated(session(&input))
            _ = engine.nextTimeout
        }
    }

    /// A session id: one of the open ones mostly, else a closed or never-opened one.
    private func session(_ input: inout FuzzInput) -> SessionID {
        let k = input.byte()
        if k < 240, !observer.live.isEmpty { return observer.live[Int(k) % observer.live.count] }
        return SessionID(rawValue: UInt64(k % 12))
    }

    /// Empty, expired, not yet expired, naming an invalid user, unknown, over the token limit.
    static let oddTokens = ["", "texpired", "tlater", "tinvalid", "nobody", String(repeating: "t", count: 5000)]

    private mutating func hello(_ input: inout FuzzInput) {
        let user = input.pick(Names.users + ["eve"])
        var token = tokens == nil ? user : Names.tokenOf(user)
        if input.byte() < 32 { token = input.pick(Self.oddTokens) }
        let version = input.byte() < 240 ? Frame.protocolVersion : UInt32(input.byte())
        deliver(.hello(Hello(token: token, protocolVersion: version, deviceNode: Frames.node(&input))), &input)
    }

    /// Hands a frame to a session, encoded (the usual path) or as a value (hosts that decode
    /// themselves, where the codec's limits have not been checked).
    private mutating func deliver(_ frame: Frame, _ input: inout FuzzInput) {
        if case let .send(send) = frame, sends.count < 64 { sends.append(send) }
        let id = session(&input)
        if input.byte() < 224, let bytes = try? codec.encode(frame) {
            trace("\(now) \(id) <- \(brief(frame))")
            bytes.withUnsafeBytes { engine.handle(frameBytes: $0, from: id, now: now) }
        } else {
            trace("\(now) \(id) <- value \(brief(frame))")
            engine.handle(frame, from: id, now: now)
        }
    }

    private mutating func advance(_ input: inout FuzzInput) {
        let step: UInt64 = input.pick([0, 1, 10, 100, 499, 500, 1_000, 5_000, 30_000, 100_000])
        // Rarely a clock that steps back: elapsed times must not wrap.
        now = input.byte() < 8 ? now - min(now, step) : now + step
        if input.bool() || (engine.nextTimeout.map { $0 <= now } ?? false) {
            engine.handleTimeout(now: now)
        }
    }

    /// The host's own calls: creating conversations, changing members, reading roles.
    private func admin(_ input: inout FuzzInput) {
        let conversation = Names.conversation(&input)
        switch input.byte() % 5 {
        case 0:
            let members = (0..<Int(input.byte() % 4)).map { _ in Names.user(&input) }
            try? engine.createConversation(conversation, members: members, owners: input.bool() ? [Names.user(&input)] : [])
        case 1:
            _ = try? engine.createConversationIfMissing(conversation, members: [Names.user(&input)])
        case 2:
            try? engine.addMember(Names.user(&input), to: conversation, role: MemberRole(rawValue: UInt32(input.byte() % 3)))
        case 3:
            try? engine.removeMember(Names.user(&input), from: conversation)
        default:
            let owners = try? engine.owners(of: conversation)
            if let role = try? engine.role(of: Names.user(&input), in: conversation) {
                require(role == .member || role == .owner, "role \(role.rawValue)")
            }
            _ = owners
        }
    }
}
