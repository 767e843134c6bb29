import IMRCore
import Logging
import NIOCore

/// The relay's one `ServerEngine` and the channels of its sessions. Everything here runs on
/// `loop` (every connection of the relay lives on that loop too), so the engine is never used
/// by two threads; that is what makes `@unchecked Sendable` true.
final class RelayCore: @unchecked Sendable {
    let loop: any EventLoop
    let engine: ServerEngine
    let store: any ServerStore
    let logger: Logger
    private var channels: [SessionID: any Channel] = [:]
    /// Bytes handed to each channel and not yet written to its socket (the engine's budgets
    /// count them: `ServerEngine.setBacklog`).
    private var backlog: [SessionID: Int] = [:]
    /// Sessions whose reading is paused because the engine parked their input.
    private var pausedReads: Set<SessionID> = []
    let maxConnections: Int
    let maxUnauthenticatedConnections: Int
    private let metrics: RelayMetrics?
    private var timer: Scheduled<Void>?
    private var timerDeadline: UInt64?
    private(set) var stopping = false

    init(loop: any EventLoop, engine: ServerEngine, store: any ServerStore, logger: Logger, metrics: RelayMetrics? = nil,
         maxConnections: Int = 10_000, maxUnauthenticatedConnections: Int = 1_000) {
        self.metrics = metrics
        self.maxConnections = maxConnections
        self.maxUnauthenticatedConnections = maxUnauthenticatedConnections
        self.loop = loop
        self.engine = engine
        self.store = store
        self.logger = logger
        engine.setWallClock(unixMs: currentUnixMilliseconds(), now: Self.now())
    }

    /// The engines' monotonic clock in milliseconds.
    static func now() -> UInt64 { NIODeadline.now().uptimeNanoseconds / 1_000_000 }

    var connectionCount: Int { channels.count }

    // MARK: Connections

    func open(_ channel: any Channel) -> SessionID? {
        loop.preconditionInEventLoop()
        guard !stopping else { return nil }
        guard channels.count < maxConnections else {
            metrics?.connectionRefused()
            logger.notice("connection refused: at the connection limit", metadata: ["limit": "\(maxConnections)"])
            return nil
        }
        guard engine.unauthenticatedSessions < maxUnauthenticatedConnections else {
            metrics?.connectionRefused()
            logger.notice("connection refused: too many connections have not said hello",
                          metadata: ["limit": "\(maxUnauthenticatedConnections)"])
            return nil
        }
        let id = engine.openSession(now: Self.now())
        channels[id] = channel
        logger.debug("connection opened", metadata: ["session": "\(id)", "peer": "\(channel.remoteAddress.map { "\($0)" } ?? "?")"])
        afterInput()
        return id
    }

    /// Feeds every complete frame in `splitter` to the engine (a framing error ends the session).
    func receive(_ splitter: inout FrameSplitter, from id: SessionID, limits: (hello: Int, frame: Int)) {
        let now = Self.now()
        while true {
            do {
                // Before hello only a small frame is buffered, let alone accepted.
                splitter.maxFrameBytes = engine.isAuthenticated(id) ? limits.frame : limits.hello
                guard let frame = try splitter.next() else { break }
                frame.withUnsafeBytes { engine.handle(frameBytes: $0, from: id, now: now) }
            } catch {
                engine.handleStreamError(error, from: id, now: now)
                break
            }
        }
        // Requests wait for the connection to read its replies: stop reading it meanwhile,
        // so that a client that pipelines without reading meets TCP backpressure.
        if engine.isInputPaused(id), let channel = channels[id], !pausedReads.contains(id) {
            pausedReads.insert(id)
            channel.setOption(ChannelOptions.autoRead, value: false).whenFailure { _ in }
        }
        afterInput()
    }

    func closed(_ id: SessionID) {
        channels[id] = nil
        backlog[id] = nil
        pausedReads.remove(id)
        engine.closeSession(id, now: Self.now())
        logger.debug("connection closed", metadata: ["session": "\(id)"])
        afterInput()
    }

    func writabilityChanged(_ id: SessionID, writable: Bool) {
        engine.setWritable(id, writable, now: Self.now())
        afterInput()
    }

    // MARK: Engine outputs

    private var drainScheduled = false

    /// After input: write what the engine produced, log its events, re-arm the timer. Done once
    /// per event-loop tick, after every connection that had bytes was read, so the engine's
    /// group commit covers all of them with one durable write.
    func afterInput() {
        guard !drainScheduled else { return }
        drainScheduled = true
        loop.execute { [self] in
            drainScheduled = false
            drainOutputs()
            drainEvents()
            resumeReads()
            armTimer()
            updateMetrics()
        }
    }

    private var metricsUpdatedAt: UInt64 = 0

    /// At most every 100 ms: the engine's stats walk every online user.
    private func updateMetrics() {
        guard let metrics else { return }
        let now = Self.now()
        guard now >= metricsUpdatedAt + 100 else { return }
        metricsUpdatedAt = now
        metrics.update(engine.stats, unauthenticated: engine.unauthenticatedSessions, bytesQueued: backlog.values.reduce(0, +))
    }

    private func resumeReads() {
        guard !pausedReads.isEmpty else { return }
        for id in pausedReads where !engine.isInputPaused(id) {
            pausedReads.remove(id)
            channels[id]?.setOption(ChannelOptions.autoRead, value: true).whenFailure { _ in }
        }
    }

    private func drainOutputs() {
        var written: [SessionID: (channel: any Channel, bytes: Int)] = [:]
        while let output = engine.pollOutput() {
            switch output {
            case let .frame(id, bytes):
                guard let channel = channels[id] else { continue }
                var buffer = channel.allocator.buffer(capacity: bytes.count + Varint.encodedSize(UInt64(bytes.count)))
                var prefix: [UInt8] = []
                Varint.append(UInt64(bytes.count), to: &prefix)
                buffer.writeBytes(prefix)
                buffer.writeBytes(bytes)
                channel.write(buffer, promise: nil)
                written[id, default: (channel, 0)].bytes += buffer.readableBytes
            case let .close(id):
                guard let channel = channels.removeValue(forKey: id) else { continue }
                written[id] = nil
                backlog[id] = nil
                pausedReads.remove(id)
                // Everything queued before the close goes out first.
                channel.writeAndFlush(channel.allocator.buffer(capacity: 0)).whenComplete { _ in
                    channel.close(promise: nil)
                }
            }
        }
        let now = Self.now()
        for (id, batch) in written {
            // The backlog is what the channel has not written yet; the batch leaves it when
            // the empty write queued after it completes (writes complete in order).
            let pending = backlog[id, default: 0] + batch.bytes
            backlog[id] = pending
            engine.setBacklog(id, bytes: pending, now: now)
            let done = loop.makePromise(of: Void.self)
            batch.channel.writeAndFlush(batch.channel.allocator.buffer(capacity: 0), promise: done)
            done.futureResult.whenComplete { [self] _ in
                guard let left = backlog[id] else { return }
                backlog[id] = max(0, left - batch.bytes)
                engine.setBacklog(id, bytes: backlog[id]!, now: Self.now())
                afterInput()
            }
        }
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

    private func armTimer() {
        guard !stopping, let due = engine.nextTimeout else {
            timer?.cancel()
            timer = nil
            timerDeadline = nil
            return
        }
        if timer != nil, let armed = timerDeadline, armed <= due { return }
        timer?.cancel()
        timerDeadline = due
        timer = loop.scheduleTask(deadline: .uptimeNanoseconds(due * 1_000_000)) { [self] in
            timer = nil
            timerDeadline = nil
            let now = Self.now()
            engine.setWallClock(unixMs: currentUnixMilliseconds(), now: now)
            engine.handleTimeout(now: now)
            afterInput()
        }
    }

    // MARK: Shutdown

    /// Stops taking connections, flushes every connection and closes it, then closes the store.
    func shutdown() -> EventLoopFuture<Void> {
        loop.preconditionInEventLoop()
        stopping = true
        drainOutputs()
        drainEvents()
        timer?.cancel()
        timer = nil
        let open = Array(channels.values)
        let closing = open.map { channel in
            channel.writeAndFlush(channel.allocator.buffer(capacity: 0))
                .flatMap { channel.close() }
                .recover { _ in }
        }
        return EventLoopFuture.andAllComplete(closing, on: loop).map { [self] in
            channels.removeAll()
            (store as? SQLiteServerStore)?.close()
            logger.info("store closed", metadata: ["sessions": "\(open.count)"])
        }
    }
}
