import Foundation
import Testing
@testable import IMRCore

/// A fresh directory per test, removed afterwards.
final class TemporaryDirectory {
    let path: String
    init() {
        path = NSTemporaryDirectory() + "imr-client-\(UUID().uuidString)"
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
    func file(_ name: String) -> String { path + "/" + name }
}

@Suite struct DurableStoreTests {
    func storeConfig(_ path: String, node: UInt64 = 1, _ tweak: (inout ClientConfig) -> Void = { _ in }) -> ClientConfig {
        testConfig(node: node) {
            $0.storePath = path
            $0.storeDurability = .processCrash
            tweak(&$0)
        }
    }

    @Test func aNewEngineResumesUnackedMessagesInOrderWithTheirIdsAndClocks() throws {
        let dir = TemporaryDirectory()
        let path = dir.file("client.sqlite")
        var sent: [Send] = []
        var ids: [MessageID] = []
        do {
            let e = try ClientEngine(config: storeConfig(path) { $0.inflightWindow = 2 })
            try e.goLive(now: 0)
            ids = try (0..<4).map { try e.send(conversation: $0 == 2 ? "d" : "c", payload: [UInt8($0)], now: 10) }
            sent = e.drainFrames().compactMap(\.send)
            try e.handle(.sendAck(SendAck(messageID: ids[0], conversation: "c", seq: 1, serverTimeMs: 7)), now: 11)
            sent += e.drainFrames().compactMap(\.send)
            // ids[1] and ids[2] are on the wire, ids[3] waits; the engine "crashes" here.
        }
        let e = try ClientEngine(config: storeConfig(path) { $0.inflightWindow = 10 })
        #expect(e.outbox().filter { $0.state == .sending }.map(\.id) == Array(ids[1...]))
        #expect(e.timeline("c")?.live.map(\.messageID) == [ids[0], ids[1], ids[3]])
        #expect(e.timeline("c")?.entry(ids[0])?.seq == 1)
        #expect(e.clock("c")[1] == 3 && e.clock("d")[1] == 1)
        #expect(e.cursor("c") == 1)
        let newID = try e.send(conversation: "c", payload: [9], now: 20)
        #expect(!ids.contains(newID))
        let resent = try e.goLive(now: 30).compactMap(\.send)
        #expect(resent.map(\.messageID) == Array(ids[1...]) + [newID])
        // Same id, clock and payload as before the restart.
        #expect(Array(resent[0..<2]) == Array(sent[1..<3]))
        #expect(resent.map { $0.clock[1] } == [2, 1, 3, 4])
    }

    @Test func stateChangesCursorsAndTimelinesSurviveARestart() throws {
        let dir = TemporaryDirectory()
        let path = dir.file("client.sqlite")
        var failed: MessageID?
        do {
            let e = try ClientEngine(config: storeConfig(path, node: 7) { $0.maxAttempts = 1 })
            try e.goLive(now: 0, user: "alice")
            failed = try e.send(conversation: "c", payload: [1], now: 0)
            e.handleTimeout(now: 1_000)
            #expect(e.state(of: failed!) == .failed(.attemptsExhausted))
            for seq: UInt64 in [1, 2, 4] {
                try e.handle(.push(message("c", seq: seq, node: 3, counter: seq)), now: 1_001)
            }
        }
        let e = try ClientEngine(config: storeConfig(path, node: 7))
        #expect(e.state(of: failed!) == .failed(.attemptsExhausted))
        #expect(e.cursor("c") == 2)
        #expect(e.timeline("c")?.count == 4)
        #expect(e.timeline("c")?.live.first?.senderUser == "alice")
        #expect(e.clock("c")[3] == 4 && e.clock("c")[7] == 1)
        // After the restart the sync starts from the durable cursor; seq 4 is already held.
        let requests = try e.goLive(now: 2_000, user: "alice", heads: [ConversationHead(conversation: "c", headSeq: 4)])
            .compactMap(\.syncRequest)
        #expect(requests == [SyncRequest(conversation: "c", afterSeq: 2, limit: 10)])
        // The failed message is found on the server by the sync: failed -> sent, durably.
        let entry = try #require(e.timeline("c")?.entry(failed!))
        let own = StoredMessage(conversation: "c", seq: 3, serverTimeMs: 5, senderUser: "alice", senderNode: 7,
                                messageID: failed!, clock: entry.clock, payload: entry.payload)
        try e.handle(.syncResponse(SyncResponse(conversation: "c", messages: [own, message("c", seq: 4, node: 3, counter: 4)],
                                                headSeq: 4, hasMore: false, afterSeq: 2)), now: 2_001)
        #expect(e.state(of: failed!) == .sent(seq: 3, serverTimeMs: 5))
        #expect(e.cursor("c") == 4)
        let again = try ClientEngine(config: storeConfig(path, node: 7))
        #expect(again.outbox().isEmpty)
        #expect(again.cursor("c") == 4)
        #expect(again.timeline("c")?.entry(failed!)?.seq == 3)
        #expect(again.timeline("c")?.count == 4)
    }

    /// `send` checks a known conversation's name once, when it becomes known: a name restored
    /// from a file written under looser limits is still refused, on every send.
    @Test func aSendersClockIsCheckedAgainstItsMessagesHeldBeforeARestart() throws {
        let dir = TemporaryDirectory()
        let path = dir.file("client.sqlite")
        do {
            let e = try ClientEngine(config: storeConfig(path))
            try e.goLive(now: 0)
            try e.handle(.push(message("c", seq: 1, node: 5, counter: 2, clock: [.init(node: 6, counter: 4)])), now: 1)
        }
        let e = try ClientEngine(config: storeConfig(path))
        try e.goLive(now: 2, heads: [ConversationHead(conversation: "c", headSeq: 1)])
        _ = e.drainEvents()
        // Node 5's next message claims to have seen less of node 6 than its message held
        // from before the restart; reusing its counter for another id is refused as well.
        try e.handle(.push(message("c", seq: 2, node: 5, counter: 3, clock: [.init(node: 6, counter: 1)])), now: 3)
        try e.handle(.push(message("c", seq: 3, node: 5, counter: 2, id: 77, clock: [.init(node: 6, counter: 4)])), now: 3)
        try e.handle(.push(message("c", seq: 4, node: 5, counter: 3, clock: [.init(node: 6, counter: 5)])), now: 3)
        let refused = e.drainEvents().filter { if case .error(.clockWentBackwards(_, node: 5, _)) = $0 { true } else { false } }
        #expect(refused.count == 2)
        #expect(e.stats.invalidMessages == 2)
        #expect(e.cursor("c") == 4)
        #expect(e.timeline("c")?.live.map { $0.clock[5] } == [2, 3])
    }

    @Test func aRestoredConversationNameOverTheLimitsIsStillRefused() throws {
        let dir = TemporaryDirectory()
        let path = dir.file("client.sqlite")
        do {
            let e = try ClientEngine(config: storeConfig(path))
            _ = try e.send(conversation: "long-name", payload: [1], now: 0)
            _ = try e.send(conversation: "ok", payload: [2], now: 0)
        }
        let e = try ClientEngine(config: storeConfig(path) { $0.limits = WireLimits(maxIdentifierBytes: 4) })
        for _ in 0..<2 {
            #expect(throws: ClientError.invalidConversation(.tooLong(9, limit: 4))) {
                try e.send(conversation: "long-name", payload: [3], now: 1)
            }
        }
        _ = try e.send(conversation: "ok", payload: [4], now: 1)
        #expect(e.outbox().count == 3)
    }

    @Test func aForeignOrCorruptFileIsAClearErrorAtOpen() throws {
        let dir = TemporaryDirectory()
        let foreign = dir.file("foreign.sqlite")
        do {
            let db = try SQLiteDatabase(path: foreign)
            try db.execute("CREATE TABLE other (x INTEGER)")
        }
        #expect {
            _ = try ClientEngine(config: storeConfig(foreign))
        } throws: { error in
            guard case let ClientError.store(e) = error else { return false }
            return e.message.contains("not an imr store")
        }
        let garbage = dir.file("garbage.sqlite")
        _ = FileManager.default.createFile(atPath: garbage, contents: Data((0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 37) }))
        #expect {
            _ = try ClientEngine(config: storeConfig(garbage))
        } throws: { error in
            if case ClientError.store = error { return true } else { return false }
        }
    }

    @Test func sendReturnsOnlyAfterTheCommitAndAFailedCommitQueuesNothing() throws {
        let dir = TemporaryDirectory()
        let path = dir.file("client.sqlite")
        let e = try ClientEngine(config: storeConfig(path))
        let id = try e.send(conversation: "c", payload: [1, 2, 3], now: 0)
        // A second connection sees the committed message at once.
        let reader = try SQLiteDatabase(path: path)
        let s = try reader.prepare("SELECT count(*) FROM outbox WHERE id = ?1")
        s.bind(1, id.bytes)
        #expect(try s.step() && s.int64(0) == 1)
        // Hold the write lock elsewhere: the next send cannot commit and must change nothing.
        try reader.execute("BEGIN IMMEDIATE")
        try e.store?.setBusyTimeout(milliseconds: 0)
        #expect(throws: ClientError.self) {
            _ = try e.send(conversation: "c", payload: [4], now: 1)
        }
        try reader.execute("ROLLBACK")
        #expect(e.outbox().count == 1)
        #expect(e.timeline("c")?.count == 1)
        #expect(e.clock("c")[1] == 1)
    }
}

extension DurableStoreTests {
    /// A commit that fails after the engine changed its state stops every further write: the
    /// file keeps a consistent older state, and a new engine resumes (and re-syncs) from it.
    @Test func aFailedCommitFreezesTheFileInAConsistentState() throws {
        let dir = TemporaryDirectory()
        let path = dir.file("client.sqlite")
        let e = try ClientEngine(config: storeConfig(path))
        try e.goLive(now: 0)
        try e.handle(.push(message("c", seq: 1, node: 3, counter: 1)), now: 1)
        let id = try e.send(conversation: "c", payload: [1], now: 2)

        let other = try SQLiteDatabase(path: path)
        try other.execute("BEGIN IMMEDIATE")
        try e.store?.setBusyTimeout(milliseconds: 0)
        #expect(throws: ClientError.self) { try e.handle(.push(message("c", seq: 2, node: 3, counter: 2)), now: 3) }
        try other.execute("ROLLBACK")
        // The engine runs on in memory, but writes no more and refuses new sends.
        try e.handle(.push(message("c", seq: 3, node: 3, counter: 3)), now: 4)
        #expect(e.cursor("c") == 3)
        #expect(throws: ClientError.self) { _ = try e.send(conversation: "c", payload: [2], now: 5) }

        let reopened = try ClientEngine(config: storeConfig(path))
        #expect(reopened.cursor("c") == 1)
        #expect(reopened.timeline("c")?.count == 2)
        #expect(reopened.outbox().map(\.id) == [id])
    }
}
