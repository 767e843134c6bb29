import CIMR
import IMRCore

/// The object behind an imr_server handle.
final class ServerBox {
    let engine: ServerEngine
    let tokens: TokenTable
    let sqlite: SQLiteServerStore?
    /// The frame last handed out by imr_server_poll_output.
    let frame = OwnedBytes(capacity: 256)
    let events = EventStorage()

    init(engine: ServerEngine, tokens: TokenTable, sqlite: SQLiteServerStore?) {
        self.engine = engine
        self.tokens = tokens
        self.sqlite = sqlite
    }

    deinit { sqlite?.close() }
}

/// A token bucket setting: a burst of 0 turns it off (nil); otherwise the engine's default
/// with whichever of the two keys are set.
private func rateLimit(_ c: ConfigBox, _ burstKey: Int32, _ perSecondKey: Int32, _ base: RateLimit?) -> RateLimit? {
    if let burst = c.uint32(burstKey), burst == 0 { return nil }
    guard c.u64(burstKey) != nil || c.u64(perSecondKey) != nil else { return base }
    // A default that is off gets a bucket of one token per second, then the keys set.
    var limit = base ?? RateLimit(burst: 1, refillPerSecond: 1)
    if let v = c.uint32(burstKey) { limit.burst = v }
    if let v = c.uint32(perSecondKey) { limit.refillPerSecond = v }
    return limit
}

/// The engine's configuration: its defaults, overridden by the keys set.
private func serverConfig(_ c: ConfigBox) throws(ABIFailure) -> ServerConfig {
    var config = ServerConfig()
    config.limits = try c.limits()
    if let v = c.uint32(IMR_CONFIG_SERVER_MAX_SYNC_PAGE) { config.maxSyncPage = v }
    if let v = c.uint32(IMR_CONFIG_SERVER_MAX_INFLIGHT) { config.maxInflight = v }
    config.rateLimit = rateLimit(c, IMR_CONFIG_RATE_LIMIT_BURST, IMR_CONFIG_RATE_LIMIT_PER_SECOND, config.rateLimit)
    config.requestRateLimit = rateLimit(c, IMR_CONFIG_REQUEST_RATE_BURST, IMR_CONFIG_REQUEST_RATE_PER_SECOND,
                                        config.requestRateLimit)
    if let v = c.int(IMR_CONFIG_MAX_OUTBOUND_FRAMES) { config.maxOutboundFramesPerSession = v }
    if let v = c.int(IMR_CONFIG_MAX_OUTBOUND_FRAMES_BEFORE_CLOSE) { config.maxOutboundFramesBeforeClose = v }
    if let v = c.int(IMR_CONFIG_OUTBOUND_SOFT_BYTES) { config.outboundSoftLimitBytes = v }
    if let v = c.int(IMR_CONFIG_OUTBOUND_HARD_BYTES) { config.outboundHardLimitBytes = v }
    // Checked against each other after both keys (or their defaults) are known.
    guard config.outboundSoftLimitBytes <= config.outboundHardLimitBytes else { throw ABIFailure(IMR_ERR_INVALID_ARG) }
    if let v = c.int(IMR_CONFIG_MAX_PARKED_INPUT_BYTES) { config.maxParkedInputBytes = v }
    if let v = c.int(IMR_CONFIG_MAX_HELLO_BYTES) { config.maxHelloBytes = v }
    if let v = c.u64(IMR_CONFIG_HELLO_TIMEOUT_MS) { config.helloTimeoutMs = v }
    if let v = c.u64(IMR_CONFIG_PING_INTERVAL_MS) { config.pingIntervalMs = v }
    if let v = c.u64(IMR_CONFIG_IDLE_TIMEOUT_MS) { config.idleTimeoutMs = v }
    if let v = c.u64(IMR_CONFIG_TIMER_GRANULARITY_MS) { config.timerGranularityMs = v }
    if let v = c.int(IMR_CONFIG_MAX_MEMBERS) { config.maxMembersPerConversation = v }
    if let v = c.u64(IMR_CONFIG_SEND_RECEIPTS) { config.sendReceipts = v == 1 }
    if let v = c.u64(IMR_CONFIG_RECEIPT_INTERVAL_MS) { config.receiptIntervalMs = v }
    if let v = c.int(IMR_CONFIG_RECEIPT_GROUP_LIMIT) { config.receiptGroupLimit = v }
    if let v = c.int(IMR_CONFIG_MAX_QUEUED_EVENTS) { config.maxQueuedEvents = v }
    return config
}

@c @implementation
public func imr_server_new(_ config: OpaquePointer?, _ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    abiCall { () throws(ABIFailure) -> Int32 in
        guard let config, let out else { throw ABIFailure(IMR_ERR_NULL) }
        let settings = object(config, as: ConfigBox.self)
        let engineConfig = try serverConfig(settings)
        let tokens = TokenTable()
        var sqlite: SQLiteServerStore?
        let store: any ServerStore
        if let path = settings.string(IMR_CONFIG_STORE_PATH) {
            let durability: SQLiteDatabase.Durability =
                settings.u64(IMR_CONFIG_STORE_DURABILITY) == UInt64(IMR_DURABILITY_PROCESS_CRASH) ? .processCrash : .powerLoss
            do {
                let opened = try SQLiteServerStore(path: path, durability: durability)
                sqlite = opened
                store = opened
            } catch {
                throw ABIFailure(errorCode(error) == IMR_ERR_INTERNAL ? IMR_ERR_STORE : errorCode(error))
            }
        } else {
            store = MemoryServerStore()
        }
        let engine = ServerEngine(config: engineConfig, store: store, verifier: tokens)
        out.pointee = makeHandle(ServerBox(engine: engine, tokens: tokens, sqlite: sqlite))
        return IMR_OK
    }
}

@c @implementation
public func imr_server_free(_ server: OpaquePointer?) {
    releaseHandle(server, as: ServerBox.self)
}

@c @implementation
public func imr_server_add_token(_ server: OpaquePointer?, _ token: UnsafePointer<CChar>?, _ user: UnsafePointer<CChar>?,
                                 _ expiryUnixMs: UInt64) -> Int32 {
    abiCall { () throws(ABIFailure) -> Int32 in
        guard let server else { throw ABIFailure(IMR_ERR_NULL) }
        let box = object(server, as: ServerBox.self)
        let limits = box.engine.config.limits
        let tokenText = try inputString(token, maxBytes: limits.maxTokenBytes)
        let userText = try inputIdentifier(user, field: "user", limits: limits)
        box.tokens.register(token: tokenText, user: userText, expiresAtUnixMs: expiryUnixMs == 0 ? nil : expiryUnixMs)
        return IMR_OK
    }
}

@c @implementation
public func imr_server_remove_token(_ server: OpaquePointer?, _ token: UnsafePointer<CChar>?) -> Int32 {
    abiCall { () throws(ABIFailure) -> Int32 in
        guard let server else { throw ABIFailure(IMR_ERR_NULL) }
        let box = object(server, as: ServerBox.self)
        let tokenText = try inputString(token, maxBytes: box.engine.config.limits.maxTokenBytes)
        return box.tokens.revoke(token: tokenText) ? IMR_OK : IMR_ERR_NOT_FOUND
    }
}

@c @implementation
public func imr_server_set_wall_clock(_ server: OpaquePointer?, _ unixMs: UInt64, _ nowMs: UInt64) -> Int32 {
    guard nowMs <= maxTimeMs, unixMs <= maxTimeMs else { return IMR_ERR_INVALID_ARG }
    guard let server else { return IMR_ERR_NULL }
    object(server, as: ServerBox.self).engine.setWallClock(unixMs: unixMs, now: nowMs)
    return IMR_OK
}

@c @implementation
public func imr_server_create_conversation(_ server: OpaquePointer?, _ conversation: UnsafePointer<CChar>?,
                                           _ members: UnsafePointer<UnsafePointer<CChar>?>?, _ nMembers: Int) -> Int32 {
    abiCall { () throws(ABIFailure) -> Int32 in
        guard let server else { throw ABIFailure(IMR_ERR_NULL) }
        let box = object(server, as: ServerBox.self)
        let limits = box.engine.config.limits
        let id = try inputString(conversation, maxBytes: limits.maxIdentifierBytes)
        let n = try checkedSize(nMembers)
        guard n <= box.engine.config.maxMembersPerConversation else { throw ABIFailure(IMR_ERR_TOO_LARGE) }
        var list: [String] = []
        if n > 0 {
            guard let members else { throw ABIFailure(IMR_ERR_NULL) }
            list.reserveCapacity(n)
            for i in 0..<n { list.append(try inputString(members[i], maxBytes: limits.maxIdentifierBytes)) }
        }
        do { try box.engine.createConversation(id, members: list) } catch { throw ABIFailure(errorCode(error)) }
        return IMR_OK
    }
}

/// add_member / remove_member.
private func changeMember(_ server: OpaquePointer?, _ conversation: UnsafePointer<CChar>?, _ user: UnsafePointer<CChar>?,
                          adding: Bool) -> Int32 {
    abiCall { () throws(ABIFailure) -> Int32 in
        guard let server else { throw ABIFailure(IMR_ERR_NULL) }
        let box = object(server, as: ServerBox.self)
        let limits = box.engine.config.limits
        let id = try inputString(conversation, maxBytes: limits.maxIdentifierBytes)
        let member = try inputString(user, maxBytes: limits.maxIdentifierBytes)
        do {
            if adding { try box.engine.addMember(member, to: id) } else { try box.engine.removeMember(member, from: id) }
        } catch {
            throw ABIFailure(errorCode(error))
        }
        return IMR_OK
    }
}

@c @implementation
public func imr_server_add_member(_ server: OpaquePointer?, _ conversation: UnsafePointer<CChar>?, _ user: UnsafePointer<CChar>?) -> Int32 {
    changeMember(server, conversation, user, adding: true)
}

@c @implementation
public func imr_server_remove_member(_ server: OpaquePointer?, _ conversation: UnsafePointer<CChar>?, _ user: UnsafePointer<CChar>?) -> Int32 {
    changeMember(server, conversation, user, adding: false)
}

/// IMR_ROLE_* as the engine's role; nil for any other value.
private func memberRole(_ role: Int32) -> MemberRole? {
    switch role {
    case IMR_ROLE_MEMBER: MemberRole.member
    case IMR_ROLE_OWNER: MemberRole.owner
    default: nil
    }
}

@c @implementation
public func imr_server_set_role(_ server: OpaquePointer?, _ conversation: UnsafePointer<CChar>?, _ user: UnsafePointer<CChar>?,
                                _ role: Int32) -> Int32 {
    abiCall { () throws(ABIFailure) -> Int32 in
        guard let server else { throw ABIFailure(IMR_ERR_NULL) }
        let box = object(server, as: ServerBox.self)
        let limits = box.engine.config.limits
        let id = try inputString(conversation, maxBytes: limits.maxIdentifierBytes)
        let member = try inputString(user, maxBytes: limits.maxIdentifierBytes)
        guard let memberRole = memberRole(role) else { throw ABIFailure(IMR_ERR_INVALID_ARG) }
        do { try box.engine.addMember(member, to: id, role: memberRole) } catch { throw ABIFailure(errorCode(error)) }
        return IMR_OK
    }
}

@c @implementation
public func imr_server_member_role(_ server: OpaquePointer?, _ conversation: UnsafePointer<CChar>?, _ user: UnsafePointer<CChar>?,
                                   _ outRole: UnsafeMutablePointer<Int32>?) -> Int32 {
    abiCall { () throws(ABIFailure) -> Int32 in
        guard let server, let outRole else { throw ABIFailure(IMR_ERR_NULL) }
        let box = object(server, as: ServerBox.self)
        let limits = box.engine.config.limits
        let id = try inputIdentifier(conversation, field: "conversation", limits: limits)
        let member = try inputIdentifier(user, field: "user", limits: limits)
        let role: Int32
        do {
            guard let found = try box.engine.role(of: member, in: id) else { throw ABIFailure(IMR_ERR_NOT_FOUND) }
            role = found == .owner ? IMR_ROLE_OWNER : IMR_ROLE_MEMBER
        } catch let failure as ABIFailure {
            throw failure
        } catch {
            throw ABIFailure(errorCode(error))
        }
        outRole.pointee = role
        return IMR_OK
    }
}

@c @implementation
public func imr_server_open_session(_ server: OpaquePointer?, _ outSession: UnsafeMutablePointer<UInt64>?, _ nowMs: UInt64) -> Int32 {
    guard nowMs <= maxTimeMs else { return IMR_ERR_INVALID_ARG }
    guard let server, let outSession else { return IMR_ERR_NULL }
    outSession.pointee = object(server, as: ServerBox.self).engine.openSession(now: nowMs).rawValue
    return IMR_OK
}

@c @implementation
public func imr_server_close_session(_ server: OpaquePointer?, _ session: UInt64, _ nowMs: UInt64) -> Int32 {
    guard nowMs <= maxTimeMs else { return IMR_ERR_INVALID_ARG }
    guard let server else { return IMR_ERR_NULL }
    object(server, as: ServerBox.self).engine.closeSession(SessionID(rawValue: session), now: nowMs)
    return IMR_OK
}

@c @implementation
public func imr_server_set_writable(_ server: OpaquePointer?, _ session: UInt64, _ writable: Int32, _ nowMs: UInt64) -> Int32 {
    guard nowMs <= maxTimeMs else { return IMR_ERR_INVALID_ARG }
    guard let server else { return IMR_ERR_NULL }
    guard writable == 0 || writable == 1 else { return IMR_ERR_INVALID_ARG }
    object(server, as: ServerBox.self).engine.setWritable(SessionID(rawValue: session), writable == 1, now: nowMs)
    return IMR_OK
}

@c @implementation
public func imr_server_set_backlog(_ server: OpaquePointer?, _ session: UInt64, _ bytes: UInt64, _ nowMs: UInt64) -> Int32 {
    guard nowMs <= maxTimeMs else { return IMR_ERR_INVALID_ARG }
    guard let server else { return IMR_ERR_NULL }
    guard bytes <= UInt64(Int64.max) else { return IMR_ERR_INVALID_ARG }
    object(server, as: ServerBox.self).engine.setBacklog(SessionID(rawValue: session), bytes: Int(clamping: bytes), now: nowMs)
    return IMR_OK
}

@c @implementation
public func imr_server_input_paused(_ server: OpaquePointer?, _ session: UInt64) -> Int32 {
    guard let server else { return IMR_ERR_NULL }
    return object(server, as: ServerBox.self).engine.isInputPaused(SessionID(rawValue: session)) ? 1 : 0
}

@c @implementation
public func imr_server_handle_frame(_ server: OpaquePointer?, _ session: UInt64, _ frame: UnsafePointer<UInt8>?,
                                    _ len: Int, _ nowMs: UInt64) -> Int32 {
    guard nowMs <= maxTimeMs else { return IMR_ERR_INVALID_ARG }
    return abiCall { () throws(ABIFailure) -> Int32 in
        guard let server else { throw ABIFailure(IMR_ERR_NULL) }
        let bytes = try inputBytes(frame, len)
        object(server, as: ServerBox.self).engine.handle(frameBytes: bytes, from: SessionID(rawValue: session), now: nowMs)
        return IMR_OK
    }
}

@c @implementation
public func imr_server_handle_stream_error(_ server: OpaquePointer?, _ session: UInt64, _ error: Int32, _ nowMs: UInt64) -> Int32 {
    guard nowMs <= maxTimeMs else { return IMR_ERR_INVALID_ARG }
    guard let server else { return IMR_ERR_NULL }
    let engine = object(server, as: ServerBox.self).engine
    let limit = engine.config.limits.maxFrameBytes
    let wire: WireError
    switch error {
    case IMR_ERR_FRAME_TOO_LARGE: wire = .frameTooLarge(limit &+ 1, limit: limit)
    case IMR_ERR_MALFORMED_LENGTH: wire = .malformedLength
    case IMR_ERR_STREAM_FAILED: wire = .streamFailed
    default: return IMR_ERR_INVALID_ARG
    }
    engine.handleStreamError(wire, from: SessionID(rawValue: session), now: nowMs)
    return IMR_OK
}

@c @implementation
public func imr_server_poll_output(_ server: OpaquePointer?, _ outSession: UnsafeMutablePointer<UInt64>?,
                                   _ outFrame: UnsafeMutablePointer<UnsafePointer<UInt8>?>?,
                                   _ outLen: UnsafeMutablePointer<Int>?, _ outClose: UnsafeMutablePointer<Int32>?) -> Int32 {
    guard let server, let outSession, let outFrame, let outLen, let outClose else { return IMR_ERR_NULL }
    let box = object(server, as: ServerBox.self)
    guard let output = box.engine.pollOutput() else { return 0 }
    switch output {
    case let .frame(session, bytes):
        box.frame.set(bytes)
        outSession.pointee = session.rawValue
        outFrame.pointee = box.frame.bytePointer
        outLen.pointee = box.frame.count
        outClose.pointee = 0
    case let .close(session):
        outSession.pointee = session.rawValue
        outFrame.pointee = nil
        outLen.pointee = 0
        outClose.pointee = 1
    }
    return 1
}

@c @implementation
public func imr_server_poll_event(_ server: OpaquePointer?, _ outEvent: UnsafeMutablePointer<imr_event>?) -> Int32 {
    guard let server, let outEvent else { return IMR_ERR_NULL }
    let box = object(server, as: ServerBox.self)
    guard let event = box.engine.pollEvent() else { return 0 }
    var e: EventBuilder
    switch event {
    case let .authenticated(session, user, node):
        e = EventBuilder(kind: IMR_EVENT_SESSION_AUTHENTICATED, storage: box.events)
        e.session(session); e.user(user); e.event.node = node
    case let .authenticationFailed(session, code):
        e = EventBuilder(kind: IMR_EVENT_AUTHENTICATION_FAILED, storage: box.events)
        e.session(session); e.event.code = Int32(truncatingIfNeeded: code.rawValue)
    case let .accepted(conversation, seq, messageID, sender):
        e = EventBuilder(kind: IMR_EVENT_MESSAGE_ACCEPTED, storage: box.events)
        e.conversation(conversation); e.event.seq = seq; e.messageID(messageID); e.user(sender)
    case let .duplicateAcknowledged(conversation, seq, messageID):
        e = EventBuilder(kind: IMR_EVENT_DUPLICATE_ACKNOWLEDGED, storage: box.events)
        e.conversation(conversation); e.event.seq = seq; e.messageID(messageID)
    case let .rejected(session, messageID, code):
        e = EventBuilder(kind: IMR_EVENT_SEND_REJECTED, storage: box.events)
        e.session(session); e.messageID(messageID); e.event.code = Int32(truncatingIfNeeded: code.rawValue)
    case let .sessionBehind(session):
        e = EventBuilder(kind: IMR_EVENT_SESSION_BEHIND, storage: box.events)
        e.session(session)
    case let .sessionRecovered(session):
        e = EventBuilder(kind: IMR_EVENT_SESSION_RECOVERED, storage: box.events)
        e.session(session)
    case let .sessionClosed(session, reason):
        e = EventBuilder(kind: IMR_EVENT_SESSION_CLOSED, storage: box.events)
        e.session(session); e.detail(reason)
    case let .protocolViolation(session, detail):
        e = EventBuilder(kind: IMR_EVENT_PROTOCOL_VIOLATION, storage: box.events)
        e.session(session); e.detail(detail)
    case let .storeFailure(detail):
        e = EventBuilder(kind: IMR_EVENT_STORE_FAILURE, storage: box.events)
        e.detail(detail)
    case let .membershipChanged(conversation, members):
        e = EventBuilder(kind: IMR_EVENT_MEMBERSHIP_CHANGED, storage: box.events)
        e.conversation(conversation); e.payload(strings: members)
        e.event.code = Int32(clamping: members.count)
    }
    outEvent.pointee = e.event
    return 1
}

@c @implementation
public func imr_server_next_timeout(_ server: OpaquePointer?, _ outDeadline: UnsafeMutablePointer<UInt64>?) -> Int32 {
    guard let server, let outDeadline else { return IMR_ERR_NULL }
    guard let deadline = object(server, as: ServerBox.self).engine.nextTimeout else { return 0 }
    outDeadline.pointee = deadline
    return 1
}

@c @implementation
public func imr_server_handle_timeout(_ server: OpaquePointer?, _ nowMs: UInt64) -> Int32 {
    guard nowMs <= maxTimeMs else { return IMR_ERR_INVALID_ARG }
    guard let server else { return IMR_ERR_NULL }
    object(server, as: ServerBox.self).engine.handleTimeout(now: nowMs)
    return IMR_OK
}
