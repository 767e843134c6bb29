/// The per-session send rate limiter: a token bucket kept in thousandths of a token, so
/// refill is exact integer arithmetic on the monotonic `now` (deterministic in simulation).
struct TokenBucket {
    private let capacity: UInt64      // millitokens
    private let refillPerMs: UInt64   // millitokens per millisecond == tokens per second
    private var level: UInt64
    private var updatedAt: UInt64

    init(_ limit: RateLimit, now: UInt64) {
        capacity = UInt64(max(1, limit.burst)) * 1000
        refillPerMs = UInt64(limit.refillPerSecond)
        level = capacity
        updatedAt = now
    }

    /// Takes `count` tokens (at most the burst): nil when granted, else the milliseconds until
    /// they are available (nothing is taken then).
    mutating func take(_ count: UInt64, now: UInt64) -> UInt64? {
        refill(now: now)
        let need = min(count, capacity / 1000) * 1000
        if level >= need {
            level -= need
            return nil
        }
        guard refillPerMs > 0 else { return UInt64(Int32.max) }
        return (need - level + refillPerMs - 1) / refillPerMs
    }

    private mutating func refill(now: UInt64) {
        if now > updatedAt {
            let (gain, overflow) = (now - updatedAt).multipliedReportingOverflow(by: refillPerMs)
            level = overflow ? capacity : min(capacity, level &+ min(gain, capacity))
            updatedAt = now
        }
    }

    /// Takes one token: nil when granted, else the milliseconds until one is available.
    mutating func take(now: UInt64) -> UInt64? {
        if now > updatedAt {
            let (gain, overflow) = (now - updatedAt).multipliedReportingOverflow(by: refillPerMs)
            level = overflow ? capacity : min(capacity, level &+ min(gain, capacity))
            updatedAt = now
        }
        if level >= 1000 {
            level -= 1000
            return nil
        }
        guard refillPerMs > 0 else { return UInt64(Int32.max) }
        let missing = 1000 - level
        return (missing + refillPerMs - 1) / refillPerMs
    }
}
