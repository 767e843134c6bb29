/// The engine's record of one connection.
final class Session {
    enum Phase: Equatable {
        case awaitingHello
        case authenticated(user: String, node: UInt64)
        /// The engine queued a close; nothing more is read or queued for it.
        case closing
    }

    let id: SessionID
    var phase = Phase.awaitingHello
    let openedAt: UInt64
    var lastReceivedAt: UInt64
    var pingSentAt: UInt64?
    var pingNonce: UInt64 = 0
    var bucket: TokenBucket?

    /// Frames queued in the engine for this session and not yet polled.
    var queued = 0
    /// Their bytes.
    var queuedBytes = 0
    /// Bytes the host has taken but not yet written to the peer (`ServerEngine.setBacklog`).
    var hostBacklogBytes = 0
    /// Bytes on their way to the peer: the budgets compare this with their limits.
    var outboundBytes: Int { queuedBytes + hostBacklogBytes }
    /// The token bucket every request other than a send draws on.
    var requestBucket: TokenBucket?

    /// Frames received but not yet handled (the session was over a budget), oldest first.
    private(set) var parked: [(frame: Frame, cost: Int)] = []
    private var parkedHead = 0
    /// The bytes they came in.
    private(set) var parkedBytes = 0
    /// When the request bucket has a token for the oldest parked frame again (nil: waiting
    /// for the outbound backlog to drain instead).
    var parkedRetryAt: UInt64?

    var hasParked: Bool { parkedHead < parked.count }

    func park(_ frame: Frame, cost: Int) {
        parked.append((frame, cost))
        parkedBytes += cost
    }

    /// The oldest parked frame, without taking it.
    var nextParked: Frame? { hasParked ? parked[parkedHead].frame : nil }

    func takeParked() {
        parkedBytes -= parked[parkedHead].cost
        parkedHead += 1
        if parkedHead == parked.count {
            parked.removeAll(keepingCapacity: false)
            parkedHead = 0
        }
    }

    func dropParked() {
        parked = []
        parkedHead = 0
        parkedBytes = 0
        parkedRetryAt = nil
    }
    /// The host's word on its own write buffer (`setWritable`).
    var hostWritable = true
    /// Pushes are being dropped for this session (backpressure).
    var behind = false
    /// Conversations whose pushes were dropped while behind (get a head hint on recovery).
    var lagging: Set<String> = []

    init(id: SessionID, now: UInt64, rateLimit: RateLimit?, requestRateLimit: RateLimit?) {
        self.id = id
        openedAt = now
        lastReceivedAt = now
        bucket = rateLimit.map { TokenBucket($0, now: now) }
        requestBucket = requestRateLimit.map { TokenBucket($0, now: now) }
    }

    var user: String? {
        if case let .authenticated(user, _) = phase { return user }
        return nil
    }

    var node: UInt64 {
        if case let .authenticated(_, node) = phase { return node }
        return 0
    }

    var isOpen: Bool { phase != .closing }
}
