import IMRCore
import NIOCore
import NIOPosix
import NIOSSL

/// Drives one `ClientEngine` over TCP with the delimited framing: connects to the first of
/// its server addresses that answers, fails over to the next when one fails, reconnects with
/// backoff and jitter, feeds received frames in, writes what the engine transmits, and keeps
/// one timer armed at the engine's next deadline. `MessagingClient` is the async face over it;
/// hosts that want callbacks on the loop use it directly.
///
/// Every use of the engine happens on `loop`; other threads go through `perform`.
public final class ClientDriver: @unchecked Sendable {
    public let loop: any EventLoop
    private let engine: ClientEngine
    private let servers: [ServerAddress]
    private var serverIndex = 0
    private let onEvent: (ClientEvent) -> Void
    private let onStatus: (Status) -> Void
    private let codecLimits: WireLimits
    private let tls: NIOSSLContext?
    /// Why the connection last failed (a TLS verification error, a reset), for the next status.
    private var lastError: String?

    /// What happened to the connection, for hosts that tell their user.
    public enum Status: Sendable, Equatable {
        case connected(ServerAddress)
        /// The connection failed or closed; the next attempt (to the next address) starts in `retryInMs`.
        case disconnected(reason: String, retryInMs: Int64)
        /// The engine refused a frame (it counts or reports it); the connection goes on.
        case frameRefused(String)
    }

    private enum State {
        case idle
        case connecting
        case connected(any Channel)
        case stopped
    }

    private var state = State.idle
    private var splitter: FrameSplitter
    private var timer: Scheduled<Void>?
    private var timerDeadline: UInt64?
    private var reconnectTask: Scheduled<Void>?
    private let reconnectDelays: ClosedRange<Int64>
    private var reconnectDelayMs: Int64

    /// - Parameters:
    ///   - servers: tried in order, starting over after the last; at least one.
    ///   - reconnectDelays: the first and the largest delay before reconnecting, in ms; it
    ///     doubles per failed attempt, with jitter.
    ///   - onEvent: called on `loop` for every engine event.
    ///   - onStatus: called on `loop` when the connection comes up, goes down or a frame is refused.
    ///   - tls: TLS to every server (verified against the context's trust roots, and its
    ///     name or address); nil: plaintext.
    public init(engine: ClientEngine, loop: any EventLoop, servers: [ServerAddress], limits: WireLimits = .default,
                reconnectDelays: ClosedRange<Int64> = 100...2_000, tls: NIOSSLContext? = nil,
                onEvent: @escaping (ClientEvent) -> Void, onStatus: @escaping (Status) -> Void = { _ in }) {
        precondition(!servers.isEmpty, "a driver needs at least one server address")
        self.engine = engine
        self.loop = loop
        self.servers = servers
        self.onEvent = onEvent
        self.onStatus = onStatus
        self.codecLimits = limits
        self.tls = tls
        self.reconnectDelays = max(1, reconnectDelays.lowerBound)...max(1, reconnectDelays.upperBound)
        self.reconnectDelayMs = self.reconnectDelays.lowerBound
        self.splitter = FrameSplitter(maxFrameBytes: limits.maxFrameBytes)
    }

    public func start() {
        loop.execute { self.connect() }
    }

    /// Runs `body` with the engine on its loop, then flushes whatever it produced.
    public func perform<T: Sendable>(_ body: @escaping @Sendable (ClientEngine, UInt64) throws -> T) -> EventLoopFuture<T> {
        loop.submit {
            defer { self.flush() }
            return try body(self.engine, monotonicMilliseconds())
        }
    }

    /// Closes the connection and stops reconnecting; the engine stays usable through `perform`.
    public func stop() -> EventLoopFuture<Void> {
        loop.flatSubmit {
            let previous = self.state
            self.state = .stopped
            self.timer?.cancel()
            self.reconnectTask?.cancel()
            if case let .connected(channel) = previous {
                return channel.close().recover { _ in }
            }
            return self.loop.makeSucceededVoidFuture()
        }
    }

    public var isConnected: Bool {
        loop.assertInEventLoop()
        if case .connected = state { return true }
        return false
    }

    // MARK: - Connection life cycle (on loop)

    private func connect() {
        guard case .idle = state else { return }
        state = .connecting
        let handler = ConnectionHandler(owner: self)
        let server = servers[serverIndex]
        let tls = self.tls
        ClientBootstrap(group: loop)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls {
                        // An address is verified against the certificate's IP entries; a name is also sent as SNI.
                        let isAddress = (try? SocketAddress(ipAddress: server.host, port: 0)) != nil
                        try channel.pipeline.syncOperations.addHandler(
                            NIOSSLClientHandler(context: tls, serverHostname: isAddress ? nil : server.host))
                    }
                    try channel.pipeline.syncOperations.addHandler(handler)
                }
            }
            .connectTimeout(.seconds(5))
            .connect(host: server.host, port: server.port)
            .whenComplete { result in
                switch result {
                case let .success(channel):
                    guard case .connecting = self.state else { channel.close(promise: nil); return }
                    self.state = .connected(channel)
                    self.reconnectDelayMs = self.reconnectDelays.lowerBound
                    self.splitter = FrameSplitter(maxFrameBytes: self.codecLimits.maxFrameBytes)
                    self.onStatus(.connected(server))
                    self.engine.connected(now: monotonicMilliseconds())
                    self.flush()
                case .failure:
                    guard case .connecting = self.state else { return }
                    self.state = .idle
                    self.scheduleReconnect(because: "cannot connect to \(server)")
                }
            }
    }

    fileprivate func channelClosed() {
        guard case .connected = state else { return }
        state = .idle
        engine.disconnected(now: monotonicMilliseconds())
        flush()
        let reason = lastError.map { "disconnected: \($0)" } ?? "disconnected"
        lastError = nil
        scheduleReconnect(because: reason)
    }

    fileprivate func failed(_ error: any Error) {
        lastError = "\(error)"
    }

    fileprivate func received(_ buffer: ByteBuffer) {
        buffer.withUnsafeReadableBytes { splitter.append($0) }
        let now = monotonicMilliseconds()
        do {
            while let frame = try splitter.next() {
                // A bad frame is counted or reported by the engine; it does not end the connection.
                let refused = frame.withUnsafeBytes { raw -> String? in
                    do { try engine.handle(frameBytes: raw, now: now); return nil } catch { return "\(error)" }
                }
                if let refused { onStatus(.frameRefused(refused)) }
            }
        } catch {
            // The stream is unusable: reset the connection.
            if case let .connected(channel) = state { channel.close(promise: nil) }
        }
        flush()
    }

    /// The next attempt goes to the next address, after a delay that grows while attempts fail.
    private func scheduleReconnect(because reason: String) {
        guard case .idle = state else { return }
        serverIndex = (serverIndex + 1) % servers.count
        // Jitter in [delay/2, delay], then double up to the cap.
        let delay = reconnectDelayMs / 2 + Int64.random(in: 0...max(1, reconnectDelayMs / 2))
        onStatus(.disconnected(reason: reason, retryInMs: delay))
        reconnectTask = loop.scheduleTask(in: .milliseconds(delay)) { self.connect() }
        reconnectDelayMs = min(reconnectDelays.upperBound, reconnectDelayMs * 2)
    }

    /// Writes every queued frame, delivers every event, re-arms the timer.
    private func flush() {
        if case let .connected(channel) = state {
            var wrote = false
            // Each frame is written from the engine's scratch space straight into the channel's buffer.
            while let buffer = engine.pollTransmit({ frame -> ByteBuffer in
                var buffer = channel.allocator.buffer(capacity: Varint.maxBytes + frame.count)
                buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: Varint.maxBytes) { Varint.write(UInt64(frame.count), to: $0) }
                buffer.writeBytes(frame)
                return buffer
            }) {
                channel.write(buffer, promise: nil)
                wrote = true
            }
            if wrote { channel.flush() }
        } else {
            // Offline: the engine keeps its frames; nothing to write.
            while engine.pollTransmit() != nil {}
        }
        while let event = engine.pollEvent() { onEvent(event) }
        armTimer()
    }

    private func armTimer() {
        if case .stopped = state { return }
        guard let deadline = engine.nextTimeout else {
            timer?.cancel(); timer = nil; timerDeadline = nil
            return
        }
        if timerDeadline == deadline, timer != nil { return }
        timer?.cancel()
        timerDeadline = deadline
        let now = monotonicMilliseconds()
        let delay = deadline > now ? Int64(deadline - now) : 0
        timer = loop.scheduleTask(in: .milliseconds(delay)) {
            self.timer = nil
            self.timerDeadline = nil
            self.engine.handleTimeout(now: monotonicMilliseconds())
            self.flush()
        }
    }
}

/// Forwards a channel's bytes and closure to its `ClientDriver`.
private final class ConnectionHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    private let owner: ClientDriver

    init(owner: ClientDriver) { self.owner = owner }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        owner.received(unwrapInboundIn(data))
    }

    func channelInactive(context: ChannelHandlerContext) {
        owner.channelClosed()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        owner.failed(error)
        context.close(promise: nil)
    }
}
