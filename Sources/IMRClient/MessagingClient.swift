import IMRCore
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL

/// A networking client for Swift programs: the client engine (`IMRCore`) driven over TCP by
/// SwiftNIO, with async calls and an `AsyncSequence` of updates.
///
///     let client = try MessagingClient(servers: [ServerAddress("127.0.0.1:7700")!], config: config)
///     let id = try await client.send(Array("hello".utf8), to: "general")
///     for await update in client.updates { ... }
///     await client.close()
///
/// It connects at once and keeps connecting: each failure moves to the next address, after a
/// delay that doubles (with jitter) up to `reconnectDelays.upperBound`. `send` returns the
/// message id once the engine has recorded the message (durably, with a store path in the
/// config); the engine retransmits it until the relay acks it, across reconnects.
///
/// Updates are buffered for a consumer that reads slowly up to `updateBufferLimit`; past it
/// the newest are dropped and counted (`droppedUpdates`): the engine's state (`outbox`,
/// `timeline`) stays complete whatever the consumer misses.
public final class MessagingClient: Sendable {
    /// Everything the engine and the connection report, in order. One consumer.
    public let updates: AsyncStream<ClientUpdate>
    private let continuation: AsyncStream<ClientUpdate>.Continuation
    private let driver: ClientDriver
    private let ownedGroup: MultiThreadedEventLoopGroup?
    private let dropped = NIOLockedValueBox(0)

    /// - Parameters:
    ///   - servers: relay addresses, tried in order (at least one).
    ///   - config: the engine's configuration (token, node id, store path, timers, limits).
    ///   - tls: TLS to the relays, for example `TLSConfiguration.makeClientConfiguration()` with
    ///     `trustRoots` set to a private CA; the server is verified (its certificate chain, and
    ///     its name or address) unless the configuration says otherwise. Nil: plaintext.
    ///   - group: the event loop group to run on; nil makes one thread of its own.
    public init(servers: [ServerAddress], config: ClientConfig, tls: TLSConfiguration? = nil,
                reconnectDelays: ClosedRange<Int64> = 100...5_000,
                updateBufferLimit: Int = 10_000, group: (any EventLoopGroup)? = nil) throws {
        guard !servers.isEmpty else { throw ClientError.invalidConfig("no server address") }
        let sslContext = try tls.map { try NIOSSLContext(configuration: $0) }
        let engine = try ClientEngine(config: config)
        let (stream, continuation) = AsyncStream.makeStream(of: ClientUpdate.self,
                                                            bufferingPolicy: .bufferingOldest(max(1, updateBufferLimit)))
        updates = stream
        self.continuation = continuation
        ownedGroup = group == nil ? MultiThreadedEventLoopGroup(numberOfThreads: 1) : nil
        let loop = (group ?? ownedGroup!).next()
        let dropped = self.dropped
        @Sendable func deliver(_ update: ClientUpdate) {
            if case .dropped = continuation.yield(update) { dropped.withLockedValue { $0 += 1 } }
        }
        driver = ClientDriver(engine: engine, loop: loop, servers: servers, limits: config.limits,
                              reconnectDelays: reconnectDelays, tls: sslContext,
                              onEvent: { deliver(.engine($0)) },
                              onStatus: { status in
                                  switch status {
                                  case let .connected(server): deliver(.connected(server))
                                  case let .disconnected(reason, retry): deliver(.disconnected(reason: reason, retryInMs: retry))
                                  case let .frameRefused(detail): deliver(.frameRefused(detail))
                                  }
                              })
        driver.start()
    }

    /// Updates dropped because the consumer did not keep up.
    public var droppedUpdates: Int { dropped.withLockedValue { $0 } }

    /// Sends `payload` into `conversation`; returns the message's id once it is recorded.
    /// Its progress (`sent` with the seq, or `failed`) arrives as `stateChanged` updates.
    @discardableResult
    public func send(_ payload: [UInt8], to conversation: String) async throws -> MessageID {
        try await driver.perform { engine, now in try engine.send(conversation: conversation, payload: payload, now: now) }.get()
    }

    /// Sends a message that failed again, with the same id.
    public func retry(_ id: MessageID) async throws {
        try await driver.perform { engine, now in try engine.retry(id, now: now) }.get()
    }

    /// Which order a timeline page follows.
    public enum TimelineOrder: Sendable {
        /// The order messages arrived on this device.
        case arrival
        /// Causal order, the same on every device.
        case history
    }

    /// A page of the conversation's messages as this device holds them: at most `limit` from
    /// `offset` (empty past the end or for an unknown conversation). Pages are copied out, so
    /// the engine never copies a whole history because a caller holds it.
    public func timeline(_ conversation: String, order: TimelineOrder = .history, offset: Int = 0,
                         limit: Int = 100) async throws -> [TimelineEntry] {
        try await driver.perform { engine, _ in
            guard let timeline = engine.timeline(conversation), offset >= 0, limit > 0, offset < timeline.count else { return [] }
            let range = offset..<min(timeline.count, offset + limit)
            return order == .history ? timeline.history(in: range) : timeline.live(in: range)
        }.get()
    }

    /// How many messages the device holds in the conversation (0 for an unknown one).
    public func timelineCount(_ conversation: String) async throws -> Int {
        try await driver.perform { engine, _ in engine.timeline(conversation)?.count ?? 0 }.get()
    }

    /// Every own message with its state.
    public func outbox() async throws -> [OutboxEntry] {
        try await driver.perform { engine, _ in engine.outbox() }.get()
    }

    /// The conversations this device knows.
    public func conversations() async throws -> [String] {
        try await driver.perform { engine, _ in engine.conversations }.get()
    }

    /// Whether the engine has its welcome (sends and syncs are flowing).
    public func isLive() async throws -> Bool {
        try await driver.perform { engine, _ in engine.isLive }.get()
    }

    /// Closes the connection, ends `updates` and stops the client's own thread. Messages not
    /// yet acked stay in the store (with a store path) and go out at the next start.
    public func close() async {
        try? await driver.stop().get()
        continuation.finish()
        try? await ownedGroup?.shutdownGracefully()
    }
}
