import Foundation
import IMRClient
import IMRCore
import NIOCore
import NIOPosix
import NIOSSL

/// One chat device: a `ClientEngine` driven over TCP on one event loop. It reconnects with
/// exponential backoff and jitter (the engine resends unacked messages and catches up by sync
/// after every welcome) and prints every message with its state.
///
/// Everything runs on `loop`; other threads go through `loop.execute`.
final class ChatSession: @unchecked Sendable {
    let loop: any EventLoop
    private let engine: ClientEngine
    /// The relay the connection is on (set when it connects).
    private var server: ServerAddress?
    let conversation: String
    private let output: @Sendable (String) -> Void
    /// Drives the engine over TCP (reconnects, timers); set once in `init`.
    private var connection: ClientDriver!
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

    init(engine: ClientEngine, loop: any EventLoop, servers: [ServerAddress], tls: NIOSSLContext?, conversation: String,
         output: @escaping @Sendable (String) -> Void) {
        self.engine = engine
        self.loop = loop
        self.conversation = conversation
        self.output = output
        connection = ClientDriver(
            engine: engine, loop: loop, servers: servers, limits: engine.config.limits,
            reconnectDelays: 200...10_000, tls: tls,
            onEvent: { [unowned self] event in show(event) },
            onStatus: { [unowned self] status in connectionChanged(status) })
    }

    static func now() -> UInt64 { monotonicMilliseconds() }

    func start() {
        loop.execute { [self] in
            // Messages restored from a durable outbox get their labels first.
            for entry in engine.outbox() where entry.conversation == conversation { label(entry.id) }
            connection.start()
        }
    }

    private func connectionChanged(_ status: ClientDriver.Status) {
        switch status {
        case let .connected(address):
            server = address
        case let .disconnected(reason, retryInMs):
            readyAt = nil
            guard !stopped, fatalError == nil else { return }
            say("* \(reason); reconnecting in \(String(format: "%.1f", Double(retryInMs) / 1000)) s")
        case let .frameRefused(problem):
            say("* ignored a frame from the server: \(problem)")
        }
    }

    // MARK: User input

    /// A typed line: a message, or a command (/retry, /status; /quit is handled by the caller).
    func typed(_ line: String) {
        _ = connection.perform { [self] engine, now in
            let text = line.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !text.isEmpty else { return }
            if text == "/retry" {
                let failed = engine.outbox().filter { if case .failed = $0.state { true } else { false } }
                if failed.isEmpty { say("* nothing to retry") }
                for entry in failed { try? engine.retry(entry.id, now: now) }
                return
            }
            if text == "/status" {
                say("* \(!connection.isConnected ? "offline" : (readyAt == nil ? "connecting" : "online")), \(pendingCount) sending, cursor #\(engine.cursor(conversation))")
                return
            }
            do {
                // A new message is `sending` without an event: send returned its id.
                let id = try engine.send(conversation: conversation, payload: Array(text.utf8), now: now)
                texts[id] = text
                lastState[id] = .sending
                say("[\(label(id))] sending: \(text)")
            } catch {
                say("* not sent: \(error)")
            }
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
            return connection.stop()
        }
    }

    var failure: EventLoopFuture<String?> { loop.submit { [self] in fatalError } }

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
            say("* connected to \(server.map { "\($0)" } ?? "the relay") as \(engine.config.userID); catching up on \(conversation)")
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
                    stopped = true
                    _ = connection.stop()
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
