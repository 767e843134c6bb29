import Foundation
@testable import IMRCore

/// Which store an engine test runs against: every rule holds for both.
enum StoreKind: String, CaseIterable, CustomStringConvertible, Sendable {
    case memory, sqlite
    var description: String { rawValue }
}

/// Tokens for tests: "tok:<user>" is valid, "old:<user>" is expired, anything else invalid.
struct TestVerifier: TokenVerifier {
    func verify(token: String, nowUnixMs: UInt64) -> TokenVerdict {
        if token.hasPrefix("tok:") { return .valid(user: String(token.dropFirst(4))) }
        if token.hasPrefix("old:") { return .expired }
        return .invalid
    }
}

/// A temporary directory removed on deinit.
final class TempDir {
    let path: String
    init() {
        path = NSTemporaryDirectory() + "imr-server-\(UUID().uuidString)"
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// An engine, its store, a clock, and helpers that speak frames to it and decode what it says.
final class ServerHarness {
    let kind: StoreKind
    let dir = TempDir()
    var config: ServerConfig
    var store: any ServerStore
    var engine: ServerEngine
    let codec = FrameCodec()
    var now: UInt64 = 1_000
    var rng = SeededGenerator(seed: 42)
    /// Frames received per session, in order, accumulated by `drain()`.
    var inbox: [SessionID: [Frame]] = [:]
    var closed: Set<SessionID> = []

    var dbPath: String { dir.path + "/server.sqlite" }

    init(_ kind: StoreKind, config: ServerConfig = ServerConfig(rateLimit: nil)) throws {
        self.kind = kind
        self.config = config
        store = kind == .memory ? MemoryServerStore() : try SQLiteServerStore(path: dir.path + "/server.sqlite", durability: .processCrash)
        engine = ServerEngine(config: config, store: store, verifier: TestVerifier())
    }

    /// A restart: a new engine on the same SQLite file (memory stores keep their object).
    func restart() throws {
        if kind == .sqlite {
            (store as? SQLiteServerStore)?.close()
            store = try SQLiteServerStore(path: dbPath, durability: .processCrash)
        }
        engine = ServerEngine(config: config, store: store, verifier: TestVerifier())
        inbox = [:]
        closed = []
    }

    func advance(_ ms: UInt64) {
        now += ms
        if let t = engine.nextTimeout, t <= now { engine.handleTimeout(now: now) }
    }

    func newID() -> MessageID { MessageID.uuidV7(unixMilliseconds: now, using: &rng) }

    /// Opens a session and authenticates it; the welcome is left in the inbox.
    @discardableResult
    func connect(_ user: String, node: UInt64 = 0) -> SessionID {
        let s = engine.openSession(now: now)
        engine.handle(.hello(Hello(token: "tok:\(user)", deviceNode: node == 0 ? UInt64(user.utf8.count) &* 1_000 &+ UInt64(s.rawValue) : node)), from: s, now: now)
        drain()
        return s
    }

    func feed(_ frame: Frame, from s: SessionID) {
        let bytes = try! codec.encode(frame)
        bytes.withUnsafeBytes { engine.handle(frameBytes: $0, from: s, now: now) }
    }

    func feedBytes(_ bytes: [UInt8], from s: SessionID) {
        bytes.withUnsafeBytes { engine.handle(frameBytes: $0, from: s, now: now) }
    }

    @discardableResult
    func send(_ text: String, in conversation: String, from s: SessionID, id: MessageID? = nil) -> MessageID {
        let id = id ?? newID()
        feed(.send(Send(conversation: conversation, messageID: id, clock: VectorClock(), payload: Array(text.utf8))), from: s)
        return id
    }

    /// Polls every output into `inbox` / `closed`.
    func drain() {
        while let out = engine.pollOutput() {
            switch out {
            case let .frame(s, bytes): inbox[s, default: []].append(try! codec.decode(bytes))
            case let .close(s): closed.insert(s)
            }
        }
    }

    /// Drains, then returns and clears the session's frames.
    func take(_ s: SessionID) -> [Frame] {
        drain()
        defer { inbox[s] = [] }
        return inbox[s] ?? []
    }

    func events() -> [ServerEvent] {
        var out: [ServerEvent] = []
        while let e = engine.pollEvent() { out.append(e) }
        return out
    }
}

extension Frame {
    var ack: SendAck? { if case let .sendAck(a) = self { return a }; return nil }
    var reject: SendReject? { if case let .sendReject(r) = self { return r }; return nil }
    var pushed: StoredMessage? { if case let .push(m) = self { return m }; return nil }
    var errorFrame: ErrorFrame? { if case let .error(e) = self { return e }; return nil }
    var welcome: Welcome? { if case let .welcome(w) = self { return w }; return nil }
    var sync: SyncResponse? { if case let .syncResponse(r) = self { return r }; return nil }
    var result: ConversationResult? { if case let .conversationResult(r) = self { return r }; return nil }
    var receipt: Receipt? { if case let .receipt(r) = self { return r }; return nil }
}
