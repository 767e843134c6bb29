/// Everything a `ServerEngine` can be tuned with. The defaults suit a small relay.
///
/// Time. Every `now` passed to the engine is a monotonic clock in milliseconds (timers, rate
/// limits, idle detection). Wall time — `server_time_ms` in acks, pushes and the welcome, and
/// token expiry — is `now + wallClockOffsetMs`. A host whose `now` already is Unix time in
/// milliseconds leaves the offset at 0; a host with a separate monotonic clock sets it once
/// (`ServerEngine.setWallClock(unixMs:now:)`) and may refresh it. The engine never lets the
/// server time it hands out go backwards.
public struct ServerConfig: Sendable, Equatable {
    /// Size limits for every frame the engine decodes and encodes.
    public var limits: WireLimits
    /// Most messages in one sync page; a larger request limit is clamped to this.
    public var maxSyncPage: UInt32
    /// The unacked-send window the server suggests to clients (announced in the welcome).
    public var maxInflight: UInt32
    /// Token bucket per session for sends; nil turns rate limiting off.
    public var rateLimit: RateLimit?
    /// Backpressure bound: when a session has this many frames not yet written (or its host says
    /// it is not writable), pushes to it stop and it is marked behind; it catches up by sync.
    public var maxOutboundFramesPerSession: Int
    /// A session whose replies pile up beyond this (it sends requests but never reads) is closed.
    public var maxOutboundFramesBeforeClose: Int
    /// Bytes queued toward a session (the engine's queue plus the host's unwritten backlog)
    /// past which it gets no pushes and its requests wait unhandled (see `ServerEngine+Budgets`).
    public var outboundSoftLimitBytes: Int
    /// Bytes queued toward a session past which it is closed with an error.
    public var outboundHardLimitBytes: Int
    /// Token bucket per session for every request other than sends (sync, head probe,
    /// delivered, create, member changes, ping); an empty bucket makes requests wait. Nil
    /// turns it off.
    public var requestRateLimit: RateLimit?
    /// Bytes of requests that may wait for a session's budgets; past it the session is closed.
    public var maxParkedInputBytes: Int
    /// Largest frame accepted before a session has authenticated (its hello).
    public var maxHelloBytes: Int
    /// A session that has not authenticated within this time is closed.
    public var helloTimeoutMs: UInt64
    /// After this much silence from a session the server sends a ping; 0 disables pings.
    public var pingIntervalMs: UInt64
    /// After this much silence the session is closed; 0 disables the idle timeout.
    public var idleTimeoutMs: UInt64
    /// How often session timers (hello, ping, idle) are checked.
    public var timerGranularityMs: UInt64
    /// Largest membership of one conversation.
    public var maxMembersPerConversation: Int
    /// Send `Receipt` frames to the other members when a user's delivered/read watermark advances.
    public var sendReceipts: Bool
    /// A user's receipts in one conversation leave at most once per this interval, coalesced
    /// (several devices and reports make one receipt); 0 sends each advance at once.
    public var receiptIntervalMs: UInt64
    /// In conversations with more members than this, a receipt goes only to the members with
    /// a message the user had not yet passed (the receipts of their own messages); up to it,
    /// to every other member.
    public var receiptGroupLimit: Int
    /// Events not yet polled beyond this are dropped (counted in `ServerStats.eventsDropped`).
    public var maxQueuedEvents: Int
    /// Wall time minus the monotonic `now`, in milliseconds (see the type's documentation).
    public var wallClockOffsetMs: Int64
    /// Group commit: the writes of everything handled between two `pollOutput` drains share one
    /// durable commit, made when the host next polls; acks are released only after it. With
    /// the SQLite store this turns one fsync per message into one per drain. Off: every write
    /// commits on its own.
    public var groupCommit: Bool
    /// Conversations every authenticated user joins at hello (created when missing): open
    /// rooms for demos and small deployments. Empty by default.
    public var autoJoinConversations: [String]

    public init(
        limits: WireLimits = .default,
        maxSyncPage: UInt32 = 256,
        maxInflight: UInt32 = 64,
        rateLimit: RateLimit? = RateLimit(burst: 200, refillPerSecond: 100),
        maxOutboundFramesPerSession: Int = 1024,
        maxOutboundFramesBeforeClose: Int = 8192,
        outboundSoftLimitBytes: Int = 1 << 20,
        outboundHardLimitBytes: Int = 8 << 20,
        requestRateLimit: RateLimit? = RateLimit(burst: 500, refillPerSecond: 250),
        maxParkedInputBytes: Int = 1 << 20,
        maxHelloBytes: Int = 8 << 10,
        helloTimeoutMs: UInt64 = 5_000,
        pingIntervalMs: UInt64 = 30_000,
        idleTimeoutMs: UInt64 = 90_000,
        timerGranularityMs: UInt64 = 500,
        maxMembersPerConversation: Int = 10_000,
        sendReceipts: Bool = true,
        receiptIntervalMs: UInt64 = 250,
        receiptGroupLimit: Int = 32,
        maxQueuedEvents: Int = 10_000,
        wallClockOffsetMs: Int64 = 0,
        autoJoinConversations: [String] = [],
        groupCommit: Bool = true
    ) {
        self.limits = limits
        self.maxSyncPage = maxSyncPage
        self.maxInflight = maxInflight
        self.rateLimit = rateLimit
        self.maxOutboundFramesPerSession = maxOutboundFramesPerSession
        self.maxOutboundFramesBeforeClose = maxOutboundFramesBeforeClose
        self.outboundSoftLimitBytes = outboundSoftLimitBytes
        self.outboundHardLimitBytes = outboundHardLimitBytes
        self.requestRateLimit = requestRateLimit
        self.maxParkedInputBytes = maxParkedInputBytes
        self.maxHelloBytes = maxHelloBytes
        self.helloTimeoutMs = helloTimeoutMs
        self.pingIntervalMs = pingIntervalMs
        self.idleTimeoutMs = idleTimeoutMs
        self.timerGranularityMs = timerGranularityMs
        self.maxMembersPerConversation = maxMembersPerConversation
        self.sendReceipts = sendReceipts
        self.receiptIntervalMs = receiptIntervalMs
        self.receiptGroupLimit = receiptGroupLimit
        self.maxQueuedEvents = maxQueuedEvents
        self.wallClockOffsetMs = wallClockOffsetMs
        self.autoJoinConversations = autoJoinConversations
        self.groupCommit = groupCommit
    }

    /// The limits announced to clients in the welcome.
    public var serverLimits: ServerLimits {
        ServerLimits(maxFrameBytes: UInt32(clamping: limits.maxFrameBytes),
                     maxPayloadBytes: UInt32(clamping: limits.maxPayloadBytes),
                     maxSyncPage: max(1, maxSyncPage), maxInflight: maxInflight)
    }
}

/// A token bucket: `burst` sends at once, refilled at `refillPerSecond` sends per second.
public struct RateLimit: Sendable, Equatable {
    public var burst: UInt32
    public var refillPerSecond: UInt32
    public init(burst: UInt32, refillPerSecond: UInt32) {
        self.burst = burst
        self.refillPerSecond = refillPerSecond
    }
}
