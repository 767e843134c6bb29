/// The sans-IO server engine: sessions, authentication, idempotent accept with per-conversation
/// sequencing, fan-out to every online member device, watermarks, paged sync, membership, rate
/// limits and per-session backpressure.
///
/// The host (the NIO relay, a C or Python program through the ABI, a simulation) owns the
/// sockets and the clock. Per connection it calls `openSession`, feeds every received frame to
/// `handle`, calls `closeSession` when the connection ends, and after each call drains
/// `pollOutput()` (frames to write, connections to close) and re-arms one timer at
/// `nextTimeout`. Time: see `ServerConfig`. One engine is used by one thread at a time.
///
/// Push policy: a stored message is pushed to every online device of every member except the
/// device that sent it: its ack carries the seq, and the client counts the ack as the message
/// held (its cursor stays contiguous). The sender's other devices get the push.
///
/// Budgets (`ServerEngine+Budgets`): bytes queued toward each
/// session are counted (the engine's queue plus what the host reports unwritten); past the soft
/// limit the session gets no pushes and its requests wait unhandled (the host stops reading it,
/// `isInputPaused`); past the hard limit it is closed. Requests draw on a per-session token
/// bucket; a session waits, it is not refused, while the bucket is empty.
public final class ServerEngine {
    public let config: ServerConfig
    let store: any ServerStore
    let verifier: any TokenVerifier
    let codec: FrameCodec

    var sessions: [SessionID: Session] = [:]
    /// user -> online (authenticated) sessions, in the order they authenticated.
    var online: [ExactIdentifier: [SessionID]] = [:]
    /// conversation -> members and owners; the engine is the store's only writer, so this
    /// stays exact. Keys and members are NFC-checked identifiers (`IdentifierRules`), among
    /// which `String` equality is byte equality.
    private(set) var memberCache: [ExactIdentifier: Membership] = [:]
    /// The same members sorted (fan-out order is deterministic), cached per conversation.
    private var orderedMemberCache: [ExactIdentifier: [String]] = [:]

    private var outputs: [ServerOutput] = []
    private var outputHead = 0
    /// Sessions with requests waiting (input paused): see `ServerEngine+Budgets`.
    var parkedSessions: Set<SessionID> = []
    /// Sessions not yet authenticated (the host caps them).
    public internal(set) var unauthenticatedSessions = 0
    private var events: [ServerEvent] = []
    private var eventHead = 0

    /// Receipts waiting for their interval (`ServerEngine+Receipts`).
    var receipts = ReceiptBoard()

    /// Group commit: a store batch is open, and outputs from `heldFrom` on wait for its commit.
    private var batchOpen = false
    private var heldFrom = 0

    private var nextSessionID: UInt64 = 1
    private var nextSweepAt: UInt64?
    var wallOffsetMs: Int64
    private var lastServerTimeMs: UInt64 = 0
    var counters = ServerStats()

    public init(config: ServerConfig, store: any ServerStore, verifier: any TokenVerifier) {
        self.config = config
        self.store = store
        self.verifier = verifier
        self.codec = FrameCodec(limits: config.limits)
        self.wallOffsetMs = config.wallClockOffsetMs
    }

    public var stats: ServerStats {
        var s = counters
        s.sessionsOpen = sessions.count
        s.sessionsAuthenticated = online.values.reduce(0) { $0 + $1.count }
        return s
    }

    // MARK: Time

    /// Sets wall time: `unixMs` is the Unix time in ms at monotonic `now`.
    public func setWallClock(unixMs: UInt64, now: UInt64) {
        wallOffsetMs = Int64(clamping: unixMs) &- Int64(clamping: now)
    }

    /// Wall time at `now`, never earlier than a server time handed out before.
    func serverTime(_ now: UInt64) -> UInt64 {
        let t = Int64(clamping: now).addingReportingOverflow(wallOffsetMs)
        let wall = t.overflow ? UInt64(now) : UInt64(clamping: t.partialValue)
        lastServerTimeMs = max(lastServerTimeMs, wall)
        return lastServerTimeMs
    }

    // MARK: Sessions

    /// A new connection: a session that must send hello first.
    public func openSession(now: UInt64) -> SessionID {
        let id = SessionID(rawValue: nextSessionID)
        nextSessionID += 1
        sessions[id] = Session(id: id, now: now, rateLimit: config.rateLimit, requestRateLimit: config.requestRateLimit)
        unauthenticatedSessions += 1
        counters.sessionsOpened += 1
        if nextSweepAt == nil { nextSweepAt = now.saturatingAdd(max(1, config.timerGranularityMs)) }
        return id
    }

    /// The connection ended (either side). Unknown or already closed ids are ignored; frames
    /// still queued for the session are discarded.
    public func closeSession(_ id: SessionID, now: UInt64) {
        guard let s = sessions.removeValue(forKey: id) else { return }
        goOffline(s)
        if sessions.isEmpty { nextSweepAt = nil }
    }

    private func goOffline(_ s: Session) {
        forgetParked(s)
        if case .awaitingHello = s.phase { unauthenticatedSessions -= 1 }
        guard let user = s.user else { return }
        if var list = online[ExactIdentifier(user)] {
            list.removeAll { $0 == s.id }
            online[ExactIdentifier(user)] = list.isEmpty ? nil : list
        }
    }

    /// The host's write buffer for this session filled up (false) or drained (true). While not
    /// writable the session gets no pushes (it is behind) and catches up later.
    public func setWritable(_ id: SessionID, _ writable: Bool, now: UInt64) {
        guard let s = sessions[id], s.isOpen else { return }
        s.hostWritable = writable
        if writable { outboundDrained(s, now: now) } else { markBehind(s, conversation: nil) }
    }

    /// Queues a fatal error frame and closes the session.
    func fail(_ s: Session, _ code: ErrorCode, _ detail: String) {
        guard s.isOpen else { return }
        enqueue(.error(ErrorFrame(code: code, detail: detail, fatal: true)), to: s, force: true)
        close(s, reason: detail)
    }

    /// Queues a close (after anything already queued); the session stops existing for inputs.
    func close(_ s: Session, reason: String) {
        guard s.isOpen else { return }
        goOffline(s)
        s.phase = .closing
        s.dropParked()
        counters.sessionsClosedByServer += 1
        outputs.append(.close(s.id))
        emit(.sessionClosed(s.id, reason: reason))
    }

    // MARK: Input

    /// One received frame (the bytes between two length prefixes). Never throws: bad bytes get
    /// an error frame, and a fatal one closes the session; the engine goes on.
    public func handle(frameBytes: UnsafeRawBufferPointer, from id: SessionID, now: UInt64) {
        guard let s = sessions[id], s.isOpen else { return }
        if s.user == nil && frameBytes.count > config.maxHelloBytes {
            counters.framesIn += 1
            counters.protocolViolations += 1
            emit(.protocolViolation(s.id, "frame of \(frameBytes.count) bytes before hello"))
            fail(s, .frameTooLarge, "before hello a frame is at most \(config.maxHelloBytes) bytes, got \(frameBytes.count)")
            return
        }
        // A frame larger than its kind can be (a delivered frame of 80,000 watermarks) is
        // refused before it is unpacked: no frame may hold the loop.
        if frameBytes.count > 4096, let field = FrameBodyKind.fieldNumber(of: frameBytes),
           let bound = sizeBound(ofBodyField: field), frameBytes.count > bound {
            counters.framesIn += 1
            s.lastReceivedAt = now
            let kind = field == FrameBodyKind.delivered ? "delivered" : field == FrameBodyKind.createConversation ? "create" : "request"
            rejectUndecodable(s, .tooManyItems(field: "bytes of a \(kind) frame", frameBytes.count, limit: bound), frameBytes, now)
            return
        }
        let frame: Frame
        do {
            frame = try codec.decode(frameBytes)
        } catch {
            counters.framesIn += 1
            s.lastReceivedAt = now
            rejectUndecodable(s, error, frameBytes, now)
            return
        }
        handle(frame, cost: frameBytes.count, from: s, now: now)
    }

    /// The stream under this session failed (for example the splitter saw an oversize length
    /// prefix or a malformed varint): error frame, then close.
    public func handleStreamError(_ error: WireError, from id: SessionID, now: UInt64) {
        guard let s = sessions[id], s.isOpen else { return }
        counters.protocolViolations += 1
        emit(.protocolViolation(s.id, error.description))
        if case .frameTooLarge = error {
            fail(s, .frameTooLarge, error.description)
        } else {
            fail(s, .badFrame, error.description)
        }
    }

    private func rejectUndecodable(_ s: Session, _ error: WireError, _ bytes: UnsafeRawBufferPointer, _ now: UInt64) {
        counters.protocolViolations += 1
        emit(.protocolViolation(s.id, error.description))
        // Before hello every failure is fatal: an unauthenticated peer gets one chance.
        guard s.user != nil else {
            let code: ErrorCode = if case .frameTooLarge = error { .frameTooLarge } else { .badFrame }
            fail(s, code, "hello refused: \(error.description)")
            return
        }
        // A refusal costs the session a request token; a peer that keeps sending bad frames is closed.
        if s.requestBucket?.take(now: now) != nil {
            fail(s, .rateLimited, "too many refused frames: \(error.description)")
            return
        }
        switch error {
        case .frameTooLarge:
            fail(s, .frameTooLarge, error.description)
        case .unsupportedVersion:
            fail(s, .unsupportedVersion, error.description)
        case .malformed, .missingBody, .malformedLength, .streamFailed:
            fail(s, .badFrame, error.description)
        case .missingField, .invalidMessageID, .invalidIdentifier, .payloadTooLarge, .invalidClock, .tooManyItems:
            // Well-formed protobuf with a field out of bounds: the stream is intact, answer and go on.
            // A send is refused by name, so that its client knows which message failed.
            if let (messageID, conversation) = codec.refusedSend(bytes) {
                let code: RejectCode = if case .payloadTooLarge = error { .payloadTooLarge } else { .invalid }
                counters.rejected += 1
                emit(.rejected(s.id, messageID: messageID, code: code))
                enqueue(.sendReject(SendReject(messageID: messageID, conversation: conversation, code: code,
                                               detail: error.description)), to: s)
            } else {
                enqueue(.error(ErrorFrame(code: .badFrame, detail: error.description)), to: s)
            }
        }
    }

    /// One decoded frame (hosts that decode themselves, and tests). It has not met the codec's
    /// rules: one the codec would refuse is refused as its bytes would be (an answer naming
    /// its invalid conversation could not be encoded, and would be lost). Sends are checked
    /// field by field in `handleSend`, which refuses them by id.
    public func handle(_ frame: Frame, from id: SessionID, now: UInt64) {
        guard let s = sessions[id], s.isOpen else { return }
        if case .send = frame {} else {
            do {
                _ = try codec.encode(frame)
            } catch {
                counters.framesIn += 1
                s.lastReceivedAt = now
                rejectUndecodable(s, error, UnsafeRawBufferPointer(start: nil, count: 0), now)
                return
            }
        }
        handle(frame, cost: Self.estimatedSize(frame), from: s, now: now)
    }

    /// Before hello only a hello is accepted; after it, a frame is handled at once when the
    /// session is within its budgets, else it waits in the session's parked input.
    private func handle(_ frame: Frame, cost: Int, from s: Session, now: UInt64) {
        counters.framesIn += 1
        s.lastReceivedAt = now
        if case .pong = frame {
            s.pingSentAt = nil
            return
        }
        guard s.user != nil else {
            if case let .hello(hello) = frame {
                handleHello(hello, s, now)
            } else {
                counters.protocolViolations += 1
                emit(.protocolViolation(s.id, "a frame before hello"))
                fail(s, .notAuthenticated, "hello first: the session is not authenticated")
            }
            return
        }
        if s.hasParked || !admit(frame, s, now) {
            park(frame, cost: cost, s, now)
            return
        }
        dispatch(frame, s, now)
    }

    /// Handles an admitted frame of an authenticated session.
    func dispatch(_ frame: Frame, _ s: Session, _ now: UInt64) {
        switch frame {
        case let .hello(hello):
            handleHello(hello, s, now)
            return
        case let .ping(nonce):
            enqueue(.pong(nonce: nonce), to: s)
            return
        case .pong:
            s.pingSentAt = nil
            return
        case let .error(e):
            emit(.protocolViolation(s.id, "peer error \(e.code.rawValue): \(e.detail)"))
            return
        default:
            break
        }
        switch frame {
        case let .send(send): handleSend(send, s, now)
        case let .delivered(d): handleDelivered(d, s, now)
        case let .syncRequest(r): handleSync(r, s, now)
        case let .createConversation(c): handleCreate(c, s, now)
        case let .addMember(c): handleMemberChange(c, adding: true, s, now)
        case let .removeMember(c): handleMemberChange(c, adding: false, s, now)
        case .welcome, .sendAck, .sendReject, .push, .syncResponse, .conversationResult, .receipt:
            violation(s, .badFrame, "a server-to-client frame was sent to the server")
        case .hello, .ping, .pong, .error:
            break
        }
    }

    /// A non-fatal refusal: error frame, session stays.
    func violation(_ s: Session, _ code: ErrorCode, _ detail: String) {
        counters.protocolViolations += 1
        emit(.protocolViolation(s.id, detail))
        enqueue(.error(ErrorFrame(code: code, detail: detail)), to: s)
    }

    // MARK: Output

    /// The next thing to transmit or close, nil when there is nothing. The first poll after
    /// writes commits them (group commit), so an ack never leaves before its message is durable.
    public func pollOutput() -> ServerOutput? {
        if batchOpen { _ = commitWrites() }
        while outputHead < outputs.count {
            let out = outputs[outputHead]
            outputHead += 1
            if outputHead == outputs.count {
                outputs.removeAll(keepingCapacity: outputs.capacity <= 4096)
                outputHead = 0
            } else if outputHead >= 1024 && outputHead * 2 >= outputs.count {
                outputs.removeSubrange(0..<outputHead)
                outputHead = 0
            }
            switch out {
            case let .frame(id, bytes):
                guard let s = sessions[id] else { continue }   // closed by the host meanwhile
                s.queued -= 1
                s.queuedBytes -= bytes.count
                counters.framesOut += 1
                if s.behind { recoverIfDrained(s) }
                return out
            case let .close(id):
                guard sessions.removeValue(forKey: id) != nil else { continue }
                if sessions.isEmpty { nextSweepAt = nil }
                return out
            }
        }
        return nil
    }

    /// The next event, nil when there is none.
    public func pollEvent() -> ServerEvent? {
        guard eventHead < events.count else { return nil }
        let e = events[eventHead]
        eventHead += 1
        if eventHead == events.count {
            events.removeAll(keepingCapacity: true)
            eventHead = 0
        }
        return e
    }

    func emit(_ event: ServerEvent) {
        guard events.count - eventHead < config.maxQueuedEvents else {
            counters.eventsDropped += 1
            return
        }
        events.append(event)
    }

    /// Queues a reply or notice for one session. `force` skips the close threshold (used for
    /// the fatal error frame itself).
    func enqueue(_ frame: Frame, to s: Session, force: Bool = false) {
        guard let bytes = encode(frame) else { return }
        enqueue(bytes: bytes, to: s, force: force)
    }

    func enqueue(bytes: [UInt8], to s: Session, force: Bool = false) {
        guard s.isOpen else { return }
        if !force && s.queued >= config.maxOutboundFramesBeforeClose {
            fail(s, .rateLimited, "outbound backlog of \(s.queued) frames: the connection does not read")
            return
        }
        if !force && s.outboundBytes + bytes.count > config.outboundHardLimitBytes {
            fail(s, .rateLimited, "outbound backlog of \(s.outboundBytes) bytes: the connection does not read")
            return
        }
        append(bytes, to: s)
    }

    /// Queues a frame, counting it toward the session's budgets.
    func append(_ bytes: [UInt8], to s: Session) {
        s.queued += 1
        s.queuedBytes += bytes.count
        outputs.append(.frame(s.id, bytes))
    }

    /// Queues a push-like frame (push, receipt) subject to backpressure: a session that is
    /// behind gets nothing and is remembered as lagging in `conversation`.
    @discardableResult
    func enqueueDroppable(bytes: [UInt8], to s: Session, conversation: String) -> Bool {
        guard s.isOpen else { return false }
        if s.behind || !s.hostWritable || s.queued >= config.maxOutboundFramesPerSession
            || s.outboundBytes + bytes.count > config.outboundSoftLimitBytes {
            markBehind(s, conversation: conversation)
            return false
        }
        append(bytes, to: s)
        return true
    }

    func encode(_ frame: Frame) -> [UInt8]? {
        do {
            return try codec.encode(frame)
        } catch {
            counters.storeFailures += 1
            emit(.storeFailure("cannot encode an outgoing frame: \(error)"))
            return nil
        }
    }

    func markBehind(_ s: Session, conversation: String?) {
        if let conversation { s.lagging.insert(conversation) }
        guard !s.behind else { return }
        s.behind = true
        emit(.sessionBehind(s.id))
    }

    /// A behind session whose backlog fell to half the bound (and whose host can write) is
    /// back: for each conversation it missed pushes in, it gets one push of the head message.
    /// That push is beyond its cursor, so the client sees the gap and fills it by sync.
    func recoverIfDrained(_ s: Session) {
        guard s.behind, s.hostWritable, s.queued <= config.maxOutboundFramesPerSession / 2,
              s.outboundBytes <= config.outboundSoftLimitBytes / 2, s.isOpen else { return }
        s.behind = false
        let lagging = s.lagging.sorted()
        s.lagging = []
        emit(.sessionRecovered(s.id))
        guard let user = s.user else { return }
        for conversation in lagging {
            guard (try? isMember(user, conversation)) == true,
                  let head = try? store.headSeq(of: conversation), head > 0,
                  let last = try? store.messages(in: conversation, after: head - 1, limit: 1).first,
                  let bytes = encode(.push(last))
            else { continue }
            append(bytes, to: s)
            counters.pushesQueued += 1
        }
    }

    // MARK: Timers

    /// When `handleTimeout` should next be called (monotonic ms), nil when no timer is needed.
    public var nextTimeout: UInt64? {
        func earlier(_ a: UInt64?, _ b: UInt64?) -> UInt64? {
            guard let a else { return b }
            guard let b else { return a }
            return min(a, b)
        }
        return earlier(earlier(nextParkedDeadline, nextSweepAt), receipts.dueAt)
    }

    /// Runs what is due at `now`: parked requests the budgets now allow, receipts whose interval
    /// has passed, then the session timers (hello timeout, pings after silence, idle close).
    public func handleTimeout(now: UInt64) {
        resumeParked(now: now)
        flushReceiptsIfDue(now: now)
        guard let due = nextSweepAt, now >= due else { return }
        var pings: [Session] = []
        var expired: [(Session, String, Bool)] = []
        // Elapsed times never wrap: a host clock that stepped back counts as no time passed.
        func since(_ t: UInt64) -> UInt64 { now > t ? now - t : 0 }
        for s in sessions.values where s.isOpen {
            let silent = since(s.lastReceivedAt)
            switch s.phase {
            case .awaitingHello:
                if since(s.openedAt) >= config.helloTimeoutMs { expired.append((s, "no hello within \(config.helloTimeoutMs) ms", true)) }
            case .authenticated:
                if config.idleTimeoutMs > 0 && silent >= config.idleTimeoutMs {
                    expired.append((s, "idle for \(silent) ms", false))
                } else if config.pingIntervalMs > 0 && silent >= config.pingIntervalMs {
                    if let sent = s.pingSentAt, sent > s.lastReceivedAt, since(sent) < config.pingIntervalMs { continue }
                    pings.append(s)
                }
            case .closing:
                break
            }
        }
        for (s, reason, helloTimeout) in expired.sorted(by: { $0.0.id < $1.0.id }) {
            if helloTimeout { fail(s, .notAuthenticated, reason) } else { fail(s, .unspecified, reason) }
        }
        for s in pings.sorted(by: { $0.id < $1.id }) {
            s.pingNonce &+= 1
            s.pingSentAt = now
            enqueue(.ping(nonce: s.pingNonce), to: s)
        }
        nextSweepAt = sessions.isEmpty ? nil : now.saturatingAdd(max(1, config.timerGranularityMs))
    }

    // MARK: Group commit

    /// Called before every store write: opens the store batch if group commit is on.
    func beginWrite() throws {
        guard config.groupCommit, !batchOpen else { return }
        try store.beginBatch()
        batchOpen = true
        heldFrom = outputs.count
    }

    /// Commits the open batch. On failure the batch is rolled back, every frame queued since
    /// it opened is withdrawn (it may acknowledge or show a write that no longer exists), and
    /// the sessions concerned are closed with an error: their clients reconnect, sync and
    /// retransmit.
    @discardableResult
    func commitWrites() -> Bool {
        guard batchOpen else { return true }
        batchOpen = false
        do {
            try store.commitBatch()
            return true
        } catch {
            store.rollbackBatch()
            storeFailed(error, "committing a batch of writes")
            forgetMembers()
            receipts.dropPending()
            let held = Array(outputs[heldFrom...])
            outputs.removeSubrange(heldFrom...)
            var affected = Set<SessionID>()
            for out in held {
                switch out {
                case let .frame(id, bytes):
                    sessions[id]?.queued -= 1
                    sessions[id]?.queuedBytes -= bytes.count
                    affected.insert(id)
                case .close:
                    outputs.append(out)
                }
            }
            for id in affected.sorted() {
                if let s = sessions[id] { fail(s, .internalError, "server store commit failed") }
            }
            return false
        }
    }

    /// For the admin calls: make their writes durable before returning.
    func commitOrThrow() throws {
        guard commitWrites() else { throw ServerError.storeCommitFailed }
    }

    // MARK: Membership helpers

    func membership(_ conversation: String) throws -> Membership? {
        let key = ExactIdentifier(conversation)
        if let cached = memberCache[key] { return cached }
        guard let list = try store.members(of: conversation) else { return nil }
        if memberCache.count >= 100_000 { forgetMembers() }
        let membership = Membership(members: list, owners: try store.owners(of: conversation))
        memberCache[key] = membership
        return membership
    }

    /// Records a conversation's membership after the engine changed it.
    func cacheMembership(_ conversation: String, _ membership: Membership) {
        let key = ExactIdentifier(conversation)
        memberCache[key] = membership
        orderedMemberCache[key] = nil
    }

    /// Another server changed this conversation's members or roles in the shared store: the
    /// next lookup reads them afresh.
    public func membershipChangedElsewhere(_ conversation: String) {
        forgetMembership(conversation)
    }

    /// The next lookup of this conversation's members reads the store.
    func forgetMembership(_ conversation: String) {
        let key = ExactIdentifier(conversation)
        memberCache[key] = nil
        orderedMemberCache[key] = nil
    }

    func forgetMembers() {
        memberCache.removeAll(keepingCapacity: true)
        orderedMemberCache.removeAll(keepingCapacity: true)
    }

    /// The members in byte order, for deterministic fan-out.
    func orderedMembers(_ conversation: String, _ membership: Membership) -> [String] {
        let key = ExactIdentifier(conversation)
        if let cached = orderedMemberCache[key] { return cached }
        let sorted = membership.sortedMembers
        orderedMemberCache[key] = sorted
        return sorted
    }

    func isMember(_ user: String, _ conversation: String) throws -> Bool {
        try membership(conversation)?.contains(user) ?? false
    }

    func storeFailed(_ error: any Error, _ what: String) {
        counters.storeFailures += 1
        emit(.storeFailure("\(what): \(error)"))
    }
}
