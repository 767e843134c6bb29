import Foundation
import Testing
@testable import IMRCore

/// The SQLite store: reopening restores everything; the file is claimed; clocks round-trip.
@Suite struct SQLiteServerStoreTests {
    @Test func reopeningRestoresConversationsMessagesHeadsWatermarksAndIdempotency() throws {
        let h = try ServerHarness(.sqlite)
        try h.engine.createConversation("general", members: ["alice", "bob"])
        let alice = h.connect("alice", node: 1)
        let bob = h.connect("bob", node: 2)
        let clock = try VectorClock(entries: [.init(node: 1, counter: 3), .init(node: 9, counter: UInt64.max)])
        let id = h.newID()
        h.feed(.send(Send(conversation: "general", messageID: id, clock: clock, payload: [0, 1, 2])), from: alice)
        for i in 0..<9 { h.send("m\(i)", in: "general", from: alice) }
        let firstAck = try #require(h.take(alice).compactMap(\.ack).first)
        h.feed(.delivered(Delivered(watermarks: [Watermark(conversation: "general", deliveredSeq: 7, readSeq: 5)])), from: bob)
        h.drain()

        try h.restart()
        let bob2 = h.connect("bob", node: 2)
        #expect(h.take(bob2).first?.welcome?.conversations == [ConversationHead(conversation: "general", headSeq: 10)])
        #expect(try h.store.deviceWatermark(conversation: "general", user: "bob", node: 2) == WatermarkPair(delivered: 7, read: 5))
        h.feed(.syncRequest(SyncRequest(conversation: "general", afterSeq: 0, limit: 100)), from: bob2)
        let page = try #require(h.take(bob2).first?.sync)
        #expect(page.messages.map(\.seq) == Array(1...10))
        #expect(page.messages[0].clock == clock)
        #expect(page.messages[0].payload == [0, 1, 2])
        #expect(page.messages[0].messageID == id)
        #expect(page.messages[0].senderNode == 1)

        // A retransmission after the restart is still a duplicate with the original seq and time.
        let alice2 = h.connect("alice", node: 1)
        h.feed(.send(Send(conversation: "general", messageID: id, clock: clock, payload: [0, 1, 2])), from: alice2)
        let ack = try #require(h.take(alice2).compactMap(\.ack).first)
        #expect(ack == SendAck(messageID: id, conversation: "general", seq: 1, serverTimeMs: firstAck.serverTimeMs, duplicate: true))
        h.send("next", in: "general", from: alice2)
        #expect(h.take(alice2).compactMap(\.ack).first?.seq == 11)
        _ = alice; _ = bob
    }

    /// Reads left on a row held a snapshot open across every commit, so no checkpoint could
    /// finish and the WAL grew with all history (267 MB after 200,000 relay messages).
    @Test func theWALStaysBoundedUnderGroupCommitsWithReads() throws {
        let h = try ServerHarness(.sqlite)
        try h.engine.createConversation("general", members: ["alice", "bob"])
        let alice = h.connect("alice", node: 1)
        let bob = h.connect("bob", node: 2)
        let payload = String(repeating: "x", count: 1_000)
        for round in 0..<600 {
            for _ in 0..<10 { h.send(payload, in: "general", from: alice) }
            h.feed(.delivered(Delivered(watermarks: [Watermark(conversation: "general", deliveredSeq: UInt64(round * 10))])), from: bob)
            h.feed(.syncRequest(SyncRequest(conversation: "general", afterSeq: UInt64(round * 10), limit: 1)), from: bob)
            h.drain()
            h.inbox = [:]
        }
        let wal = try FileManager.default.attributesOfItem(atPath: h.dbPath + "-wal")[.size] as? Int ?? 0
        // 6 MB of messages; a checkpoint every 1,000 pages (4 MB) keeps the WAL near that.
        #expect(wal < 5 << 20, "WAL of \(wal) bytes")
    }

    @Test func aForeignDatabaseIsRefused() throws {
        let dir = TempDir()
        let path = dir.path + "/foreign.sqlite"
        let db = try SQLiteDatabase(path: path)
        try db.execute("CREATE TABLE t (x)")
        #expect(throws: (any Error).self) { try SQLiteServerStore(path: path) }
        let notADatabase = dir.path + "/text.sqlite"
        _ = FileManager.default.createFile(atPath: notADatabase, contents: Data(repeating: 0x41, count: 4096))
        #expect(throws: (any Error).self) { try SQLiteServerStore(path: notADatabase) }
    }

    @Test func aClosedStoreThrowsInsteadOfTrapping() throws {
        let dir = TempDir()
        let store = try SQLiteServerStore(path: dir.path + "/s.sqlite")
        _ = try store.createConversation("c", members: ["a"])
        store.close()
        store.close()
        #expect(throws: (any Error).self) { try store.headSeq(of: "c") }
        // The engine turns a failing store into busy rejects, not crashes.
        let engine = ServerEngine(config: ServerConfig(rateLimit: nil), store: store, verifier: TestVerifier())
        let s = engine.openSession(now: 0)
        engine.handle(.hello(Hello(token: "tok:a", deviceNode: 1)), from: s, now: 0)
        var sawFatal = false
        while let out = engine.pollOutput() {
            if case let .frame(_, bytes) = out, let e = try FrameCodec().decode(bytes).errorFrame { sawFatal = e.fatal && e.code == .internalError }
        }
        #expect(sawFatal)
        #expect(engine.stats.storeFailures == 1)
    }
}
