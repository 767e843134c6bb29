import CoreMetrics
import IMRCore
import NIOSSL

/// How a relay is set up.
public struct RelayOptions: Sendable {
    /// SQLite file of the server store; nil keeps everything in memory.
    public var databasePath: String?
    /// A store of the host's own, made on the engine thread (which then is its only user);
    /// when set, `databasePath` is not used.
    public var makeStore: (@Sendable () throws -> any ServerStore)?
    public var durability: SQLiteDatabase.Durability = .powerLoss
    public var verifier: any TokenVerifier
    public var server = ServerConfig()
    /// Conversations created at the first start (later starts leave them to their members).
    public var conversations: [(id: String, members: [String])] = []
    /// Most connections at once; more are closed as they arrive.
    public var maxConnections = 10_000
    /// Most connections that have not authenticated yet; more are closed as they arrive.
    public var maxUnauthenticatedConnections = 1_000
    /// Where the relay reports its metrics (connections, sends accepted and refused by code,
    /// pushes, syncs, store commit latency and batch size, bytes queued); nil reports none.
    public var metrics: (any MetricsFactory)?
    /// TLS on every connection (`TLSConfiguration.makeServerConfiguration`); nil: plaintext,
    /// for loopback and trusted networks.
    public var tls: TLSConfiguration?
    /// Event loops for the connections when the relay makes its own group; nil: one per core.
    public var eventLoops: Int?

    public init(databasePath: String?, verifier: any TokenVerifier) {
        self.databasePath = databasePath
        self.verifier = verifier
    }
}
