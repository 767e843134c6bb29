import Foundation
import IMRClient
@testable import IMRCore
import Logging
import NIOConcurrencyHelpers
import Testing
@testable import IMRRelay

/// The rules every `ServerStore` keeps, checked on the memory, SQLite and PostgreSQL stores
/// alike (PostgreSQL: a private server started for the test).
@Suite struct ServerStoreConformanceTests {
    static func message(_ conversation: String, _ n: UInt64, from user: String = "alice") -> NewMessage {
        NewMessage(conversation: conversation, messageID: MessageID(high: 7, low: n), senderUser: user, senderNode: 0xFFFF_FFFF_FFFF_FFF0 + n % 8,
                   clock: try! VectorClock(entries: [.init(node: 1, counter: n), .init(node: UInt64.max, counter: 2)]),
                   payload: Array("message \(n)".utf8), serverTimeMs: 1_800_000_000_000 + n)
    }

    /// Every rule, on a fresh store; `reopen` gives a second store on the same data when the
    /// kind has one (a restart).
    static func checkRules(_ store: any ServerStore, reopen: (() throws -> any ServerStore)?) throws {
        // Conversations, members, owners: sorted by bytes; look-alike names stay apart.
        #expect(try store.createConversation("café", members: ["zoë", "bob", "alice"], owners: ["bob"]))
        #expect(try !store.createConversation("café", members: ["mallory"], owners: []))
        #expect(try store.createConversation("cafe\u{301}", members: ["alice"], owners: []))
        #expect(try store.members(of: "café") == ["alice", "bob", "zoë"])
        #expect(try store.owners(of: "café") == ["bob"])
        #expect(try store.members(of: "cafe\u{301}") == ["alice"])
        #expect(try store.members(of: "nowhere") == nil)
        try store.addMember("carol", to: "café")
        try store.addMember("carol", to: "café")
        try store.setRole(.owner, of: "carol", in: "café")
        try store.removeMember("zoë", from: "café")
        #expect(try store.members(of: "café") == ["alice", "bob", "carol"])
        #expect(try store.owners(of: "café") == ["bob", "carol"])
        #expect(throws: ServerStoreError.unknownConversation("nowhere")) { try store.addMember("x", to: "nowhere") }
        #expect(throws: ServerStoreError.unknownConversation("nowhere")) { try store.removeMember("x", from: "nowhere") }
        #expect(throws: ServerStoreError.unknownConversation("nowhere")) { try store.setRole(.owner, of: "x", in: "nowhere") }

        // Append: seq from 1 without holes, idempotent by (conversation, id), values round-trip.
        for n in UInt64(1)...5 { guard case .stored = try store.append(message("café", n)) else { Issue.record("not stored: \(n)"); return } }
        guard case let .existing(original) = try store.append(message("café", 3, from: "mallory")) else {
            Issue.record("a repeated id must return the original"); return
        }
        #expect(original.seq == 3 && original.senderUser == "alice")
        guard case let .stored(other) = try store.append(message("cafe\u{301}", 3)) else { Issue.record("not stored"); return }
        #expect(other.seq == 1, "the same id in another conversation is another message")
        #expect(throws: ServerStoreError.unknownConversation("nowhere")) { try store.append(message("nowhere", 1)) }
        #expect(try store.headSeq(of: "café") == 5)
        #expect(try store.headSeq(of: "nowhere") == nil)
        let page = try store.messages(in: "café", after: 1, limit: 3)
        #expect(page.map(\.seq) == [2, 3, 4])
        #expect(page[0] == StoredMessage(conversation: "café", seq: 2, serverTimeMs: 1_800_000_000_002, senderUser: "alice",
                                         senderNode: 0xFFFF_FFFF_FFFF_FFF2, messageID: MessageID(high: 7, low: 2),
                                         clock: message("café", 2).clock, payload: Array("message 2".utf8)))
        #expect(try store.message(in: "café", id: MessageID(high: 7, low: 4))?.seq == 4)
        #expect(try store.message(in: "café", id: MessageID(high: 9, low: 9)) == nil)
        #expect(try store.messages(in: "café", after: 5, limit: 10).isEmpty)
        #expect(try store.messages(in: "café", after: 0, limit: 10, maxBytes: 1).count == 1, "at least one message")
        #expect(try store.conversations(of: "alice") == [ConversationHead(conversation: "cafe\u{301}", headSeq: 1),
                                                         ConversationHead(conversation: "café", headSeq: 5)])

        // Watermarks: raised, never lowered; the user's is the highest over its devices.
        #expect(try store.recordWatermark(conversation: "café", user: "bob", node: 1, delivered: 4, read: 2) == WatermarkPair(delivered: 4, read: 2))
        #expect(try store.recordWatermark(conversation: "café", user: "bob", node: 1, delivered: 3, read: 3) == WatermarkPair(delivered: 4, read: 3))
        try store.recordWatermark(conversation: "café", user: "bob", node: UInt64.max, delivered: 5, read: 0)
        #expect(try store.userWatermark(conversation: "café", user: "bob") == WatermarkPair(delivered: 5, read: 3))
        #expect(try store.deviceWatermark(conversation: "café", user: "bob", node: 9) == WatermarkPair())

        // Group commit: a rolled-back batch leaves nothing, and its seqs are given again.
        if !(store is MemoryServerStore) {
            try store.beginBatch()
            _ = try store.append(message("café", 100))
            #expect(try store.headSeq(of: "café") == 6, "visible inside the batch")
            store.rollbackBatch()
            #expect(try store.headSeq(of: "café") == 5)
            #expect(try store.message(in: "café", id: MessageID(high: 7, low: 100)) == nil)
            try store.beginBatch()
            // A write that fails inside a batch leaves the batch's other writes alone.
            #expect(throws: (any Error).self) { try store.append(message("nowhere", 1)) }
            guard case let .stored(kept) = try store.append(message("café", 101)) else { Issue.record("not stored"); return }
            try store.commitBatch()
            #expect(kept.seq == 6)
        }

        guard let reopen else { return }
        store.close()
        let again = try reopen()
        defer { again.close() }
        #expect(try again.headSeq(of: "café") == 6)
        #expect(try again.members(of: "café") == ["alice", "bob", "carol"])
        #expect(try again.userWatermark(conversation: "café", user: "bob") == WatermarkPair(delivered: 5, read: 3))
        guard case .existing = try again.append(message("café", 2)) else { Issue.record("idempotency lost on reopening"); return }
    }

    @Test func memoryStore() throws {
        try Self.checkRules(MemoryServerStore(), reopen: nil)
    }

    @Test func sqliteStore() throws {
        let dir = NSTemporaryDirectory() + "imr-store-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Self.checkRules(try SQLiteServerStore(path: dir + "/s.sqlite", durability: .processCrash),
                            reopen: { try SQLiteServerStore(path: dir + "/s.sqlite", durability: .processCrash) })
    }

    /// Two relays on one database: a message sent through one reaches a device on the other by
    /// push (its probe interval is ten minutes, so nothing else could bring it in time).
    @Test(.timeLimit(.minutes(2)))
    func relaysOnOnePostgresPushEachOthersMessages() async throws {
        let server = try PostgresServer()
        defer { server.stop() }
        let url = try server.makeDatabase("cluster")
        var relays: [Relay] = []
        var addresses: [ServerAddress] = []
        for _ in 0..<2 {
            var options = RelayOptions(databasePath: nil, verifier: InsecureUserNameVerifier())
            options.makeStore = { try PostgresServerStore(url: url) }
            options.conversations = [("general", ["alice", "bob"])]
            options.server.rateLimit = nil
            let relay = Relay(options: options, logger: MessagingClientTests.quietLogger())
            addresses.append(ServerAddress(host: "127.0.0.1", port: try await relay.start()))
            relays.append(relay)
        }
        var quiet = MessagingClientTests.config("bob", node: 2)
        quiet.pollIntervalMs = 600_000
        let alice = try MessagingClient(servers: [addresses[0]], config: MessagingClientTests.config("alice", node: 1))
        let bob = try MessagingClient(servers: [addresses[1]], config: quiet)
        _ = try await MessagingClientTests.next(bob) { update -> Bool? in
            if case .engine(.connectionReady) = update { return true } else { return nil }
        }
        for i in 0..<3 { try await alice.send(Array("across \(i)".utf8), to: "general") }
        var texts: [String] = []
        while texts.count < 3 {
            texts.append(try await MessagingClientTests.next(bob, within: 5) { MessagingClientTests.received($0) })
        }
        #expect(texts == ["across 0", "across 1", "across 2"])

        // Members added through one relay: the other relay, which had them cached, hears of it.
        try await relays[0].withEngine { engine in try engine.addMember("carol", to: "general") }
        let carolOnSecond = try MessagingClient(servers: [addresses[1]], config: MessagingClientTests.config("carol", node: 3))
        let id = try await carolOnSecond.send(Array("carol here".utf8), to: "general")
        let state = try await MessagingClientTests.next(carolOnSecond, within: 5) { update -> MessageState? in
            if case let .engine(.stateChanged(changed, _, state)) = update, changed == id { return state }
            return nil
        }
        #expect({ if case .sent = state { true } else { false } }(), "\(state)")
        #expect(try await MessagingClientTests.next(alice, within: 5) { MessagingClientTests.received($0) } == "carol here")
        try await relays[0].withEngine { engine in try engine.removeMember("carol", from: "general") }
        for _ in 0..<100 {
            let members = try await relays[1].withEngine { engine in try engine.membership("general")?.contains("carol") }
            if members == false { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(try await relays[1].withEngine { engine in try engine.membership("general")?.contains("carol") } == false,
                "the second relay's cache forgot the removed member")
        await carolOnSecond.close()
        await alice.close()
        await bob.close()
        for relay in relays { try await relay.stop() }
    }

    @Test(.timeLimit(.minutes(2)))
    func postgresStore() throws {
        let server = try PostgresServer()
        defer { server.stop() }
        let url = try server.makeDatabase("conformance")
        try Self.checkRules(try PostgresServerStore(url: url), reopen: { try PostgresServerStore(url: url) })

        // Two relays on one database, appending to one conversation at once: every message
        // once, seqs 1...n without holes.
        let shared = try server.makeDatabase("shared")
        let first = try PostgresServerStore(url: shared)
        let second = try PostgresServerStore(url: shared)
        defer { first.close(); second.close() }
        #expect(try first.createConversation("room", members: ["alice", "bob"], owners: []))
        /// Each store goes to one thread, which is then its only user.
        final class Handoff: @unchecked Sendable {
            let store: PostgresServerStore
            init(_ store: PostgresServerStore) { self.store = store }
        }
        let errors = NIOLockedValueBox<[String]>([])
        let done = DispatchGroup()
        for (index, store) in [first, second].enumerated() {
            let handoff = Handoff(store)
            done.enter()
            Thread.detachNewThread {
                defer { done.leave() }
                for n in 0..<100 {
                    let m = NewMessage(conversation: "room", messageID: MessageID(high: UInt64(index + 1), low: UInt64(n)),
                                       senderUser: "alice", senderNode: UInt64(index), clock: VectorClock(), payload: [1],
                                       serverTimeMs: 1)
                    do {
                        try handoff.store.beginBatch()
                        _ = try handoff.store.append(m)
                        try handoff.store.commitBatch()
                    } catch {
                        errors.withLockedValue { $0.append("\(error)") }
                    }
                }
            }
        }
        done.wait()
        #expect(errors.withLockedValue { $0 }.isEmpty, "\(errors.withLockedValue { $0 }.prefix(3))")
        let all = try first.messages(in: "room", after: 0, limit: 1_000)
        #expect(all.map(\.seq) == Array(1...200))
        #expect(Set(all.map(\.messageID)).count == 200)
        // `imrctl relay --postgres`: an ack survives a restart of the relay.
        let relayURL = try server.makeDatabase("relay")
        let log = server.directory + "/relay.log"
        let arguments = ["--listen", "127.0.0.1:0", "--postgres", relayURL, "--insecure-user-tokens",
                         "--conversation", "general:alice,bob", "--log-level", "warning"]
        var relay = try RelayProcess(arguments: arguments, logFile: log)
        let alice = try RawClient(port: relay.port)
        _ = try alice.hello(token: "alice", node: 1)
        try alice.send(.send(Send(conversation: "general", messageID: MessageID(high: 1, low: 1), clock: VectorClock(), payload: [1])))
        #expect(try alice.read { f -> UInt64? in if case let .sendAck(a) = f { return a.seq } else { return nil } } == 1)
        #expect(relay.terminate() == 0)
        relay = try RelayProcess(arguments: arguments, logFile: log)
        let again = try RawClient(port: relay.port)
        #expect(try again.hello(token: "alice", node: 1).conversations == [ConversationHead(conversation: "general", headSeq: 1)])
        #expect(relay.terminate() == 0)

        #expect(try PostgresServerStore.configuration(url: "mysql://x@y/z") == nil)
        #expect(throws: (any Error).self) { try PostgresServerStore(url: "postgres://imr@127.0.0.1:1/none") }
    }
}
