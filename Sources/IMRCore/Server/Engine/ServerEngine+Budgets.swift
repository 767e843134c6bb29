/// Per-session budgets (the README's "Limits, roles and names"): what a session may cost before its input
/// waits, and before it is closed.
///
/// - Outbound bytes: the engine's queue for the session plus what the host reports it has not
///   written yet (`setBacklog`, or `setWritable(false)`). Past `outboundSoftLimitBytes` no push
///   is queued for it (it catches up by sync) and none of its requests is handled: they wait
///   in its parked input, so replies are produced only as the connection drains. Past
///   `outboundHardLimitBytes` it is closed.
/// - Requests: every frame other than a send or a pong draws on the session's request bucket
///   (`requestRateLimit`), a delivered or create frame in proportion to its size. When the
///   bucket is empty the frame waits for its tokens; sends keep their own bucket and are
///   refused with a retry time instead.
/// - Parked input: waiting frames are counted in bytes; past `maxParkedInputBytes` the
///   session is closed. While a session has parked input the host should stop reading it
///   (`isInputPaused`), so a client that pipelines without reading meets TCP backpressure.
extension ServerEngine {
    /// The host's count of bytes it took from `pollOutput` for this session and has not yet
    /// written to the peer. Hosts that write synchronously never call it.
    public func setBacklog(_ id: SessionID, bytes: Int, now: UInt64) {
        guard let s = sessions[id], s.isOpen else { return }
        let previous = s.hostBacklogBytes
        // Clamped so that adding the engine's own queue to it cannot overflow (a host may
        // report anything up to Int.max, the C ABI up to INT64_MAX).
        s.hostBacklogBytes = min(max(0, bytes), Int.max / 2)
        if s.outboundBytes > config.outboundHardLimitBytes {
            fail(s, .rateLimited, "outbound backlog of \(s.outboundBytes) bytes: the connection does not read")
        } else if s.hostBacklogBytes < previous {
            outboundDrained(s, now: now)
        }
    }

    /// Whether the session has authenticated (hosts accept only a small hello before:
    /// `ServerConfig.maxHelloBytes`).
    public func isAuthenticated(_ id: SessionID) -> Bool {
        sessions[id]?.user != nil
    }

    /// True while the session has requests waiting for its budgets: the host should not read
    /// more from its connection until this turns false (check again after `pollOutput`,
    /// `handleTimeout`, `setBacklog` and `setWritable`).
    public func isInputPaused(_ id: SessionID) -> Bool {
        sessions[id]?.hasParked ?? false
    }

    /// The session's outbound backlog shrank: pushes resume when it is low enough, and
    /// waiting requests are handled while the budgets allow.
    func outboundDrained(_ s: Session, now: UInt64) {
        if s.behind { recoverIfDrained(s) }
        if s.hasParked { resume(s, now: now) }
    }

    /// Whether `frame` may be handled now; takes its request tokens when it may. A session
    /// that is denied tokens remembers when they will be there.
    func admit(_ frame: Frame, _ s: Session, _ now: UInt64) -> Bool {
        guard s.hostWritable, s.outboundBytes < config.outboundSoftLimitBytes else {
            s.parkedRetryAt = nil
            return false
        }
        let cost = Self.requestCost(frame)
        guard cost > 0, let wait = s.requestBucket?.take(cost, now: now) else { return true }
        s.parkedRetryAt = now.saturatingAdd(max(1, wait))
        return false
    }

    func park(_ frame: Frame, cost: Int, _ s: Session, _ now: UInt64) {
        if s.parkedBytes + cost > config.maxParkedInputBytes {
            fail(s, .rateLimited, "more than \(config.maxParkedInputBytes) bytes of requests wait for the connection to read its replies")
            return
        }
        if !s.hasParked {
            parkedSessions.insert(s.id)
            counters.sessionsPaused += 1
        }
        s.park(frame, cost: cost)
        counters.framesParked += 1
    }

    /// Handles a session's parked frames, oldest first, while its budgets allow.
    func resume(_ s: Session, now: UInt64) {
        while s.isOpen, let frame = s.nextParked {
            guard admit(frame, s, now) else { return }
            s.takeParked()
            dispatch(frame, s, now)
        }
        forgetParked(s)
    }

    func resumeParked(now: UInt64) {
        guard !parkedSessions.isEmpty else { return }
        for id in parkedSessions.sorted() {
            guard let s = sessions[id] else { parkedSessions.remove(id); continue }
            if let at = s.parkedRetryAt, at > now { continue }
            resume(s, now: now)
        }
    }

    func forgetParked(_ s: Session) {
        guard !s.hasParked else { return }
        s.parkedRetryAt = nil
        parkedSessions.remove(s.id)
    }

    /// The earliest moment a parked session can go on: its bucket's refill time, or 0 (now)
    /// when its backlog has drained since it was parked. Sessions waiting for their backlog
    /// are left to `setBacklog` / `setWritable`.
    var nextParkedDeadline: UInt64? {
        var earliest: UInt64?
        for id in parkedSessions {
            guard let s = sessions[id], s.hasParked else { continue }
            let at: UInt64
            if let retry = s.parkedRetryAt {
                at = retry
            } else if s.hostWritable && s.outboundBytes < config.outboundSoftLimitBytes {
                at = 0
            } else {
                continue
            }
            earliest = min(earliest ?? at, at)
        }
        return earliest
    }

    /// The largest encoding a frame of this body kind can have within the limits, for the
    /// kinds whose size is bounded by them; nil for sends (bounded by the frame limit).
    func sizeBound(ofBodyField field: Int) -> Int? {
        let limits = config.limits
        switch field {
        case FrameBodyKind.send: return nil
        case FrameBodyKind.delivered: return 64 + limits.maxWatermarksPerFrame * (limits.maxIdentifierBytes + 40)
        case FrameBodyKind.createConversation: return 64 + (limits.maxMembersPerFrame + 1) * (limits.maxIdentifierBytes + 8)
        default: return 1024 + 2 * limits.maxIdentifierBytes + limits.maxTokenBytes
        }
    }

    /// Request tokens a frame costs: one per request, more for frames whose lists cost the
    /// store a read each; sends have their own bucket and pongs are free.
    static func requestCost(_ frame: Frame) -> UInt64 {
        switch frame {
        case .send, .pong: return 0
        case let .delivered(d): return 1 + UInt64(d.watermarks.count / 32)
        // A member row is a store write: a create of 1,000 members costs 251 tokens.
        case let .createConversation(c): return 1 + UInt64(c.members.count / 4)
        default: return 1
        }
    }

    /// The size of a frame handed in decoded (hosts that decode themselves), for the parked
    /// input budget: near its encoded size.
    static func estimatedSize(_ frame: Frame) -> Int {
        switch frame {
        case let .send(send): return 64 + send.payload.count + send.clock.count * 12
        case let .delivered(d): return 16 + d.watermarks.count * 48
        case let .createConversation(c): return 32 + c.members.count * 24
        default: return 64
        }
    }
}
