/// The client engine of one device: a sans-IO state machine for both legs of delivery.
///
/// The sending leg (`Client/Sending`) turns `send` into `sending -> sent | failed` with
/// retransmission, backoff and an in-flight window; the receiving leg (`Client/Receiving`)
/// keeps a per-conversation cursor, drops duplicates, fills gaps by paged sync and
/// probes for a lost last message; both feed the conversation's vector clock and
/// `Timeline`. With a `storePath` everything is durable (`Client/Store`).
///
/// The engine never touches sockets, clocks, threads or randomness: every input carries
/// `now` (monotonic milliseconds) and outputs are pulled.
///
/// ## Driving loop
///
/// After **any** input (`connected`, `disconnected`, `send`, `retry`, `handle`,
/// `handleTimeout`, `probe`):
/// 1. drain `pollTransmit()` until nil, writing each frame to the connection (on a stream,
///    length-delimited: a varint length prefix, e.g. `Varint.append(UInt64(bytes.count), to:)`);
/// 2. drain `pollEvent()` until nil, updating the UI;
/// 3. re-arm the single host timer from `nextTimeout` (nil: none). When it fires, call
///    `handleTimeout(now:)` and go to 1. Calling it early or spuriously does nothing.
///
/// ```swift
/// let engine = try ClientEngine(config: config)
/// engine.connected(now: clock())                 // on TCP connect
/// func pump() {
///     while let bytes = engine.pollTransmit() { socket.write(delimited(bytes)) }   // or, without a copy:
///     // while engine.pollTransmit({ socketBuffer.writeDelimited($0) }) != nil {}
///     while let event = engine.pollEvent() { ui.apply(event) }
///     timer.schedule(at: engine.nextTimeout)
/// }
/// // on bytes: splitter.append(bytes); while let f = try splitter.next() { try? engine.handle(frameBytes: f, now: clock()) }; pump()
/// // on timer: engine.handleTimeout(now: clock()); pump()
/// ```
///
/// One engine is used by one thread at a time.
public final class ClientEngine {
    public let config: ClientConfig

    enum ConnectionPhase {
        case offline
        /// Hello queued; waiting for the welcome.
        case awaitingWelcome
        /// Welcomed: transmissions count as attempts, syncs and probes run.
        case live
    }

    // The engine is used by one thread at a time and never hands out references into its
    // state, so the runtime exclusivity checks on these hot properties are switched off
    // (they cost more than the work on the send/ack and push paths).

    // Shared machinery.
    let codec: FrameCodec
    @exclusivity(unchecked) var rng: SeededGenerator
    @exclusivity(unchecked) var wheel = TimerWheel()
    let txQueue = FIFO<Transmission>()
    let eventQueue = FIFO<ClientEvent>()
    @exclusivity(unchecked) var statistics = ClientStats()
    @exclusivity(unchecked) var phase = ConnectionPhase.offline
    /// This device's user id (from the welcome; the config's until then).
    @exclusivity(unchecked) var user: String
    let store: ClientStore?
    /// The first failed write or commit: the store takes no more writes from this engine.
    @exclusivity(unchecked) var storeFailure: SQLiteError?
    @exclusivity(unchecked) var storeFailureReported = false
    @exclusivity(unchecked) var firedScratch: [UInt32] = []

    // Sending leg.
    @exclusivity(unchecked) var outgoing = Outbox()
    @exclusivity(unchecked) var window: Int
    /// The server's page limit from the welcome (0: none announced).
    @exclusivity(unchecked) var serverMaxSyncPage: UInt32 = 0
    /// The payload limit the server announced (its welcome); a larger send is refused here,
    /// before anything is queued, rather than by the server.
    var serverMaxPayloadBytes = Int.max
    /// Recently sent messages, for `outbox()`: a ring of `config.sentRetention`.
    @exclusivity(unchecked) var recentSent: [SentRecord] = []
    @exclusivity(unchecked) var recentSentNext = 0
    /// Restored messages whose age timers wait for the first `now`.
    @exclusivity(unchecked) var restoredPending = false

    // Receiving leg.
    @exclusivity(unchecked) var convs: [ConversationState] = []
    /// By name. Every name here is NFC (checked on the way in), so a `String` key finds the
    /// same bytes; a lookup by an app's name confirms them (`ConversationState.isNamed`).
    @exclusivity(unchecked) var convIndex: [String: UInt32] = [:]
    /// The conversation the last lookup by name found (see `knownConversationIndex(_:)`).
    @exclusivity(unchecked) var lastConversation: UInt32?
    @exclusivity(unchecked) var deliveredDirty: [UInt32] = []
    @exclusivity(unchecked) var storeDirty: [UInt32] = []
    @exclusivity(unchecked) var pollTimer: TimerWheel.Key = TimerWheel.noKey
    @exclusivity(unchecked) var flushTimer: TimerWheel.Key = TimerWheel.noKey
    /// Retransmits the hello while the welcome is outstanding (either may be lost).
    @exclusivity(unchecked) var helloTimer: TimerWheel.Key = TimerWheel.noKey
    @exclusivity(unchecked) var helloAttempts = 0

    // Timer owners: kind in the top 3 bits, index below (up to 2^29 slots or conversations).
    static let ownerMessage: UInt32 = 1 << 29
    static let ownerConversation: UInt32 = 2 << 29
    static let ownerPoll: UInt32 = 3 << 29
    static let ownerFlush: UInt32 = 4 << 29
    static let ownerHello: UInt32 = 5 << 29
    static let ownerIndexMask: UInt32 = (1 << 29) - 1

    /// Opens (or creates) the store when `config.storePath` is set and resumes its outbox,
    /// clocks, cursors and timelines. Throws `invalidConfig` or `store` (a foreign or corrupt file).
    public init(config: ClientConfig) throws(ClientError) {
        if let problem = config.problem { throw .invalidConfig(problem) }
        self.config = config
        codec = FrameCodec(limits: config.limits)
        user = config.userID
        window = config.inflightWindow
        var snapshot: ClientStore.Snapshot?
        if let path = config.storePath {
            do {
                let s = try ClientStore(path: path, durability: config.storeDurability)
                snapshot = try s.load(limits: config.limits)
                store = s
            } catch {
                throw .store(error)
            }
        } else {
            store = nil
        }
        let epoch = snapshot?.epoch ?? 0
        rng = SeededGenerator(seed: config.seed ^ (epoch &* 0x9E37_79B9_7F4A_7C15))
        pollTimer = wheel.makeKey(owner: Self.ownerPoll)
        flushTimer = wheel.makeKey(owner: Self.ownerFlush)
        helloTimer = wheel.makeKey(owner: Self.ownerHello)
        if let snapshot { restore(snapshot) }
    }

    // MARK: inputs

    /// A connection to the server is up: queues the hello. After the welcome, unacked messages
    /// go out again in their original order, then syncs run.
    public func connected(now: UInt64) {
        settle(now)
        if phase != .offline { dropConnection(now: now) }
        phase = .awaitingWelcome
        statistics.connections += 1
        helloAttempts = 0
        sendHello(now: now)
        finishQuietly(now: now)
    }

    /// Queues the hello and arms its retransmission (backoff like a send's ack timeout):
    /// the server answers a repeated hello of the same device with a fresh welcome.
    func sendHello(now: UInt64) {
        helloAttempts += 1
        if helloAttempts > 1 { statistics.helloRetransmissions += 1 }
        txQueue.append(.frame(.hello(Hello(token: config.token, deviceNode: config.nodeID))))
        wheel.arm(helloTimer, at: now.saturatingAdd(backoff(base: config.ackTimeoutBaseMs, attempt: helloAttempts)))
    }

    /// The connection is gone: queued frames are dropped, retransmission and sync timers
    /// stop, waiting messages age toward `maxOfflineAgeMs`.
    public func disconnected(now: UInt64) {
        settle(now)
        if phase != .offline { dropConnection(now: now) }
        finishQuietly(now: now)
    }

    /// Decodes one frame (not length-delimited) and handles it.
    public func handle(frameBytes: UnsafeRawBufferPointer, now: UInt64) throws(ClientError) {
        let frame: Frame
        do {
            frame = try codec.decode(frameBytes)
        } catch {
            statistics.badFrames += 1
            throw .wire(error)
        }
        try handle(frame, now: now)
    }

    /// Handles one frame from the server. Throws when the frame is refused; a refused frame
    /// changes nothing but the counters.
    public func handle(_ frame: Frame, now: UInt64) throws(ClientError) {
        settle(now)
        switch frame {
        case let .sendAck(ack): try handleAck(ack, now: now)
        case let .push(message): try handlePush(message, now: now)
        case let .syncResponse(response): try handleSyncResponse(response, now: now)
        case let .sendReject(reject): try handleReject(reject, now: now)
        case let .welcome(welcome): try handleWelcome(welcome, now: now)
        case let .ping(nonce):
            if phase != .offline { txQueue.append(.frame(.pong(nonce: nonce))) }
        case .pong:
            break
        case let .error(e):
            statistics.serverErrors += 1
            emit(.error(.server(e.code, detail: e.detail, fatal: e.fatal)))
        case let .receipt(r):
            emit(.receipt(r))
        case .conversationResult:
            statistics.ignoredFrames += 1
        case .hello, .send, .delivered, .syncRequest, .createConversation, .addMember, .removeMember:
            statistics.ignoredFrames += 1
            throw .unexpectedFrame(Self.kind(frame))
        }
        try finish(now: now)
    }

    /// Fires every timer due at `now`: retransmissions, failures, gap syncs, sync retries,
    /// head probes, delivered flushes. Does nothing when nothing is due.
    public func handleTimeout(now: UInt64) {
        settle(now)
        var rounds = 0
        // Handlers may arm timers already due (a zero grace or retry-after): run them too.
        while rounds < 8, let next = wheel.nextDeadline(), next <= now {
            rounds += 1
            firedScratch.removeAll(keepingCapacity: true)
            wheel.expire(upTo: now, into: &firedScratch)
            for owner in firedScratch {
                let index = owner & Self.ownerIndexMask
                switch owner & ~Self.ownerIndexMask {
                case Self.ownerMessage: messageTimerFired(slot: index, now: now)
                case Self.ownerConversation: conversationTimerFired(convs[Int(index)], now: now)
                case Self.ownerPoll: pollTimerFired(now: now)
                case Self.ownerFlush: flushDelivered()
                case Self.ownerHello: if phase == .awaitingWelcome { sendHello(now: now) }
                default: break
                }
            }
        }
        finishQuietly(now: now)
    }

    /// "The app came to the foreground": a head probe of every conversation now (and the
    /// periodic probe restarts from here).
    public func probe(now: UInt64) {
        settle(now)
        probeAll(now: now)
        armPollTimer(now: now)
        finishQuietly(now: now)
    }

    // MARK: outputs

    /// The next encoded frame to transmit (not length-delimited), nil when none.
    public func pollTransmit() -> [UInt8]? {
        pollTransmit { Array($0.assumingMemoryBound(to: UInt8.self)) }
    }

    /// Encodes the next frame to transmit (not length-delimited) and calls `body` with its
    /// bytes; nil when none. The zero-copy form of `pollTransmit()`: the bytes live in the
    /// engine's scratch space, valid only during the call, so `body` writes or copies them
    /// (to a socket's buffer, say) and must not call into the engine.
    ///
    /// Inlined into the caller, so that it is specialized for `R` there (generic across the
    /// module boundary, each call went through `R`'s value witnesses); the work is in
    /// `encodeNextFrame()`.
    @inlinable
    public func pollTransmit<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R? {
        guard let bytes = encodeNextFrame() else { return nil }
        defer { releaseEncodedFrame() }
        return try body(bytes)
    }

    /// The next queued frame, encoded into the codec's scratch space (valid until
    /// `releaseEncodedFrame()`); nil when nothing is queued. A frame that fails to encode is
    /// reported as an error event and skipped.
    @usableFromInline
    func encodeNextFrame() -> UnsafeRawBufferPointer? {
        while let next = txQueue.popFirst() {
            do {
                switch next {
                case let .frame(frame):
                    return UnsafeRawBufferPointer(try codec.encodeInScratch(frame))
                case let .message(conversation, live):
                    let encoded = try withConversation(at: conversation) { c throws(WireError) in
                        try c.timeline.encodedSend(at: Int(live), conversation: c.name, checkedName: c.checkedName, codec: codec)
                    }
                    return UnsafeRawBufferPointer(encoded)
                }
            } catch {
                codec.releaseScratch()
                emit(.error(.wire(error)))
            }
        }
        return nil
    }

    /// Gives the scratch space of `encodeNextFrame()`'s frame back.
    @usableFromInline
    func releaseEncodedFrame() { codec.releaseScratch() }

    /// The next frame to transmit as a value (simulations and benchmarks skip the codec with it).
    @_spi(Benchmarks)
    public func pollTransmitFrame() -> Frame? {
        switch txQueue.popFirst() {
        case nil: return nil
        case let .frame(frame)?: return frame
        case let .message(conversation, live)?:
            return withConversation(at: conversation) { .send($0.timeline.sendFrame(at: Int(live), conversation: $0.name)) }
        }
    }

    public func pollEvent() -> ClientEvent? { eventQueue.popFirst() }

    /// When `handleTimeout` should next be called; nil when no timer is armed. May be early
    /// (never late): an early call does nothing and the next value is exact.
    public var nextTimeout: UInt64? { wheel.nextDeadline() }

    // MARK: queries

    /// Own messages: recently sent ones (up to `sentRetention`), then every unacked one in
    /// send order, then failed ones.
    public func outbox() -> [OutboxEntry] {
        var out: [OutboxEntry] = []
        let sent = recentSent.count == config.sentRetention && config.sentRetention > 0
            ? Array(recentSent[recentSentNext...] + recentSent[..<recentSentNext]) : recentSent
        for r in sent {
            out.append(OutboxEntry(id: r.id, conversation: convs[Int(r.conversation)].name,
                                   state: .sent(seq: r.seq, serverTimeMs: r.serverTimeMs), attempts: Int(r.attempts), seq: r.seq))
        }
        for slot in outgoing.allSlots() {
            let s = outgoing[slot]
            let state: MessageState = s.phase == .failed ? .failed(outgoing.failure(of: slot)) : .sending
            out.append(OutboxEntry(id: outgoing.id(of: slot, messageIDs), conversation: convs[Int(s.conversation)].name, state: state,
                                   attempts: Int(s.attempts), seq: nil))
        }
        return out
    }

    /// The conversation's timeline (live and history views), nil for an unknown conversation.
    public func timeline(_ conversation: String) -> Timeline? {
        knownConversationIndex(conversation).map { convs[Int($0)].timeline }
    }

    /// Highest contiguous seq held in the conversation (0 when unknown).
    public func cursor(_ conversation: String) -> UInt64 {
        knownConversationIndex(conversation).map { convs[Int($0)].cursor } ?? 0
    }

    /// The conversation's vector clock on this device.
    public func clock(_ conversation: String) -> VectorClock {
        knownConversationIndex(conversation).map { convs[Int($0)].clock } ?? VectorClock()
    }

    /// Every conversation known here, in the order they became known.
    public var conversations: [String] { convs.map(\.name) }

    public var stats: ClientStats { statistics }

    /// True between the welcome and the next disconnect.
    public var isLive: Bool { phase == .live }

    // MARK: shared internals

    /// Consuming: the event moves into the queue (a copy would retain each of its strings and arrays).
    func emit(_ event: consuming ClientEvent) { eventQueue.append(event) }

    /// Per-input prelude: keeps the timer wheel's notion of time near `now` while idle, and
    /// starts the age timers of restored messages at the first `now` seen.
    func settle(_ now: UInt64) {
        if wheel.armedCount == 0 && now > wheel.current {
            wheel.expire(upTo: now, into: &firedScratch)
        }
        if restoredPending {
            restoredPending = false
            for slot in outgoing.waitingSlots() {
                // A restarted host clock may be behind the stored one: age from now at the latest.
                if outgoing[slot].ageStart > now { outgoing[slot].ageStart = now }
                if phase != .live { armAgeTimer(slot) }
            }
        }
    }

    /// Per-input epilogue: delivered watermarks, then the store commit.
    func finish(now: UInt64) throws(ClientError) {
        if !deliveredDirty.isEmpty && phase == .live {
            if config.deliveredFlushMs == 0 {
                flushDelivered()
            } else if !wheel.isArmed(flushTimer) {
                wheel.arm(flushTimer, at: now.saturatingAdd(config.deliveredFlushMs))
            }
        }
        guard let store else { return }
        if let failure = storeFailure {
            // This input's writes may be partial: none of them may reach the file. The failure
            // is reported once, by the input that met it.
            store.rollback()
            if !storeFailureReported {
                storeFailureReported = true
                throw .store(failure)
            }
            return
        }
        do {
            for ci in storeDirty {
                let c = convs[Int(ci)]
                c.storeDirty = false
                try store.saveConversation(name: c.name, cursor: c.cursor, clock: c.clock)
            }
            storeDirty.removeAll(keepingCapacity: true)
            try store.commit()
        } catch {
            store.rollback()
            storeFailure = error
            storeFailureReported = true
            throw .store(error)
        }
    }

    /// `finish` for inputs that cannot throw: a store failure becomes an error event.
    func finishQuietly(now: UInt64) {
        do {
            try finish(now: now)
        } catch {
            emit(.error(error))
        }
    }

    /// Records a write to the store. A failed write (or commit) stops all further writes of
    /// this engine: the file keeps its last consistent state (a cursor never covers a message
    /// it lacks), `send` and `retry` throw, and a new engine on the file resumes from there.
    func persist(_ write: (ClientStore) throws(SQLiteError) -> Void) {
        guard let store, storeFailure == nil else { return }
        do {
            try write(store)
        } catch {
            storeFailure = error
        }
    }

    func conversation(named name: String) -> ConversationState {
        convs[Int(conversationIndex(named: name))]
    }

    /// The index in `convs` of the conversation, opened when not known here.
    func conversationIndex(named name: String) -> UInt32 {
        knownConversationIndex(name) ?? openConversation(name).index
    }

    /// The index in `convs` of the conversation if it is known here.
    func knownConversationIndex(_ name: String) -> UInt32? {
        // Consecutive inputs usually name the same conversation: skip the hash lookup.
        if let last = lastConversation, withConversation(at: last, { $0.isNamed(name) }) { return last }
        guard let i = convIndex[name], withConversation(at: i, { $0.isNamed(name) }) else { return nil }
        lastConversation = i
        return i
    }

    /// `body` with the conversation at `index`, unretained: conversations are never removed,
    /// so the engine keeps each alive, and the hot paths that go through here skip a retain
    /// and a release (two atomic operations) per call.
    @inline(__always)
    func withConversation<R, E: Error>(at index: UInt32, _ body: (ConversationState) throws(E) -> R) throws(E) -> R {
        try Unmanaged.passUnretained(convs[Int(index)])._withUnsafeGuaranteedRef { c in
            Result { () throws(E) in try body(c) }      // `_withUnsafeGuaranteedRef` only rethrows untyped
        }.get()
    }

    /// Starts keeping a conversation not known here.
    func openConversation(_ name: String) -> ConversationState {
        let index = UInt32(convs.count)
        let c = ConversationState(name: name, index: index, order: config.historyOrder)
        do {
            try IdentifierRules.validate(name, field: "conversation", limits: config.limits)
            c.nameChecked()
        } catch {}
        c.timer = wheel.makeKey(owner: Self.ownerConversation | index)
        convs.append(c)
        convIndex[name] = index
        lastConversation = index
        markStoreDirty(c)
        return c
    }

    func markStoreDirty(_ c: ConversationState) {
        guard store != nil, !c.storeDirty else { return }
        c.storeDirty = true
        storeDirty.append(c.index)
    }

    /// A timeout for attempt `attempt` (1-based): `base * factor^(attempt-1)`, capped, with jitter.
    func backoff(base: UInt64, attempt: Int) -> UInt64 {
        let cap = Double(max(config.backoffCapMs, base))
        // A first attempt waits the base (factor^0): no pow on every first transmission.
        let raw = attempt <= 1 ? min(cap, Double(base)) : min(cap, Double(base) * pow(config.backoffFactor, Double(attempt - 1)))
        var value = raw
        if config.jitter > 0 {
            let u = Double(rng.next() >> 11) / Double(1 << 53)
            value = min(cap, raw * (1 + config.jitter * (2 * u - 1)))
        }
        return max(1, UInt64(value))
    }

    private func dropConnection(now: UInt64) {
        phase = .offline
        txQueue.removeAll()
        dropSendingLeg(now: now)
        dropReceivingLeg(now: now)
        wheel.cancel(pollTimer)
        wheel.cancel(flushTimer)
        wheel.cancel(helloTimer)
    }

    private static func kind(_ frame: Frame) -> String {
        switch frame {
        case .hello: return "hello"
        case .send: return "send"
        case .delivered: return "delivered"
        case .syncRequest: return "sync request"
        case .createConversation: return "create conversation"
        case .addMember: return "add member"
        case .removeMember: return "remove member"
        default: return "frame"
        }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
