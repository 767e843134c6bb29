/// Everything a client engine is configured with. Times are milliseconds of the host's
/// monotonic clock (the same clock as every `now` passed to the engine).
public struct ClientConfig: Sendable {
    // Identity.
    /// This device's 64-bit node id (random at first start and persisted by the app, or given).
    public var nodeID: UInt64
    /// The auth token sent in the hello.
    public var token: String
    /// The user id shown on own messages until the first welcome names it (optional).
    public var userID: String

    // Sending leg.
    /// The first ack timeout; each further attempt multiplies it by `backoffFactor`.
    public var ackTimeoutBaseMs: UInt64
    public var backoffFactor: Double
    /// No retransmission or sync timeout is longer than this (before jitter is capped again).
    public var backoffCapMs: UInt64
    /// Relative jitter in 0...1: a timeout `t` becomes uniform in `t * (1 ± jitter)`.
    public var jitter: Double
    /// Transmissions on a live connection before a message fails (`attemptsExhausted`).
    public var maxAttempts: Int
    /// A message not acknowledged while offline fails this long after it was sent (or retried).
    public var maxOfflineAgeMs: UInt64
    /// At most this many messages unacknowledged on the wire (the server's welcome may lower it).
    public var inflightWindow: Int
    /// Seeds message ids and jitter. Use a fresh value per process start unless replaying a
    /// simulation: with a durable store the engine mixes in a per-open epoch, without one
    /// a repeated seed at the same `now` repeats message ids.
    public var seed: UInt64
    public var limits: WireLimits
    /// Sent messages kept in `outbox()` (most recent first out); 0 keeps none.
    public var sentRetention: Int

    // Store.
    /// A SQLite file for the outbox, cursors, clocks and timelines (nil: memory only).
    public var storePath: String?
    public var storeDurability: SQLiteDatabase.Durability

    // Receiving leg.
    /// How long a gap may wait for a reordered push before a sync fills it.
    public var gapGraceMs: UInt64
    /// Messages asked for per sync page.
    public var syncPageSize: UInt32
    /// The first sync timeout; retries back off like retransmissions.
    public var syncTimeoutMs: UInt64
    /// Head probe interval on a live connection (0 = no periodic probe; `probe(now:)` still works).
    public var pollIntervalMs: UInt64
    /// Pages one sync cycle may take before it stops with an error event.
    public var maxSyncPagesPerCycle: Int
    /// Delivered watermarks are coalesced into one frame per this interval (0 = one per input).
    public var deliveredFlushMs: UInt64
    /// Messages held above a gap per conversation (shown at once); further ones are dropped
    /// and left to the sync that fills the gap.
    public var maxBufferedPerConversation: Int
    public var historyOrder: HistoryOrder

    public init(
        nodeID: UInt64,
        token: String,
        userID: String = "",
        ackTimeoutBaseMs: UInt64 = 2_000,
        backoffFactor: Double = 2,
        backoffCapMs: UInt64 = 60_000,
        jitter: Double = 0.2,
        maxAttempts: Int = 8,
        maxOfflineAgeMs: UInt64 = 24 * 3_600_000,
        inflightWindow: Int = 64,
        seed: UInt64 = 0,
        limits: WireLimits = .default,
        sentRetention: Int = 256,
        storePath: String? = nil,
        storeDurability: SQLiteDatabase.Durability = .powerLoss,
        gapGraceMs: UInt64 = 300,
        syncPageSize: UInt32 = 200,
        syncTimeoutMs: UInt64 = 10_000,
        pollIntervalMs: UInt64 = 60_000,
        maxSyncPagesPerCycle: Int = 1_000,
        deliveredFlushMs: UInt64 = 500,
        maxBufferedPerConversation: Int = 1_024,
        historyOrder: HistoryOrder = .causal
    ) {
        self.nodeID = nodeID
        self.token = token
        self.userID = userID
        self.ackTimeoutBaseMs = ackTimeoutBaseMs
        self.backoffFactor = backoffFactor
        self.backoffCapMs = backoffCapMs
        self.jitter = jitter
        self.maxAttempts = maxAttempts
        self.maxOfflineAgeMs = maxOfflineAgeMs
        self.inflightWindow = inflightWindow
        self.seed = seed
        self.limits = limits
        self.sentRetention = sentRetention
        self.storePath = storePath
        self.storeDurability = storeDurability
        self.gapGraceMs = gapGraceMs
        self.syncPageSize = syncPageSize
        self.syncTimeoutMs = syncTimeoutMs
        self.pollIntervalMs = pollIntervalMs
        self.maxSyncPagesPerCycle = maxSyncPagesPerCycle
        self.deliveredFlushMs = deliveredFlushMs
        self.maxBufferedPerConversation = maxBufferedPerConversation
        self.historyOrder = historyOrder
    }

    /// The first problem with this configuration, nil when it is usable.
    public var problem: String? {
        if nodeID == 0 { return "nodeID must not be 0" }
        if token.utf8.count > limits.maxTokenBytes { return "token is longer than \(limits.maxTokenBytes) bytes" }
        if !userID.isEmpty, (try? IdentifierRules.validate(userID, field: "userID", limits: limits)) == nil {
            return "userID is not a valid identifier"
        }
        if ackTimeoutBaseMs == 0 { return "ackTimeoutBaseMs must be positive" }
        if !(backoffFactor >= 1 && backoffFactor <= 16) { return "backoffFactor must be in 1...16" }
        if backoffCapMs < ackTimeoutBaseMs { return "backoffCapMs must be at least ackTimeoutBaseMs" }
        if !(jitter >= 0 && jitter <= 1) { return "jitter must be in 0...1" }
        if maxAttempts < 1 || maxAttempts > 65_535 { return "maxAttempts must be in 1...65535" }
        if inflightWindow < 1 { return "inflightWindow must be at least 1" }
        if sentRetention < 0 { return "sentRetention must not be negative" }
        if syncPageSize == 0 { return "syncPageSize must be positive" }
        if syncTimeoutMs == 0 { return "syncTimeoutMs must be positive" }
        if maxSyncPagesPerCycle < 1 { return "maxSyncPagesPerCycle must be at least 1" }
        if maxBufferedPerConversation < 0 { return "maxBufferedPerConversation must not be negative" }
        return nil
    }
}
