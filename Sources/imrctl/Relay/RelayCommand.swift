import ArgumentParser
import Dispatch
import Foundation
import IMRCore
import IMRRelay
import Logging
import NIOSSL
import Prometheus

/// `imrctl relay`: the reference relay server.
struct RelayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "relay",
        abstract: "Run the reference relay: TCP, delimited protobuf frames, SQLite store, JWTs, TLS.")

    @Option(help: "Address to listen on, host:port (port 0 picks a free one).") var listen = "127.0.0.1:7700"
    @Option(help: "SQLite file of the server store (created if missing). Without it, the store is in memory.") var db: String?
    @Option(help: "PostgreSQL instead: postgres://user[:password]@host[:port]/database (or IMR_POSTGRES_URL).")
    var postgres: String?
    @Option(help: "File holding the token secret: HS256 JWTs (see `imrctl token`).") var secretFile: String?
    @Option(help: "ES256 or RS256 JWTs instead: the public key, PEM.") var jwtPublicKey: String?
    @Option(help: "Tokens must name this audience (`aud`).") var jwtAudience: String?
    @Flag(help: "Accept any token as the user name itself. For local experiments only: it authenticates nobody.")
    var insecureUserTokens = false
    @Option(name: .customLong("conversation"), help: "Conversation to create at the first start, as id:member,member,... (repeatable; later starts leave it to its members).")
    var conversations: [String] = []
    @Option(name: .customLong("auto-join"), help: "Conversation every authenticated user joins (repeatable).")
    var autoJoin: [String] = []
    @Option(help: "Seconds of silence before the server pings a connection (0: never).") var pingInterval = 30.0
    @Option(help: "Seconds of silence before the server closes a connection (0: never).") var idleTimeout = 90.0
    @Option(help: "Sends per second per connection (token bucket refill); 0 disables the rate limit.") var rate: UInt32 = 100
    @Option(help: "Burst of sends per connection (token bucket size).") var burst: UInt32 = 200
    @Option(help: "Most messages per sync page.") var maxSyncPage: UInt32 = 256
    @Option(help: "Most connections at once; more are closed as they arrive.") var maxConnections = 10_000
    @Option(help: "Most connections that have not said hello yet; more are closed as they arrive.")
    var maxUnauthenticated = 1_000
    @Option(help: "Seconds a connection has to say hello.") var helloTimeout = 5.0
    @Option(help: "Largest frame accepted before hello, in bytes.") var maxHelloBytes = 8 << 10
    @Option(help: "Bytes queued toward a connection past which it gets no pushes and its requests wait (it is no longer read).")
    var outboundSoftLimit = 1 << 20
    @Option(help: "Bytes queued toward a connection past which it is closed.") var outboundHardLimit = 8 << 20
    @Option(help: "Requests other than sends per second per connection (sync, probe, delivered, create, members, ping); 0: no limit.")
    var requestRate: UInt32 = 250
    @Option(help: "Burst of requests per connection.") var requestBurst: UInt32 = 500
    @Option(help: "Bytes of requests that may wait for a connection to read its replies; past it, it is closed.")
    var maxParkedBytes = 1 << 20
    @Option(help: "Durability of acked messages: full (survives power loss) or normal (survives a process crash).")
    var durability = "full"
    @Option(help: "Serve Prometheus metrics at http://HOST:PORT/metrics (port 0 picks one).") var metrics: String?
    @Option(help: "Delivered/read receipts to the other members: on or off.") var receipts = "on"
    @Option(help: "Seconds over which one user's receipts in a conversation are coalesced (0: each at once).")
    var receiptInterval = 0.25
    @Option(help: "Conversations with more members send a receipt only to the members whose messages it covers.")
    var receiptGroupLimit = 32
    @Option(help: "TLS 1.3: the relay's certificate chain, PEM (see `imrctl cert`).") var tlsCert: String?
    @Option(help: "TLS: the relay's private key, PEM.") var tlsKey: String?
    @Option(help: "With TLS, also listen without it here, host:port (loopback or a trusted network).") var plainListen: String?
    @Option(help: "Event loops for the connections (default: one per core).") var eventLoops: Int?
    @Option(help: "Log level: trace, debug, info, notice, warning, error.") var logLevel = "info"

    func validate() throws {
        guard [secretFile != nil, jwtPublicKey != nil].filter({ $0 }).count <= 1 else {
            throw ValidationError("give --secret-file or --jwt-public-key, not both")
        }
        guard secretFile != nil || jwtPublicKey != nil || insecureUserTokens else {
            throw ValidationError("give --secret-file (or --insecure-user-tokens for local experiments)")
        }
        _ = try Self.parseListen(listen)
        if let metrics { _ = try Self.parseListen(metrics) }
        for c in conversations { _ = try Self.parseConversation(c) }
        guard ["full", "normal"].contains(durability) else { throw ValidationError("--durability is full or normal") }
        guard ["on", "off"].contains(receipts) else { throw ValidationError("--receipts is on or off") }
        guard receiptInterval >= 0, receiptInterval <= 3600, receiptGroupLimit >= 1 else {
            throw ValidationError("--receipt-interval is 0 to 3600 seconds, --receipt-group-limit at least 1")
        }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("unknown --log-level \(logLevel)") }
        guard db == nil || postgresURL == nil else { throw ValidationError("give --db or --postgres, not both") }
        if let postgresURL, PostgresServerStore.configuration(url: postgresURL) == nil {
            throw ValidationError("--postgres must be postgres://user[:password]@host[:port]/database")
        }
        guard (tlsCert == nil) == (tlsKey == nil) else { throw ValidationError("--tls-cert and --tls-key go together") }
        if let plainListen {
            guard tlsCert != nil else { throw ValidationError("--plain-listen is a second listener beside TLS (--tls-cert)") }
            _ = try Self.parseListen(plainListen)
        }
        guard (eventLoops ?? 1) >= 1 else { throw ValidationError("--event-loops must be at least 1") }
        guard maxConnections > 0, maxUnauthenticated > 0 else { throw ValidationError("connection limits must be at least 1") }
        guard maxHelloBytes >= 64, helloTimeout > 0 else { throw ValidationError("--max-hello-bytes >= 64 and --hello-timeout > 0") }
        guard outboundSoftLimit > 0, outboundHardLimit >= outboundSoftLimit, maxParkedBytes > 0 else {
            throw ValidationError("--outbound-soft-limit must be positive and at most --outbound-hard-limit; --max-parked-bytes positive")
        }
    }

    /// `--postgres`, or the environment's IMR_POSTGRES_URL.
    var postgresURL: String? { postgres ?? ProcessInfo.processInfo.environment["IMR_POSTGRES_URL"] }

    static func parseListen(_ text: String) throws -> (host: String, port: Int) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else {
            throw ValidationError("--listen must be host:port, got \(text)")
        }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return (host.isEmpty ? "0.0.0.0" : host, port)
    }

    static func parseConversation(_ text: String) throws -> (id: String, members: [String]) {
        let parts = text.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty else {
            throw ValidationError("--conversation must be id:member,member,... got \(text)")
        }
        let members = parts[1].split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        return (String(parts[0]), members)
    }

    func run() async throws {
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "imr.relay")
        let verifier: any TokenVerifier
        if let secretFile {
            verifier = try TokenAuthority(secretFile: secretFile).verifier(audience: jwtAudience)
        } else if let jwtPublicKey {
            verifier = try JWTTokenVerifier(publicKeyFile: jwtPublicKey, audience: jwtAudience)
        } else {
            logger.warning("--insecure-user-tokens: any token is accepted as the user name")
            verifier = InsecureUserNameVerifier()
        }
        var options = RelayOptions(databasePath: db, verifier: verifier)
        if let postgresURL {
            let storeLogger = logger
            options.makeStore = { try PostgresServerStore(url: postgresURL, logger: storeLogger) }
        }
        options.durability = durability == "normal" ? .processCrash : .powerLoss
        options.server.pingIntervalMs = UInt64(max(0, pingInterval) * 1000)
        options.server.idleTimeoutMs = UInt64(max(0, idleTimeout) * 1000)
        options.server.rateLimit = rate == 0 ? nil : RateLimit(burst: max(1, burst), refillPerSecond: rate)
        options.server.maxSyncPage = max(1, maxSyncPage)
        options.server.autoJoinConversations = autoJoin
        options.server.sendReceipts = receipts == "on"
        options.server.receiptIntervalMs = UInt64(receiptInterval * 1000)
        options.server.receiptGroupLimit = receiptGroupLimit
        options.maxConnections = maxConnections
        options.eventLoops = eventLoops
        if let tlsCert, let tlsKey {
            let chain = try NIOSSLCertificate.fromPEMFile(tlsCert).map { NIOSSLCertificateSource.certificate($0) }
            var tls = TLSConfiguration.makeServerConfiguration(certificateChain: chain,
                                                               privateKey: .privateKey(try NIOSSLPrivateKey(file: tlsKey, format: .pem)))
            tls.minimumTLSVersion = .tlsv13
            options.tls = tls
        }
        options.maxUnauthenticatedConnections = maxUnauthenticated
        options.server.helloTimeoutMs = UInt64(helloTimeout * 1000)
        options.server.maxHelloBytes = maxHelloBytes
        options.server.outboundSoftLimitBytes = outboundSoftLimit
        options.server.outboundHardLimitBytes = outboundHardLimit
        options.server.requestRateLimit = requestRate == 0 ? nil : RateLimit(burst: max(1, requestBurst), refillPerSecond: requestRate)
        options.server.maxParkedInputBytes = maxParkedBytes
        options.conversations = try conversations.map(Self.parseConversation)
        if db == nil && postgresURL == nil { logger.warning("no --db or --postgres: messages are kept in memory only") }

        var endpoint: MetricsEndpoint?
        if let metrics {
            let registry = PrometheusCollectorRegistry()
            options.metrics = PrometheusMetricsFactory(registry: registry)
            let (metricsHost, metricsPort) = try Self.parseListen(metrics)
            let served = MetricsEndpoint(registry: registry)
            let bound = try await served.start(host: metricsHost, port: metricsPort)
            logger.info("metrics", metadata: ["url": "http://\(metricsHost):\(bound)/metrics"])
            endpoint = served
        }
        let (host, port) = try Self.parseListen(listen)
        let relay = Relay(options: options, logger: logger)
        let signals = SignalWaiter([SIGINT, SIGTERM])
        let bound = try await relay.start(host: host, port: port)
        var plainLine = ""
        if let plainListen {
            let (plainHost, plainPort) = try Self.parseListen(plainListen)
            plainLine = " plaintext \(plainHost):\(try await relay.startPlaintextListener(host: plainHost, port: plainPort))"
        }
        // The one stdout line: scripts and tests read the ports from it.
        FileHandle.standardOutput.write(Data("imr relay listening on \(host):\(bound)\(options.tls != nil ? " tls" : "")\(plainLine)\n".utf8))
        let signal = await signals.next()
        logger.info("shutting down", metadata: ["signal": "\(signal)"])
        try await relay.stop()
        try await endpoint?.stop()
    }
}

/// Turns SIGINT/SIGTERM into an awaitable value (the default action is suspended meanwhile).
final class SignalWaiter: @unchecked Sendable {
    private var sources: [any DispatchSourceSignal] = []
    private let stream: AsyncStream<Int32>
    private let continuation: AsyncStream<Int32>.Continuation

    init(_ signals: [Int32]) {
        (stream, continuation) = AsyncStream<Int32>.makeStream()
        for sig in signals {
            Foundation.signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            let continuation = self.continuation
            source.setEventHandler { continuation.yield(sig) }
            source.resume()
            sources.append(source)
        }
    }

    func next() async -> Int32 {
        for await sig in stream { return sig }
        return 0
    }
}
