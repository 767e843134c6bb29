import IMRCore
import Logging
import NIOCore

/// The relay's one `ServerEngine` and its store, on the engine thread (`RelayInbox`). The
/// event loops read, split and write on every core; this thread decodes, runs the engine,
/// commits to the store and encodes, one pass per batch of inputs, so one group commit covers
/// every connection that had input meanwhile. No event loop waits on the store, and the
/// engine is used by this thread only: that is what makes `@unchecked Sendable` true.
final class RelayCore: @unchecked Sendable {
    let engine: ServerEngine
    let store: any ServerStore
    let logger: Logger
    let inbox: RelayInbox
    /// The loop that schedules the engine's timer.
    private let timerLoop: any EventLoop
    private var connections: [SessionID: RelayConnection] = [:]
    /// Connections told to stop reading because the engine parked their requests.
    private var pausedReads: Set<SessionID> = []
    let maxConnections: Int
    let maxUnauthenticatedConnections: Int
    private let metrics: RelayMetrics?
    private var timerDeadline: UInt64?
    private var metricsUpdatedAt: UInt64 = 0
    private(set) var stopping = false

    init(engine: ServerEngine, store: any ServerStore, inbox: RelayInbox, timerLoop: any EventLoop, logger: Logger,
         metrics: RelayMetrics? = nil, maxConnections: Int = 10_000, maxUnauthenticatedConnections: Int = 1_000) {
        self.engine = engine
        self.store = store
        self.inbox = inbox
        self.timerLoop = timerLoop
        self.logger = logger
        self.metrics = metrics
        self.maxConnections = maxConnections
        self.maxUnauthenticatedConnections = maxUnauthenticatedConnections
        engine.setWallClock(unixMs: currentUnixMilliseconds(), now: Self.now())
    }

    /// The engines' monotonic clock in milliseconds.
    static func now() -> UInt64 { NIODeadline.now().uptimeNanoseconds / 1_000_000 }

    /// One pass: every input, then one flush of what the engine produced.
    func handle(_ batch: [RelayInput]) {
        for input in batch { apply(input) }
        flush()
    }

    private func apply(_ input: RelayInput) {
        let now = Self.now()
        switch input {
        case let .opened(connection):
            open(connection, now: now)
        case let .frames(connection, frames):
            guard let id = connection.session else { return }
            for frame in frames {
                frame.withUnsafeBytes { engine.handle(frameBytes: $0, from: id, now: now) }
            }
            if !connection.verdictSent, engine.isAuthenticated(id) {
                connection.verdictSent = true
                connection.loop.execute { connection.helloAccepted() }
            }
            // Requests wait for the connection to read its replies: stop reading it meanwhile,
            // so that a client that pipelines without reading meets TCP backpressure.
            if engine.isInputPaused(id), !connection.readsPaused {
                connection.readsPaused = true
                pausedReads.insert(id)
                connection.loop.execute { connection.setPausedByEngine(true) }
            }
        case let .streamError(connection, error):
            if let id = connection.session { engine.handleStreamError(error, from: id, now: now) }
        case let .closed(connection):
            guard let id = connection.session else { return }
            connection.session = nil
            connections[id] = nil
            pausedReads.remove(id)
            engine.closeSession(id, now: now)
            logger.debug("connection closed", metadata: ["session": "\(id)"])
        case let .writability(connection, writable):
            if let id = connection.session { engine.setWritable(id, writable, now: now) }
        case let .written(connection, bytes):
            guard let id = connection.session else { return }
            connection.backlog = max(0, connection.backlog - bytes)
            engine.setBacklog(id, bytes: connection.backlog, now: now)
        case .timer:
            timerDeadline = nil
            engine.setWallClock(unixMs: currentUnixMilliseconds(), now: now)
            engine.handleTimeout(now: now)
        case let .call(body):
            body()
        }
    }

    private func open(_ connection: RelayConnection, now: UInt64) {
        let refusal: String? =
            if stopping { "the relay is stopping" }
            else if connections.count >= maxConnections { "at the connection limit (\(maxConnections))" }
            else if engine.unauthenticatedSessions >= maxUnauthenticatedConnections {
                "too many connections have not said hello (\(maxUnauthenticatedConnections))"
            } else { nil }
        if let refusal {
            if !stopping { metrics?.connectionRefused() }
            logger.notice("connection refused: \(refusal)")
            connection.loop.execute { connection.channel.close(promise: nil) }
            return
        }
        let id = engine.openSession(now: now)
        connection.session = id
        connections[id] = connection
        logger.debug("connection opened", metadata: ["session": "\(id)",
                                                     "peer": "\(connection.channel.remoteAddress.map { "\($0)" } ?? "?")"])
    }

    // MARK: Engine outputs

    /// Writes what the engine produced (its first poll makes the group commit), logs its
    /// events, resumes reads, re-arms the timer.
    func flush() {
        var touched: [RelayConnection] = []
        // A pushed message is one byte array for all its recipients: one buffer serves them all.
        var lastFrame: [UInt8] = []
        var lastBuffer: ByteBuffer?
        let allocator = ByteBufferAllocator()
        while let output = engine.pollOutput() {
            switch output {
            case let .frame(id, bytes):
                guard let connection = connections[id] else { continue }
                let buffer: ByteBuffer
                if let last = lastBuffer, Self.sameStorage(bytes, lastFrame) {
                    buffer = last
                } else {
                    buffer = Self.delimited(bytes, allocator: allocator)
                    lastFrame = bytes
                    lastBuffer = buffer
                }
                if connection.staged.isEmpty { touched.append(connection) }
                connection.staged.append(buffer)
                connection.stagedBytes += buffer.readableBytes
            case let .close(id):
                guard let connection = connections.removeValue(forKey: id) else { continue }
                pausedReads.remove(id)
                connection.session = nil
                if connection.staged.isEmpty { touched.append(connection) }
                connection.closeAfterStaged = true
            }
        }
        if !touched.isEmpty { handToLoops(touched) }
        drainEvents()
        resumeReads()
        armTimer()
        updateMetrics()
    }

    /// One task per event loop writes the staged frames of all its connections.
    private func handToLoops(_ touched: [RelayConnection]) {
        struct Write: Sendable {
            let connection: RelayConnection
            let buffers: [ByteBuffer]
            let bytes: Int
            let close: Bool
        }
        let now = Self.now()
        var byLoop: [(loop: any EventLoop, writes: [Write])] = []
        for connection in touched {
            let write = Write(connection: connection, buffers: connection.staged, bytes: connection.stagedBytes,
                              close: connection.closeAfterStaged)
            connection.staged = []
            connection.stagedBytes = 0
            if let id = connection.session {
                // The backlog is what the channel has not written yet; `.written` takes it back.
                connection.backlog += write.bytes
                engine.setBacklog(id, bytes: connection.backlog, now: now)
            }
            let loop = connection.loop
            if let i = byLoop.firstIndex(where: { $0.loop === loop }) {
                byLoop[i].writes.append(write)
            } else {
                byLoop.append((loop, [write]))
            }
        }
        for (loop, writes) in byLoop {
            loop.execute {
                for w in writes { w.connection.write(w.buffers, bytes: w.bytes, thenClose: w.close) }
            }
        }
    }

    static func sameStorage(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        a.count == b.count && a.withUnsafeBufferPointer { x in b.withUnsafeBufferPointer { y in x.baseAddress == y.baseAddress } }
    }

    /// The frame with its length prefix, as the stream carries it.
    static func delimited(_ bytes: [UInt8], allocator: ByteBufferAllocator) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: bytes.count + Varint.maxBytes)
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: Varint.maxBytes) { Varint.write(UInt64(bytes.count), to: $0) }
        buffer.writeBytes(bytes)
        return buffer
    }

    private func resumeReads() {
        guard !pausedReads.isEmpty else { return }
        for id in pausedReads where !engine.isInputPaused(id) {
            pausedReads.remove(id)
            guard let connection = connections[id] else { continue }
            connection.readsPaused = false
            connection.loop.execute { connection.setPausedByEngine(false) }
        }
    }

    /// At most every 100 ms: the engine's stats walk every online user.
    private func updateMetrics() {
        guard let metrics else { return }
        let now = Self.now()
        guard now >= metricsUpdatedAt + 100 else { return }
        metricsUpdatedAt = now
        metrics.update(engine.stats, unauthenticated: engine.unauthenticatedSessions,
                       bytesQueued: connections.values.reduce(0) { $0 + $1.backlog })
    }

    private func drainEvents() {
        while let event = engine.pollEvent() {
            switch event {
            case let .authenticated(id, user, node):
                logger.info("authenticated", metadata: ["session": "\(id)", "user": "\(user)", "node": "\(node)"])
            case let .authenticationFailed(id, code):
                logger.notice("authentication failed", metadata: ["session": "\(id)", "code": "\(code.rawValue)"])
            case let .accepted(conversation, seq, messageID, sender):
                logger.trace("accepted", metadata: ["conversation": "\(conversation)", "seq": "\(seq)", "id": "\(messageID)", "sender": "\(sender)"])
            case let .duplicateAcknowledged(conversation, seq, messageID):
                logger.debug("duplicate acknowledged", metadata: ["conversation": "\(conversation)", "seq": "\(seq)", "id": "\(messageID)"])
            case let .rejected(id, messageID, code):
                metrics?.sendRefused(code)
                logger.debug("send rejected", metadata: ["session": "\(id)", "id": "\(messageID)", "code": "\(code.rawValue)"])
            case let .sessionBehind(id):
                logger.notice("session behind: pushes paused, it catches up by sync", metadata: ["session": "\(id)"])
            case let .sessionRecovered(id):
                logger.info("session caught up on writes: pushes resumed", metadata: ["session": "\(id)"])
            case let .sessionClosed(id, reason):
                logger.info("session closed by server", metadata: ["session": "\(id)", "reason": "\(reason)"])
            case let .protocolViolation(id, detail):
                logger.notice("protocol violation", metadata: ["session": "\(id)", "detail": "\(detail)"])
            case let .storeFailure(detail):
                logger.error("store failure", metadata: ["detail": "\(detail)"])
            case let .membershipChanged(conversation, members):
                logger.info("membership changed", metadata: ["conversation": "\(conversation)", "members": "\(members.joined(separator: ","))"])
            }
        }
    }

    /// A timer task posts `.timer`; one that fires early or twice only makes an extra pass.
    private func armTimer() {
        guard !stopping, let due = engine.nextTimeout else { return }
        if let armed = timerDeadline, armed <= due { return }
        timerDeadline = due
        timerLoop.scheduleTask(deadline: .uptimeNanoseconds(due * 1_000_000)) { [inbox] in inbox.post(.timer) }
    }

    // MARK: Shutdown

    /// Stops taking connections, flushes every connection and closes it, then closes the
    /// store (on this thread, after the last pass) and completes `done`.
    func shutdown(_ done: EventLoopPromise<Void>) {
        stopping = true
        flush()
        let open = Array(connections.values)
        connections.removeAll()
        pausedReads.removeAll()
        let closing = open.map { connection in
            connection.session = nil
            // Queued on the loop after the flush's writes, so they go out first.
            return connection.loop.flatSubmit {
                connection.channel.writeAndFlush(connection.channel.allocator.buffer(capacity: 0))
                    .flatMap { connection.channel.close() }
            }.recover { _ in }
        }
        EventLoopFuture.andAllComplete(closing, on: done.futureResult.eventLoop).whenComplete { [self] _ in
            inbox.post(.call { [self] in
                store.close()
                logger.info("store closed", metadata: ["sessions": "\(open.count)"])
                done.succeed()
            })
        }
    }
}
