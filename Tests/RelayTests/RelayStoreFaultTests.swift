import Foundation
import IMRCore
import Logging
import Testing
@testable import IMRRelay

/// A store that fails, then stalls, mid-stream under a relay with clients sending: whatever
/// happens, every acked message is stored once with the seq its ack gave, and seqs have no holes.
@Suite struct RelayStoreFaultTests {
    /// The SQLite store with faults at fixed points of the stream, whatever the timing: appends
    /// 200 to 299 fail, the first three commits after append 400 fail (and are rolled back, as
    /// a real failed commit is), and five commits after append 600 stall for 50 ms each.
    final class FaultyStore: ForwardingServerStore, @unchecked Sendable {
        struct Injected: Error {}
        let sqlite: SQLiteServerStore
        var inner: any ServerStore { sqlite }
        private var appends = 0
        private var failedCommits = 0
        private var stalledCommits = 0
        init(path: String) throws { sqlite = try SQLiteServerStore(path: path, durability: .processCrash) }

        func commitBatch() throws {
            if appends >= 400 && failedCommits < 3 {
                failedCommits += 1
                throw Injected()
            }
            if appends >= 600 && stalledCommits < 5 {
                stalledCommits += 1
                usleep(50_000)
            }
            try sqlite.commitBatch()
        }
        func append(_ m: NewMessage) throws -> AppendOutcome {
            appends += 1
            if (200..<300).contains(appends) { throw Injected() }
            return try sqlite.append(m)
        }
    }

    final class Ledger: @unchecked Sendable {
        private let lock = NSLock()
        private var acked: [MessageID: UInt64] = [:]
        private(set) var conflictingAcks = 0
        private(set) var refusals = 0
        private(set) var reconnects = 0
        func ack(_ id: MessageID, _ seq: UInt64) {
            lock.withLock {
                if let earlier = acked[id], earlier != seq { conflictingAcks += 1 }
                acked[id] = seq
            }
        }
        func refused() { lock.withLock { refusals += 1 } }
        func reconnected() { lock.withLock { reconnects += 1 } }
        var count: Int { lock.withLock { acked.count } }
        var snapshot: [MessageID: UInt64] { lock.withLock { acked } }
        var faultsSeen: Int { lock.withLock { refusals + reconnects } }
    }

    /// A client as an app's would be: it resends what was refused as busy, reconnects when
    /// the relay closes it, and resends everything not yet acked (same ids).
    static func drive(port: Int, user: String, node: UInt64, ids: [MessageID], ledger: Ledger) {
        var unacked = ids
        for _ in 0..<500 where !unacked.isEmpty {
            do {
                let client = try RawClient(port: port)
                _ = try client.hello(token: user, node: node)
                var queue = unacked
                var next = 0
                var inFlight: Set<MessageID> = []
                while next < queue.count || !inFlight.isEmpty {
                    while inFlight.count < 8 && next < queue.count {
                        try client.send(.send(Send(conversation: "general", messageID: queue[next], clock: VectorClock(),
                                                   payload: Array("\(user) \(queue[next])".utf8))))
                        inFlight.insert(queue[next])
                        next += 1
                    }
                    switch try client.read() {
                    case let .sendAck(a):
                        ledger.ack(a.messageID, a.seq)
                        inFlight.remove(a.messageID)
                        unacked.removeAll { $0 == a.messageID }
                    case let .sendReject(r):
                        ledger.refused()
                        inFlight.remove(r.messageID)
                        usleep(10_000)
                        queue.append(r.messageID)
                    default:
                        break
                    }
                }
            } catch {
                ledger.reconnected()
                usleep(20_000)
            }
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func failingAndStallingCommitsLoseAndDuplicateNothingAcked() async throws {
        let dir = NSTemporaryDirectory() + "imr-relay-faults-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try FaultyStore(path: dir + "/relay.sqlite")
        var options = RelayOptions(databasePath: nil, verifier: InsecureUserNameVerifier())
        options.makeStore = { store }
        let users = ["u0", "u1", "u2"]
        options.conversations = [("general", users)]
        options.server.rateLimit = nil
        var logger = Logger(label: "imr.relay.test")
        logger.logLevel = .critical
        let relay = Relay(options: options, logger: logger)
        let port = try await relay.start()

        let perClient = 1_000
        var rng = SeededGenerator(seed: 5)
        let ids = users.map { _ in (0..<perClient).map { _ in MessageID.uuidV7(unixMilliseconds: currentUnixMilliseconds(), using: &rng) } }
        let ledger = Ledger()
        let done = DispatchGroup()
        for (c, user) in users.enumerated() {
            let mine = ids[c]
            done.enter()
            Thread.detachNewThread {
                Self.drive(port: port, user: user, node: UInt64(c + 1), ids: mine, ledger: ledger)
                done.leave()
            }
        }
        while done.wait(timeout: .now()) == .timedOut { try await Task.sleep(for: .milliseconds(20)) }
        try await relay.stop()

        let acked = ledger.snapshot
        #expect(acked.count == perClient * users.count, "every message was acked in the end")
        #expect(ledger.faultsSeen > 0, "the faults reached the clients")
        #expect(ledger.conflictingAcks == 0, "a message acked twice had one seq")
        // The relay closed its store at stop: read the file afresh.
        let reopened = try SQLiteServerStore(path: dir + "/relay.sqlite", durability: .processCrash)
        defer { reopened.close() }
        let stored = try reopened.messages(in: "general", after: 0, limit: 100_000)
        #expect(stored.map(\.seq) == Array(1...UInt64(stored.count)), "no seq holes")
        #expect(Set(stored.map(\.messageID)).count == stored.count, "each message stored once")
        #expect(stored.count == acked.count)
        for m in stored { #expect(acked[m.messageID] == m.seq, "stored with the seq its ack gave") }
    }
}
