import Testing
@testable import IMRCore

/// Group commit: writes between two drains share one commit, and no ack leaves before it.
@Suite struct ServerGroupCommitTests {
    @Test func acksWaitForTheCommitAndOneCommitCoversManySends() throws {
        let h = try ServerHarness(.sqlite)
        try h.engine.createConversation("general", members: ["alice", "bob"])
        let alice = h.connect("alice")
        let bob = h.connect("bob")
        _ = h.take(alice); _ = h.take(bob)
        for i in 0..<20 { h.send("m\(i)", in: "general", from: alice) }
        // Not yet committed: another connection to the file sees nothing.
        let observer = try SQLiteDatabase(path: h.dbPath)
        let count = try observer.prepare("SELECT count(*) FROM messages")
        #expect(try count.step() && count.int64(0) == 0)
        // The first poll commits, then the acks come out.
        let frames = h.take(alice)
        #expect(frames.compactMap(\.ack).map(\.seq) == Array(1...20))
        let again = try observer.prepare("SELECT count(*) FROM messages")
        #expect(try again.step() && again.int64(0) == 20)
        #expect(h.take(bob).compactMap(\.pushed).count == 20)
    }

    /// A memory store whose next commit fails (it cannot roll back; the test looks at outputs).
    final class FlakyStore: ForwardingServerStore {
        let inner: any ServerStore = MemoryServerStore()
        var failNextCommit = false
        var batches = 0
        struct Boom: Error {}
        func beginBatch() throws { batches += 1 }
        func commitBatch() throws { if failNextCommit { failNextCommit = false; throw Boom() } }
    }

    @Test func aFailedCommitWithdrawsTheAcksAndClosesTheSessionsConcerned() throws {
        let store = FlakyStore()
        let engine = ServerEngine(config: ServerConfig(rateLimit: nil), store: store, verifier: TestVerifier())
        try engine.createConversation("general", members: ["alice", "bob"])
        let codec = FrameCodec()
        func drain() -> [(SessionID, Frame?)] {
            var out: [(SessionID, Frame?)] = []
            while let o = engine.pollOutput() {
                switch o {
                case let .frame(s, b): out.append((s, try? codec.decode(b)))
                case let .close(s): out.append((s, nil))
                }
            }
            return out
        }
        let alice = engine.openSession(now: 0), bob = engine.openSession(now: 0), carol = engine.openSession(now: 0)
        engine.handle(.hello(Hello(token: "tok:alice", deviceNode: 1)), from: alice, now: 0)
        engine.handle(.hello(Hello(token: "tok:bob", deviceNode: 2)), from: bob, now: 0)
        engine.handle(.hello(Hello(token: "tok:carol", deviceNode: 3)), from: carol, now: 0)
        _ = drain()
        var rng = SeededGenerator(seed: 1)
        store.failNextCommit = true
        engine.handle(.send(Send(conversation: "general", messageID: .uuidV7(unixMilliseconds: 1, using: &rng), clock: VectorClock(), payload: [1])), from: alice, now: 1)
        engine.handle(.ping(nonce: 9), from: carol, now: 1)
        let out = drain()
        #expect(!out.contains { $0.1?.ack != nil }, "no ack for a write that was not committed")
        #expect(!out.contains { $0.1?.pushed != nil })
        #expect(out.contains { $0.0 == alice && $0.1?.errorFrame?.code == .internalError })
        #expect(out.contains { $0.0 == alice && $0.1 == nil }, "alice is closed")
        #expect(out.contains { $0.0 == bob && $0.1 == nil }, "bob was shown the write: closed too")
        // Every frame queued in the failed batch is withdrawn, whatever it was: carol too
        // reconnects (conservative; commit failures are rare and reconnecting is always safe).
        #expect(!out.contains { $0.0 == carol && $0.1 == .pong(nonce: 9) })
        #expect(out.contains { $0.0 == carol && $0.1 == nil })
        #expect(engine.stats.storeFailures == 1)
    }
}
