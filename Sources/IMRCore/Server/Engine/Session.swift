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
    /// The host's word on its own write buffer (`setWritable`).
    var hostWritable = true
    /// Pushes are being dropped for this session (backpressure).
    var behind = false
    /// Conversations whose pushes were dropped while behind (get a head hint on recovery).
    var lagging: Set<String> = []

    init(id: SessionID, now: UInt64, rateLimit: RateLimit?) {
        self.id = id
        openedAt = now
        lastReceivedAt = now
        bucket = rateLimit.map { TokenBucket($0, now: now) }
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
