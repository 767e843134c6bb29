import Foundation
import IMRCore
import IMRRelay
import Logging
import NIOCore
#if canImport(Glibc)
import Glibc
#endif

/// Server figures: accepted sends per second through the engine (memory and SQLite stores),
/// and an end-to-end loopback run through the relay (10 clients in one conversation).
struct ServerBench: BenchSuite {
    let name = "server"

    func run(quick: Bool) throws -> [BenchFigure] {
        let runs = quick ? 1 : 5
        let memorySends = quick ? 2_000 : 50_000
        let sqliteSends = quick ? 100 : 1_000
        let dir = NSTemporaryDirectory() + "imr-bench-server-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }

        let memory = try (0..<runs).map { _ in try Self.engineAccept(store: MemoryServerStore(), sends: memorySends) }
        let sqliteFull = try (0..<runs).map { r in
            try Self.engineAccept(store: SQLiteServerStore(path: "\(dir)/full-\(r).sqlite", durability: .powerLoss), sends: sqliteSends)
        }
        let sqliteNormal = try (0..<runs).map { r in
            try Self.engineAccept(store: SQLiteServerStore(path: "\(dir)/normal-\(r).sqlite", durability: .processCrash), sends: sqliteSends * 3)
        }
        let sqliteBatched = try (0..<runs).map { r in
            try Self.engineAccept(store: SQLiteServerStore(path: "\(dir)/batched-\(r).sqlite", durability: .powerLoss),
                                  sends: sqliteSends * 10, framesPerDrain: 32)
        }

        let relayRuns = quick ? 1 : 3
        let perClient = quick ? 100 : 1_000
        var rates: [Double] = [], p50s: [Double] = [], p99s: [Double] = []
        for r in 0..<relayRuns {
            let result = try Self.relayLoopback(clients: 10, perClient: perClient, window: 16, databasePath: "\(dir)/relay-\(r).sqlite")
            rates.append(result.messagesPerSecond)
            p50s.append(result.p50)
            p99s.append(result.p99)
        }
        return [
            BenchFigure(key: "server_accept_per_s_memory", value: median(memory), unit: "sends/s",
                        label: "server engine accepts, memory store"),
            BenchFigure(key: "server_accept_per_s_sqlite", value: median(sqliteFull), unit: "sends/s",
                        label: "server engine accepts, SQLite store (synchronous=FULL)"),
            BenchFigure(key: "server_accept_per_s_sqlite_normal", value: median(sqliteNormal), unit: "sends/s",
                        label: "server engine accepts, SQLite store (synchronous=NORMAL)"),
            BenchFigure(key: "server_accept_per_s_sqlite_batched", value: median(sqliteBatched), unit: "sends/s",
                        label: "server engine accepts, SQLite FULL, drained every 32 frames"),
            BenchFigure(key: "relay_msgs_per_s", value: median(rates), unit: "msgs/s",
                        label: "relay loopback, 10 clients, 1 conversation, sent+delivered to all"),
            BenchFigure(key: "relay_p50_ms", value: median(p50s), unit: "ms", label: "relay loopback send->ack p50"),
            BenchFigure(key: "relay_p99_ms", value: median(p99s), unit: "ms", label: "relay loopback send->ack p99"),
        ]
    }

    /// Sends per second through `handle(frameBytes:)`: decode, membership, store, ack, and a
    /// push to both members' devices, outputs drained after every `framesPerDrain` frames (each
    /// drain is one group commit). Frames are encoded before timing.
    static func engineAccept(store: any ServerStore, sends: Int, framesPerDrain: Int = 1) throws -> Double {
        let engine = ServerEngine(config: ServerConfig(rateLimit: nil), store: store, verifier: InsecureUserNameVerifier())
        try engine.createConversation("bench", members: ["alice", "bob"])
        let alice = engine.openSession(now: 0)
        let bob = engine.openSession(now: 0)
        engine.handle(.hello(Hello(token: "alice", deviceNode: 1)), from: alice, now: 0)
        engine.handle(.hello(Hello(token: "bob", deviceNode: 2)), from: bob, now: 0)
        while engine.pollOutput() != nil {}
        let codec = FrameCodec()
        var rng = SeededGenerator(seed: 1)
        let payload = [UInt8](repeating: 0x6D, count: 64)
        let frames = try (0..<sends).map { i -> [UInt8] in
            let clock = try VectorClock(entries: [.init(node: 1, counter: UInt64(i + 1)), .init(node: 2, counter: 7)])
            return try codec.encode(.send(Send(conversation: "bench", messageID: .uuidV7(unixMilliseconds: 1_700_000_000_000 + UInt64(i), using: &rng),
                                               clock: clock, payload: payload)))
        }
        let start = monotonicSeconds()
        for (i, frame) in frames.enumerated() {
            frame.withUnsafeBytes { engine.handle(frameBytes: $0, from: alice, now: UInt64(i / 100)) }
            if (i + 1) % framesPerDrain == 0 || i == frames.count - 1 {
                while engine.pollOutput() != nil {}
                while let _ = engine.pollEvent() {}
            }
        }
        let elapsed = monotonicSeconds() - start
        guard engine.stats.accepted == sends else { throw BenchError("engine accepted \(engine.stats.accepted) of \(sends)") }
        return Double(sends) / elapsed
    }

    struct LoopbackResult {
        var messagesPerSecond: Double
        var p50: Double
        var p99: Double
    }

    /// An in-process relay (SQLite store, synchronous=NORMAL) and `clients` TCP clients in one
    /// conversation, each sending `perClient` messages with `window` in flight. The rate counts
    /// messages from the first send until every client holds every message (its acks and all
    /// pushes); latency is send -> ack per message.
    static func relayLoopback(clients: Int, perClient: Int, window: Int, databasePath: String) throws -> LoopbackResult {
        let users = (0..<clients).map { "c\($0)" }
        let (relay, port) = try startBenchRelay(databasePath: databasePath, conversation: "bench", members: users, label: "imr.bench.relay")
        defer { _ = try? runBlocking { try await relay.stop() } }

        let results = BenchResults()
        let ready = DispatchGroup(), finished = DispatchGroup()
        let go = DispatchSemaphore(value: 0)
        let total = clients * perClient
        for (c, user) in users.enumerated() {
            ready.enter(); finished.enter()
            Thread.detachNewThread {
                defer { finished.leave() }
                do {
                    let client = try BlockingFrameClient.connect(port: port, readTimeout: 30, writeTimeout: 30)
                    try client.send(.hello(Hello(token: user, deviceNode: UInt64(c + 1))))
                    _ = try client.read()   // welcome
                    ready.leave()
                    go.wait()
                    var rng = SeededGenerator(seed: UInt64(c + 1))
                    var sentAt: [Double] = []
                    sentAt.reserveCapacity(perClient)
                    var latencies: [Double] = []
                    latencies.reserveCapacity(perClient)
                    var acked = 0, pushes = 0, next = 0
                    let payload = [UInt8](repeating: 0x6D, count: 64)
                    while acked < perClient || pushes < total {
                        var batch: [Frame] = []
                        while next - acked < window && next < perClient {
                            batch.append(.send(Send(conversation: "bench", messageID: .uuidV7(unixMilliseconds: 1, using: &rng),
                                                    clock: VectorClock(), payload: payload)))
                            sentAt.append(monotonicSeconds())
                            next += 1
                        }
                        if !batch.isEmpty { try client.send(batch) }
                        switch try client.read() {
                        case .sendAck:
                            latencies.append((monotonicSeconds() - sentAt[acked]) * 1000)
                            acked += 1
                        case .push:
                            pushes += 1
                        default:
                            break
                        }
                    }
                    results.add(latencies: latencies, finishedAt: monotonicSeconds())
                } catch {
                    results.fail("client \(user): \(error)")
                    ready.leave()   // harmless imbalance guard is not needed: fail fast below
                }
            }
        }
        ready.wait()
        let start = monotonicSeconds()
        for _ in 0..<clients { go.signal() }
        finished.wait()
        if let failure = results.failure { throw BenchError(failure) }
        let latencies = results.latencies.sorted()
        guard latencies.count == total else { throw BenchError("\(latencies.count) of \(total) acks") }
        return LoopbackResult(messagesPerSecond: Double(total) / (results.lastFinish - start),
                              p50: latencies[latencies.count / 2],
                              p99: latencies[min(latencies.count - 1, latencies.count * 99 / 100)])
    }
}

private struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

private final class BenchResults: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var latencies: [Double] = []
    private(set) var lastFinish = 0.0
    private(set) var failure: String?
    func add(latencies l: [Double], finishedAt t: Double) {
        lock.lock(); latencies += l; lastFinish = max(lastFinish, t); lock.unlock()
    }
    func fail(_ s: String) { lock.lock(); failure = failure ?? s; lock.unlock() }
}

