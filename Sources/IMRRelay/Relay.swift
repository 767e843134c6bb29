import IMRCore
import Logging
import NIOCore
import NIOPosix
import NIOSSL

/// The reference relay: one `ServerEngine` behind a TCP listener speaking the delimited
/// framing, on SwiftNIO, as a library a Swift server can embed. Start it in-process (`start`
/// returns the bound port, 0 picks one) or through `imrctl relay`. Connections spread over the
/// event loops of a group (one per core by default); the engine and its store have a thread of
/// their own (`RelayCore`), so no event loop waits on a disk.
public final class Relay: @unchecked Sendable {
    public let options: RelayOptions
    public let logger: Logger
    private let group: any EventLoopGroup
    private let ownsGroup: Bool
    private let inbox = RelayInbox()
    private var core: RelayCore?
    private var serverChannels: [any Channel] = []
    public private(set) var port = 0
    private var stopped = false

    public init(options: RelayOptions, group: (any EventLoopGroup)? = nil, logger: Logger = Logger(label: "imr.relay")) {
        self.options = options
        self.logger = logger
        if let group {
            self.group = group
            ownsGroup = false
        } else {
            self.group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, options.eventLoops ?? System.coreCount))
            ownsGroup = true
        }
    }

    /// Opens the store, ensures the configured conversations and starts listening. Returns the
    /// bound port.
    public func start(host: String = "127.0.0.1", port: Int = 0) async throws -> Int {
        precondition(core == nil, "a relay starts once")
        let options = self.options
        let logger = self.logger
        let inbox = self.inbox
        let timerLoop = group.next()
        let core = try await inbox.run { () throws -> RelayCore in
            let store: any ServerStore
            if let makeStore = options.makeStore {
                store = try makeStore()
            } else if let path = options.databasePath {
                store = try SQLiteServerStore(path: path, durability: options.durability)
            } else {
                store = MemoryServerStore()
            }
            let metrics = options.metrics.map { RelayMetrics(factory: $0) }
            let engineStore: any ServerStore = metrics.map { TimedStore(store, metrics: $0) } ?? store
            let engine = ServerEngine(config: options.server, store: engineStore, verifier: options.verifier)
            // Created once: later starts leave them to their members (removed members stay removed).
            for c in options.conversations { try engine.createConversationIfMissing(c.id, members: c.members) }
            let core = RelayCore(engine: engine, store: store, inbox: inbox, timerLoop: timerLoop, logger: logger,
                                 metrics: metrics, maxConnections: options.maxConnections,
                                 maxUnauthenticatedConnections: options.maxUnauthenticatedConnections)
            // Relays sharing a PostgreSQL database push each other's messages to their own devices.
            (store as? PostgresServerStore)?.onPeerMessage = { conversation, seq in
                inbox.post(.call { core.engine.deliverStoredElsewhere(conversation: conversation, seq: seq, now: RelayCore.now()) })
            }
            (store as? PostgresServerStore)?.onPeerMembershipChange = { conversation in
                inbox.post(.call { core.engine.membershipChangedElsewhere(conversation) })
            }
            core.flush()
            return core
        }
        inbox.start { batch in core.handle(batch) }
        self.core = core
        let sslContext = try options.tls.map { try NIOSSLContext(configuration: $0) }
        let bootstrap = Self.bootstrap(group: group, inbox: inbox, tls: sslContext, options: options, logger: logger)
        let channel: any Channel
        do {
            channel = try await bootstrap.bind(host: host, port: port).get()
        } catch {
            try? await stopCore(core)
            self.core = nil
            try? await inbox.shutdown()
            throw error
        }
        serverChannels.append(channel)
        self.port = channel.localAddress?.port ?? port
        logger.info("listening", metadata: ["host": "\(host)", "port": "\(self.port)",
                                            "store": "\(options.makeStore != nil ? "the host's" : options.databasePath ?? "memory")", "tls": "\(options.tls != nil)"])
        return self.port
    }

    /// A second listener without TLS, beside a TLS one: for clients on loopback or a trusted
    /// network (a C program without a TLS library). Call after `start`; returns the bound port.
    public func startPlaintextListener(host: String = "127.0.0.1", port: Int = 0) async throws -> Int {
        guard core != nil else { throw RelayError.notRunning }
        let channel = try await Self.bootstrap(group: group, inbox: inbox, tls: nil, options: options, logger: logger)
            .bind(host: host, port: port).get()
        serverChannels.append(channel)
        let bound = channel.localAddress?.port ?? port
        logger.info("listening (plaintext)", metadata: ["host": "\(host)", "port": "\(bound)"])
        return bound
    }

    private static func bootstrap(group: any EventLoopGroup, inbox: RelayInbox, tls: NIOSSLContext?, options: RelayOptions,
                                  logger: Logger) -> ServerBootstrap {
        let maxFrameBytes = options.server.limits.maxFrameBytes
        let maxHelloBytes = options.server.maxHelloBytes
        return ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 512)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.writeBufferWaterMark, value: .init(low: 64 << 10, high: 512 << 10))
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls { try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls)) }
                    // Stop reading from a peer whose writes back up; the engine pauses its pushes.
                    try channel.pipeline.syncOperations.addHandler(BackPressureHandler())
                    try channel.pipeline.syncOperations.addHandler(RelayConnectionHandler(
                        inbox: inbox, maxFrameBytes: maxFrameBytes, maxHelloBytes: maxHelloBytes, logger: logger))
                }
            }
    }

    /// Graceful stop: stop accepting, flush and close every connection, close the store.
    public func stop() async throws {
        let listeners = serverChannels
        serverChannels = []
        for channel in listeners { try? await channel.close() }
        if let core {
            self.core = nil
            try await stopCore(core)
        }
        guard !stopped else { return }
        stopped = true
        try await inbox.shutdown()
        if ownsGroup { try await group.shutdownGracefully() }
        logger.info("stopped")
    }

    private func stopCore(_ core: RelayCore) async throws {
        let done = group.next().makePromise(of: Void.self)
        inbox.post(.call { core.shutdown(done) })
        try await done.futureResult.get()
    }

    /// Runs `body` with the engine on the engine thread (admin calls, stats).
    public func withEngine<T: Sendable>(_ body: @escaping @Sendable (ServerEngine) throws -> T) async throws -> T {
        guard let core else { throw RelayError.notRunning }
        return try await inbox.run {
            let result = try body(core.engine)
            core.flush()
            return result
        }
    }

    public enum RelayError: Error { case notRunning }
}
