import Foundation
import IMRClient
import IMRCore
import Logging
import NIOConcurrencyHelpers
import Testing
@testable import IMRRelay

/// `MessagingClient` (the Swift networking client) against an in-process relay over TCP.
@Suite struct MessagingClientTests {
    static func relayOptions(db: String?) -> RelayOptions {
        var options = RelayOptions(databasePath: db, verifier: InsecureUserNameVerifier())
        options.conversations = [("general", ["alice", "bob"])]
        options.server.rateLimit = nil
        return options
    }

    static func quietLogger() -> Logger {
        var logger = Logger(label: "imr.relay.test")
        logger.logLevel = .critical
        return logger
    }

    static func config(_ user: String, node: UInt64) -> ClientConfig {
        var config = ClientConfig(nodeID: node, token: user, userID: user)
        config.ackTimeoutBaseMs = 300
        config.gapGraceMs = 50
        config.pollIntervalMs = 200
        return config
    }

    /// A port nothing listens on: bound, then closed.
    static func deadPort() throws -> Int {
        let (fd, port) = boundLoopbackSocket()
        close(fd)
        return port
    }

    /// Reads updates until `match` returns a value, within `seconds`.
    static func next<T: Sendable>(_ client: MessagingClient, within seconds: Double = 10,
                                  _ match: @escaping @Sendable (ClientUpdate) -> T?) async throws -> T {
        try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask {
                for await update in client.updates { if let found = match(update) { return found } }
                return nil
            }
            group.addTask {
                try await Task.sleep(for: .seconds(seconds))
                return nil
            }
            let first = try await group.next() ?? nil
            group.cancelAll()
            guard let first else { throw CancellationError() }
            return first
        }
    }

    static func received(_ update: ClientUpdate) -> String? {
        if case let .engine(.messageReceived(_, _, _, _, _, payload, _, _)) = update { return String(decoding: payload, as: UTF8.self) }
        return nil
    }

    @Test(.timeLimit(.minutes(1)))
    func sendsAndReceivesAfterFailingOverFromADeadAddress() async throws {
        let relay = Relay(options: Self.relayOptions(db: nil), logger: Self.quietLogger())
        let port = try await relay.start()
        let live = ServerAddress(host: "127.0.0.1", port: port)
        let servers = [ServerAddress(host: "127.0.0.1", port: try Self.deadPort()), live]
        let alice = try MessagingClient(servers: servers, config: Self.config("alice", node: 1), reconnectDelays: 20...200)
        let bob = try MessagingClient(servers: [live], config: Self.config("bob", node: 2))

        let connectedTo = try await Self.next(alice) { update -> ServerAddress? in
            if case let .connected(address) = update { return address }
            return nil
        }
        #expect(connectedTo == live, "the dead address was skipped")
        let id = try await alice.send(Array("hello bob".utf8), to: "general")
        #expect(try await Self.next(bob) { Self.received($0) } == "hello bob")
        let sent = try await Self.next(alice) { update -> UInt64? in
            if case let .engine(.stateChanged(changed, _, .sent(seq, _))) = update, changed == id { return seq }
            return nil
        }
        #expect(sent == 1)
        let outbox = try await alice.outbox()
        #expect(outbox.count == 1 && outbox[0].id == id && outbox[0].seq == 1)
        for i in 1..<5 { try await alice.send(Array("more \(i)".utf8), to: "general") }
        for _ in 0..<200 where try await bob.timelineCount("general") < 5 { try await Task.sleep(for: .milliseconds(10)) }
        #expect(try await bob.timelineCount("general") == 5)
        let page = try await bob.timeline("general", offset: 1, limit: 3)
        #expect(page.map { String(decoding: $0.payload, as: UTF8.self) } == ["more 1", "more 2", "more 3"])
        #expect(try await bob.timeline("general", order: .arrival, offset: 4, limit: 10).count == 1)
        #expect(try await bob.timeline("general", offset: 5).isEmpty)
        #expect(try await bob.timeline("nowhere").isEmpty)

        // Cancelling the task that reads updates ends its iteration; the client goes on.
        let reader = Task { for await _ in bob.updates {} }
        reader.cancel()
        await reader.value
        try await alice.send(Array("after the reader left".utf8), to: "general")
        for _ in 0..<200 where try await bob.timelineCount("general") < 6 { try await Task.sleep(for: .milliseconds(10)) }
        #expect(try await bob.timelineCount("general") == 6)
        await alice.close()
        await bob.close()
        try await relay.stop()
    }

    /// Relay A stops mid-stream; relay B takes over the same store at another address, which
    /// the clients knew from the start: they fail over to it, and nothing is lost or doubled.
    @Test(.timeLimit(.minutes(1)))
    func failoverToASecondRelayMidStreamLosesNothing() async throws {
        let dir = NSTemporaryDirectory() + "imr-client-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var relay = Relay(options: Self.relayOptions(db: dir + "/relay.sqlite"), logger: Self.quietLogger())
        let port = try await relay.start()
        let secondPort = try Self.deadPort()
        let server = [ServerAddress(host: "127.0.0.1", port: port), ServerAddress(host: "127.0.0.1", port: secondPort)]
        let alice = try MessagingClient(servers: server, config: Self.config("alice", node: 1), reconnectDelays: 20...200)
        let bob = try MessagingClient(servers: server, config: Self.config("bob", node: 2), reconnectDelays: 20...200)
        let collected = Task {
            var texts: [String] = []
            for await update in bob.updates {
                if let text = Self.received(update) { texts.append(text) }
                if texts.count == 10 { break }
            }
            return texts
        }
        for i in 0..<5 { try await alice.send(Array("m\(i)".utf8), to: "general") }
        try await Task.sleep(for: .milliseconds(200))
        try await relay.stop()
        // Sent while no relay runs: recorded now, delivered after the restart.
        for i in 5..<10 { try await alice.send(Array("m\(i)".utf8), to: "general") }
        relay = Relay(options: Self.relayOptions(db: dir + "/relay.sqlite"), logger: Self.quietLogger())
        _ = try await relay.start(port: secondPort)

        let texts = try await withThrowingTaskGroup(of: [String]?.self) { group in
            group.addTask { await collected.value }
            group.addTask { try await Task.sleep(for: .seconds(20)); return nil }
            let first = try await group.next() ?? nil
            group.cancelAll()
            return first ?? []
        }
        #expect(texts.sorted() == (0..<10).map { "m\($0)" }.sorted(), "every message once")
        var states: [MessageState] = []
        for _ in 0..<100 {
            states = try await alice.outbox().map(\.state)
            if states.allSatisfy({ if case .sent = $0 { true } else { false } }) { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(states.count == 10 && states.allSatisfy { if case .sent = $0 { true } else { false } })
        await alice.close()
        await bob.close()
        try await relay.stop()
    }

    /// A server that answers every connection with the start of a frame and closes: the client
    /// drops the partial frame and fails over to the real relay.
    @Test(.timeLimit(.minutes(1)))
    func aServerThatClosesMidFrameIsLeftForTheNextAddress() async throws {
        let (listener, brokenPort) = boundLoopbackSocket()
        listen(listener, 8)
        Thread.detachNewThread {
            while true {
                let fd = accept(listener, nil, nil)
                if fd < 0 { return }
                let partial: [UInt8] = [100, 0x08, 0x01, 0x12]   // a 100-byte frame that stops after 3 bytes
                _ = partial.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                close(fd)
            }
        }
        defer { shutdown(listener, Int32(SHUT_RDWR)); close(listener) }

        let relay = Relay(options: Self.relayOptions(db: nil), logger: Self.quietLogger())
        let port = try await relay.start()
        let broken = ServerAddress(host: "127.0.0.1", port: brokenPort)
        let live = ServerAddress(host: "127.0.0.1", port: port)
        let alice = try MessagingClient(servers: [broken, live], config: Self.config("alice", node: 1), reconnectDelays: 20...100)
        let bob = try MessagingClient(servers: [live], config: Self.config("bob", node: 2))
        let trail = NIOLockedValueBox<[String]>([])
        _ = try await Self.next(alice) { update -> Bool? in
            switch update {
            case let .connected(server):
                trail.withLockedValue { $0.append(server == live ? "live" : "broken") }
                return server == live ? true : nil
            case .disconnected:
                trail.withLockedValue { $0.append("closed") }
                return nil
            default:
                return nil
            }
        }
        #expect(trail.withLockedValue { $0 } == ["broken", "closed", "live"])
        try await alice.send(Array("after a broken server".utf8), to: "general")
        #expect(try await Self.next(bob) { Self.received($0) } == "after a broken server")
        await alice.close()
        await bob.close()
        try await relay.stop()
    }

    @Test(.timeLimit(.minutes(1)))
    func aConsumerThatNeverReadsKeepsTheBufferBoundedAndCloseEndsUpdates() async throws {
        let relay = Relay(options: Self.relayOptions(db: nil), logger: Self.quietLogger())
        let port = try await relay.start()
        let alice = try MessagingClient(servers: [ServerAddress(host: "127.0.0.1", port: port)],
                                        config: Self.config("alice", node: 1), updateBufferLimit: 4)
        for i in 0..<50 { try await alice.send(Array("m\(i)".utf8), to: "general") }
        for _ in 0..<200 where try await alice.outbox().contains(where: { $0.seq == nil }) {
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(try await alice.outbox().allSatisfy { $0.seq != nil }, "the engine's state is complete")
        #expect(alice.droppedUpdates > 0)
        await alice.close()
        var buffered = 0
        for await _ in alice.updates { buffered += 1 }   // ends: close finished the stream
        #expect(buffered == 4)
        try await relay.stop()
    }
}
