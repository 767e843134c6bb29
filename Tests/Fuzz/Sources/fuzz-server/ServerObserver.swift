import FuzzKit
import IMRCore

/// What a host can see of a `ServerEngine` (its outputs, events, stats and store), checked
/// against the engine's promises after every step of a script:
///
/// - every output frame decodes, stays within the frame limit, goes to a session that is
///   open, and is a server-to-client kind; nothing follows a session's close;
/// - an ack names a message the store holds with that seq, sent by the session's user; fresh
///   acks of a conversation come in increasing seq order, and no seq is acked for two ids;
/// - a push or a sync page carries messages exactly as stored; a page is contiguous;
/// - the store's seqs are 1...head without a hole, and accepted events count up by one;
/// - the stats agree with what was observed, and no counter is negative;
/// - a full drain of one session holds no more than its budgets allow.
final class ServerObserver {
    let engine: ServerEngine
    let store: MemoryServerStore
    let config: ServerConfig
    private let codec: FrameCodec

    /// Sessions opened and not yet closed by the host or by a polled close.
    private(set) var live: [SessionID] = []
    private var opened = 0
    private var closedByOutput: Set<SessionID> = []
    private var closedByHost: Set<SessionID> = []
    private var userOf: [SessionID: String] = [:]
    private var framesPolled = 0
    private var freshAcks = 0
    private var duplicateAcks = 0
    private var pushesPolled = 0
    /// conversation -> last fresh ack's seq, and seq -> acked id.
    private var lastFreshAck: [String: UInt64] = [:]
    private var ackedIDs: [String: [UInt64: MessageID]] = [:]
    /// conversation -> last accepted event's seq.
    private var lastAccepted: [String: UInt64] = [:]
    private var acceptedEvents = 0
    /// Conversations that may exist (the script's names and every one seen in an output).
    private(set) var conversations: Set<String> = Set(Names.validConversations)

    init(engine: ServerEngine, store: MemoryServerStore, config: ServerConfig) {
        self.engine = engine
        self.store = store
        self.config = config
        codec = FrameCodec(limits: config.limits)
    }

    func opened(_ id: SessionID) {
        live.append(id)
        opened += 1
    }

    func closedByHost(_ id: SessionID) {
        if let i = live.firstIndex(of: id) {
            live.remove(at: i)
            closedByHost.insert(id)
        }
    }

    // MARK: outputs

    /// Polls up to `limit` outputs (nil: until there are none), checking each; a full drain
    /// also checks what each session received against its budgets.
    func poll(limit: Int? = nil) {
        var perSession: [SessionID: (frames: Int, bytes: Int)] = [:]
        var polled = 0
        while limit.map({ polled < $0 }) ?? true, let output = engine.pollOutput() {
            polled += 1
            switch output {
            case let .frame(id, bytes):
                trace("\(id) -> \((try? codec.decode(bytes)).map(brief) ?? brief(bytes))")
                framesPolled += 1
                perSession[id, default: (0, 0)].frames += 1
                perSession[id, default: (0, 0)].bytes += bytes.count
                check(frame: bytes, to: id)
            case let .close(id):
                trace("\(id) -> close")
                require(live.contains(id), "close of \(id), which is not open")
                live.removeAll { $0 == id }
                closedByOutput.insert(id)
            }
        }
        if limit == nil { checkBudgets(perSession) }
    }

    private func check(frame bytes: [UInt8], to id: SessionID) {
        require(live.contains(id), "a frame for \(id), which is not open (closed by host: \(closedByHost.contains(id)))")
        require(bytes.count <= config.limits.maxFrameBytes, "a frame of \(bytes.count) bytes is over the frame limit")
        let frame: Frame
        do {
            frame = try codec.decode(bytes)
        } catch {
            require(false, "an output frame does not decode (\(error)): \(brief(bytes))")
            return
        }
        switch frame {
        case let .welcome(w):
            require((try? IdentifierRules.validate(w.user, field: "user", limits: config.limits)) != nil, "welcome names an invalid user \(w.user)")
            if let user = userOf[id] { require(user == w.user, "\(id) welcomed as \(user), then as \(w.user)") }
            userOf[id] = w.user
            for head in w.conversations { conversations.insert(head.conversation) }
        case let .sendAck(ack):
            checkAck(ack, to: id)
        case let .push(m):
            pushesPolled += 1
            require(userOf[id] != nil, "a push to \(id) before its welcome")
            requireStored(m, "pushed")
        case let .syncResponse(r):
            require(userOf[id] != nil, "a sync response to \(id) before its welcome")
            require(r.messages.count <= Int(max(1, config.maxSyncPage)), "a sync page of \(r.messages.count) messages")
            var seq = r.afterSeq
            for m in r.messages {
                require(m.conversation == r.conversation, "a sync page of \(r.conversation) holds a message of \(m.conversation)")
                require(m.seq == seq &+ 1, "a sync page skips from \(seq) to \(m.seq)")
                seq = m.seq
                requireStored(m, "synced")
            }
            require(r.messages.isEmpty || seq <= r.headSeq, "a sync page reaches \(seq), beyond its head \(r.headSeq)")
            require(r.hasMore == (seq < r.headSeq), "has_more \(r.hasMore) with last seq \(seq) and head \(r.headSeq)")
        case let .conversationResult(result):
            conversations.insert(result.conversation)
            if result.code == .ok {
                require(Set(result.owners).isSubset(of: result.members), "owners \(result.owners) not among members \(result.members)")
            }
        case .error, .ping, .pong, .receipt, .sendReject:
            break
        case .hello, .send, .delivered, .syncRequest, .createConversation, .addMember, .removeMember:
            require(false, "the server sent a client's frame: \(brief(frame))")
        }
    }

    private func checkAck(_ ack: SendAck, to id: SessionID) {
        guard let user = userOf[id] else { return require(false, "an ack to \(id) before its welcome") }
        let stored = try? store.message(in: ack.conversation, id: ack.messageID)
        guard let stored else { return require(false, "ack of \(ack.messageID) in \(ack.conversation) seq \(ack.seq): not in the store") }
        require(stored.seq == ack.seq, "ack of seq \(ack.seq), stored as seq \(stored.seq)")
        require(stored.senderUser == user, "\(user) got the ack of a message of \(stored.senderUser)")
        require(stored.serverTimeMs == ack.serverTimeMs, "ack time \(ack.serverTimeMs), stored time \(stored.serverTimeMs)")
        if let earlier = ackedIDs[ack.conversation]?[ack.seq] {
            require(earlier == ack.messageID, "seq \(ack.seq) of \(ack.conversation) acked for \(earlier) and \(ack.messageID)")
        }
        ackedIDs[ack.conversation, default: [:]][ack.seq] = ack.messageID
        if ack.duplicate {
            duplicateAcks += 1
        } else {
            freshAcks += 1
            let last = lastFreshAck[ack.conversation] ?? 0
            require(ack.seq > last, "fresh ack of seq \(ack.seq) in \(ack.conversation) after seq \(last)")
            lastFreshAck[ack.conversation] = ack.seq
        }
    }

    private func requireStored(_ m: StoredMessage, _ how: String) {
        let stored = try? store.message(in: m.conversation, id: m.messageID)
        require(stored == m, "\(how) message differs from the store:\n  \(brief(m))\n  \(stored.map(brief) ?? "nothing")")
    }

    /// Within one full drain a session gets at most what its queue may hold: the frame or
    /// byte bound, the fatal error frame past it, and one catch-up push per conversation.
    private func checkBudgets(_ perSession: [SessionID: (frames: Int, bytes: Int)]) {
        let slack = conversations.count + 1
        let frameBound = max(config.maxOutboundFramesPerSession, config.maxOutboundFramesBeforeClose) + slack
        let byteBound = max(config.outboundSoftLimitBytes, config.outboundHardLimitBytes)
            + slack * (config.limits.maxPayloadBytes + 4 * config.limits.maxIdentifierBytes + 64 * config.limits.maxClockEntries + 1024)
        for (id, got) in perSession {
            require(got.frames <= frameBound, "\(id) had \(got.frames) frames queued (bound \(frameBound))")
            require(got.bytes <= byteBound, "\(id) had \(got.bytes) bytes queued (bound \(byteBound))")
        }
    }

    // MARK: events

    func drainEvents() {
        while let event = engine.pollEvent() {
            trace("event \(event)")
            switch event {
            case let .accepted(conversation, seq, messageID, sender):
                acceptedEvents += 1
                conversations.insert(conversation)
                let stored = try? store.message(in: conversation, id: messageID)
                require(stored?.seq == seq && stored?.senderUser == sender, "accepted \(messageID) as seq \(seq): the store has \(stored.map(brief) ?? "nothing")")
                if engine.stats.eventsDropped == 0 {
                    let last = lastAccepted[conversation] ?? 0
                    require(seq == last + 1, "accepted seq \(seq) in \(conversation) after seq \(last)")
                }
                lastAccepted[conversation] = seq
            case let .duplicateAcknowledged(conversation, seq, messageID):
                let stored = try? store.message(in: conversation, id: messageID)
                require(stored?.seq == seq, "duplicate of \(messageID) acknowledged as seq \(seq), stored \(stored.map(brief) ?? "nothing")")
            case let .membershipChanged(conversation, members):
                conversations.insert(conversation)
                require(members == members.sorted(by: { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }) && Set(members).count == members.count,
                        "membership of \(conversation) not sorted and unique: \(members)")
            case let .storeFailure(detail):
                require(false, "the memory store failed or an outgoing frame did not encode: \(detail)")
            case let .authenticated(id, user, _):
                require(live.contains(id), "\(id) authenticated while not open")
                require((try? IdentifierRules.validate(user, field: "user", limits: config.limits)) != nil, "authenticated an invalid user \(user)")
            default:
                break
            }
        }
    }

    // MARK: stats and store

    func checkStats() {
        let s = engine.stats
        let counters = [s.sessionsOpen, s.sessionsAuthenticated, s.sessionsOpened, s.sessionsClosedByServer, s.framesIn,
                        s.framesOut, s.accepted, s.duplicates, s.rejected, s.rateLimited, s.pushesQueued, s.pushesDropped,
                        s.receiptsQueued, s.syncRequests, s.syncMessages, s.protocolViolations, s.authFailures,
                        s.repeatedHellos, s.storeFailures, s.sessionsPaused, s.framesParked, s.eventsDropped]
        require(counters.allSatisfy { $0 >= 0 }, "a negative counter: \(s)")
        require(s.sessionsOpen == live.count, "stats say \(s.sessionsOpen) sessions open, the host sees \(live.count)")
        require(s.sessionsOpened == opened, "stats say \(s.sessionsOpened) sessions opened, the host opened \(opened)")
        let unauthenticated = engine.unauthenticatedSessions
        require(unauthenticated >= 0 && unauthenticated + s.sessionsAuthenticated <= s.sessionsOpen,
                "\(unauthenticated) unauthenticated + \(s.sessionsAuthenticated) authenticated of \(s.sessionsOpen) open")
        require(s.framesOut == framesPolled, "stats say \(s.framesOut) frames out, the host polled \(framesPolled)")
        require(s.accepted >= freshAcks && s.duplicates >= duplicateAcks, "more acks polled than counted: \(s)")
        require(s.pushesQueued >= pushesPolled, "\(pushesPolled) pushes polled, \(s.pushesQueued) queued")
        require(s.storeFailures == 0, "the memory store failed or a frame did not encode: \(s.storeFailures)")
        if s.eventsDropped == 0 { require(s.accepted == acceptedEvents, "\(s.accepted) accepted, \(acceptedEvents) events") }
    }

    /// The store's seqs are 1...head and each message is found by its id.
    func checkStore() {
        for conversation in conversations {
            guard let head = try? store.headSeq(of: conversation) else { continue }
            let messages = (try? store.messages(in: conversation, after: 0, limit: Int(head) + 1)) ?? []
            require(messages.count == Int(head), "\(conversation): head \(head), \(messages.count) messages")
            for (i, m) in messages.enumerated() {
                require(m.seq == UInt64(i + 1), "\(conversation): message \(i) has seq \(m.seq)")
                require((try? store.message(in: conversation, id: m.messageID)) == m, "\(conversation): seq \(m.seq) not found by its id")
            }
        }
    }
}
