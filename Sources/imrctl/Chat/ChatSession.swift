import Foundation
import IMRCore
import NIOCore
import NIOPosix

/// One chat device: a `ClientEngine` driven over TCP on one event loop. It reconnects with
/// exponential backoff and jitter (the engine resends unacked messages and catches up by sync
/// after every welcome) and prints every message with its state.
///
/// Everything runs on `loop`; other threads go through `loop.execute`.
final class ChatSession: @unchecked Sendable {
    let loop: any EventLoop
    private let engine: ClientEngine
    private let host: String
    private let port: Int
    let conversation: String
    private let output: @Sendable (String) -> Void

    private var channel: (any Channel)?
    private var splitter: FrameSplitter
    private var timer: Scheduled<Void>?
    private var timerDeadline: UInt64?
    private var reconnectDelayMs: UInt64 = 200
    private let maxReconnectDelayMs: UInt64 = 10_000
    private var rng = SystemRandomNumberGenerator()
    private var stopped = false

    // What the user sees.
    private var labels: [MessageID: Int] = [:]
    private var nextLabel = 1
    private var texts: [MessageID: String] = [:]
    private var lastState: [MessageID: MessageState] = [:]
    private var readyAt: UInt64?
    private var caughtUp = false
    /// Set when the server refused the credentials: reconnecting cannot help.
    private(set) var fatalError: String?

    init(engine: ClientEngine, loop: any EventLoop, host: String, port: Int, conversation: String,
         output: @escaping @Sendable (String) -> Void) {
        self.engine = engine
        self.loop = loop
        self.host = host
        self.port = port
        self.conversation = conversation
        self.output = output
        splitter = FrameSplitter(maxFrameBytes: engine.config.limits.maxFrameBytes)
    }

    static func now() -> UInt64 { NIODeadline.now().uptimeNanoseconds / 1_000_000 }

    func start() {
        loop.execute { [self] in
            // Messages restored from a durable outbox get their labels first.
            for entry in engine.outbox() where entry.conversation == conversation { label(entry.id) }
            connect()
        }
    }

    // MARK: Connection

    private func connect() {
        guard !stopped else { return }
        let bootstrap = ClientBootstrap(group: loop)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connectTimeout(.seconds(5))
            .channelInitializer { [self] channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ChatChannelHandler(session: self))
                }
            }
        bootstrap.connect(host: host, port: port).whenFailure { [self] _ in
            scheduleReconnect(because: "cannot connect to \(host):\(port)")
        }
    }

    fileprivate func channelActive(_ channel: any Channel) {
        guard !stopped else { channel.close(promise: nil); return }
        self.channel = channel
        splitter = FrameSplitter(maxFrameBytes: engine.config.limits.maxFrameBytes)
        engine.connected(now: Self.now())
        pump()
    }

    fileprivate func channelRead(_ buffer: ByteBuffer) {
        buffer.withUnsafeReadableBytes { splitter.append($0) }
        let now = Self.now()
        while true {
            do {
                guard let frame = try splitter.next() else { break }
                let refused = frame.withUnsafeBytes { raw -> String? in
                    do {
                        try engine.handle(frameBytes: raw, now: now)
                        return nil
                    } catch {
                        return "\(error)"
                    }
                }
                if let refused { say("* ignored a frame from the server: \(refused)") }
            } catch {
                say("* the server's byte stream is broken (\(error)); reconnecting")
                channel?.close(promise: nil)
                break
            }
        }
        pump()
    }

    fileprivate func channelInactive() {
        guard channel != nil else { return }
        channel = nil
        readyAt = nil
        engine.disconnected(now: Self.now())
        pump()
        scheduleReconnect(because: "disconnected")
    }

    private func scheduleReconnect(because reason: String) {
        guard !stopped, fatalError == nil else { return }
        // Full jitter in [delay/2, delay), then double up to the cap.
        let delay = reconnectDelayMs / 2 + UInt64.random(in: 0..<max(1, reconnectDelayMs / 2), using: &rng)
        reconnectDelayMs = min(maxReconnectDelayMs, reconnectDelayMs * 2)
        say("* \(reason); reconnecting in \(String(format: "%.1f", Double(delay) / 1000)) s")
        loop.scheduleTask(in: .milliseconds(Int64(delay))) { [self] in connect() }
    }

    // MARK: User input

    /// A typed line: a message, or a command (/retry, /quit is handled by the caller).
    func typed(_ line: String) {
        loop.execute { [self] in
            let text = line.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !text.isEmpty else { return }
            if text == "/retry" {
                let failed = engine.outbox().filter { if case .failed = $0.state { true } else { false } }
                if failed.isEmpty { say("* nothing to retry") }
                for entry in failed { try? engine.retry(entry.id, now: Self.now()) }
                pump()
                return
            }
            if text == "/status" {
                say("* \(channel == nil ? "offline" : (readyAt == nil ? "connecting" : "online")), \(pendingCount) sending, cursor #\(engine.cursor(conversation))")
                return
            }
            do {
                // A new message is `sending` without an event: send returned its id.
                let id = try engine.send(conversation: conversation, payload: Array(text.utf8), now: Self.now())
                texts[id] = text
                lastState[id] = .sending
                say("[\(label(id))] sending: \(text)")
            } catch {
                say("* not sent: \(error)")
            }
            pump()
        }
    }

    private var pendingCount: Int {
        lastState.values.filter { $0 == .sending }.count
    }

    /// Nothing is left to do: no message is `sending`, and the history was caught up (or
    /// there was nothing to catch up) on a live connection. False after a fatal error too, so
    /// callers must also check `fatalError`.
    func isSettled() -> EventLoopFuture<Bool> {
        loop.submit { [self] in
            guard pendingCount == 0 else { return false }
            guard let readyAt else { return false }
            return caughtUp || Self.now() >= readyAt + 1_500
        }
    }

    func stop() -> EventLoopFuture<Void> {
        loop.flatSubmit { [self] in
            stopped = true
            timer?.cancel()
            guard let channel else { return loop.makeSucceededVoidFuture() }
            self.channel = nil
            return channel.close().recover { _ in }
        }
    }

    var failure: EventLoopFuture<String?> { loop.submit { [self] in fatalError } }

    // MARK: Engine outputs

    private func pump() {
        if let channel {
            var wrote = false
            while let bytes = engine.pollTransmit() {
                var buffer = channel.allocator.buffer(capacity: bytes.count + 5)
                var prefix: [UInt8] = []
                Varint.append(UInt64(bytes.count), to: &prefix)
                buffer.writeBytes(prefix)
                buffer.writeBytes(bytes)
                channel.write(buffer, promise: nil)
                wrote = true
            }
            if wrote { channel.flush() }
        }
        while let event = engine.pollEvent() { show(event) }
        armTimer()
    }

    private func armTimer() {
        guard !stopped, let due = engine.nextTimeout else {
            timer?.cancel(); timer = nil; timerDeadline = nil
            return
        }
        if timer != nil, let armed = timerDeadline, armed <= due { return }
        timer?.cancel()
        timerDeadline = due
        timer = loop.scheduleTask(deadline: .uptimeNanoseconds(due * 1_000_000)) { [self] in
            timer = nil
            timerDeadline = nil
            engine.handleTimeout(now: Self.now())
            pump()
        }
    }

    @discardableResult
    private func label(_ id: MessageID) -> Int {
        if let l = labels[id] { return l }
        let l = nextLabel
        nextLabel += 1
        labels[id] = l
        return l
    }

    private func show(_ event: ClientEvent) {
        switch event {
        case .connectionReady:
            readyAt = Self.now()
            caughtUp = false
            reconnectDelayMs = 200
            say("* connected to \(host):\(port) as \(engine.config.userID); catching up on \(conversation)")
        case let .stateChanged(id, conv, state):
            guard conv == conversation else { return }
            let l = label(id)
            let previous = lastState[id]
            lastState[id] = state
            switch state {
            case .sending:
                // Only a retry announces `sending` (a new message did so when typed).
                say(previous == nil ? "[\(l)] sending: \(texts[id] ?? "")" : "[\(l)] sending again")
            case let .sent(seq, _):
                say("[\(l)] sent (#\(seq))")
            case let .failed(reason):
                say("[\(l)] failed: \(Self.describe(reason)) (type /retry to send it again)")
            }
        case let .messageReceived(conv, seq, _, senderUser, senderNode, payload, _, _):
            guard conv == conversation else { return }
            let own = senderUser == engine.config.userID && senderNode == engine.config.nodeID
            say("#\(seq) \(senderUser)\(own ? " (this device, earlier)" : ""): \(String(decoding: payload, as: UTF8.self))")
        case let .syncFinished(conv):
            if conv == conversation && !caughtUp {
                caughtUp = true
                say("* up to date at #\(engine.cursor(conversation))")
            }
        case let .gapOpened(conv, from, to):
            if conv == conversation { say("* missing #\(from)–#\(to); fetching") }
        case let .error(error):
            if case let .server(code, detail, fatal) = error {
                if fatal && (code == .authFailed || code == .tokenExpired || code == .unsupportedVersion) {
                    fatalError = "the server refused the connection: \(detail)"
                    say("* \(fatalError!)")
                    channel?.close(promise: nil)
                } else {
                    say("* server: \(detail)")
                }
            } else {
                say("* \(error)")
            }
        case .ownMessageConfirmed, .gapFilled, .syncStarted, .receipt:
            break
        }
    }

    private static func describe(_ reason: FailureReason) -> String {
        switch reason {
        case .attemptsExhausted: return "no acknowledgement after every attempt"
        case .maxOfflineAge: return "offline for too long"
        case let .rejected(code):
            switch code {
            case .notMember: return "you are not a member of this conversation"
            case .unknownConversation: return "no such conversation"
            case .payloadTooLarge: return "too long"
            case .idConflict: return "message id conflict"
            default: return "refused by the server (code \(code.rawValue))"
            }
        }
    }

    private func say(_ line: String) { output(line) }
}

/// Hands the channel's events to the session (same loop).
private final class ChatChannelHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    private let session: ChatSession

    init(session: ChatSession) { self.session = session }

    func channelActive(context: ChannelHandlerContext) {
        session.channelActive(context.channel)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        session.channelRead(unwrapInboundIn(data))
    }

    func channelInactive(context: ChannelHandlerContext) {
        session.channelInactive()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
