import CIMR
import IMRCore

/// The object behind an imr_client handle.
final class ClientBox {
    let engine: ClientEngine
    /// Encodes the clocks of events and timeline entries.
    let codec: FrameCodec
    /// The frame last handed out by imr_client_poll_transmit.
    let frame = OwnedBytes(capacity: 256)
    let events = EventStorage()
    /// The strings and bytes of the last outbox or timeline query.
    let query = OwnedBytes()

    init(engine: ClientEngine) {
        self.engine = engine
        codec = FrameCodec(limits: engine.config.limits)
    }
}

/// The engine's configuration: its defaults, overridden by the keys set.
private func clientConfig(_ c: ConfigBox) throws(ABIFailure) -> ClientConfig {
    var config = ClientConfig(nodeID: c.u64(IMR_CONFIG_NODE_ID) ?? 0, token: c.string(IMR_CONFIG_TOKEN) ?? "")
    config.limits = try c.limits()
    if let v = c.string(IMR_CONFIG_USER_ID) { config.userID = v }
    if let v = c.u64(IMR_CONFIG_ACK_TIMEOUT_MS) { config.ackTimeoutBaseMs = v }
    if let v = c.double(IMR_CONFIG_BACKOFF_FACTOR) { config.backoffFactor = v }
    if let v = c.u64(IMR_CONFIG_BACKOFF_CAP_MS) { config.backoffCapMs = v }
    if let v = c.double(IMR_CONFIG_JITTER) { config.jitter = v }
    if let v = c.int(IMR_CONFIG_MAX_ATTEMPTS) { config.maxAttempts = v }
    if let v = c.u64(IMR_CONFIG_MAX_OFFLINE_AGE_MS) { config.maxOfflineAgeMs = v }
    if let v = c.int(IMR_CONFIG_INFLIGHT_WINDOW) { config.inflightWindow = v }
    if let v = c.u64(IMR_CONFIG_SEED) { config.seed = v }
    if let v = c.int(IMR_CONFIG_SENT_RETENTION) { config.sentRetention = v }
    if let v = c.string(IMR_CONFIG_STORE_PATH) { config.storePath = v }
    if let v = c.u64(IMR_CONFIG_STORE_DURABILITY) {
        config.storeDurability = v == UInt64(IMR_DURABILITY_PROCESS_CRASH) ? .processCrash : .powerLoss
    }
    if let v = c.u64(IMR_CONFIG_GAP_GRACE_MS) { config.gapGraceMs = v }
    if let v = c.uint32(IMR_CONFIG_SYNC_PAGE_SIZE) { config.syncPageSize = v }
    if let v = c.u64(IMR_CONFIG_SYNC_TIMEOUT_MS) { config.syncTimeoutMs = v }
    if let v = c.u64(IMR_CONFIG_POLL_INTERVAL_MS) { config.pollIntervalMs = v }
    if let v = c.int(IMR_CONFIG_MAX_SYNC_PAGES) { config.maxSyncPagesPerCycle = v }
    if let v = c.u64(IMR_CONFIG_DELIVERED_FLUSH_MS) { config.deliveredFlushMs = v }
    if let v = c.int(IMR_CONFIG_MAX_BUFFERED) { config.maxBufferedPerConversation = v }
    if let v = c.u64(IMR_CONFIG_HISTORY_ORDER) { config.historyOrder = v == UInt64(IMR_HISTORY_ARRIVAL) ? .arrival : .causal }
    return config
}

@c @implementation
public func imr_client_new(_ config: OpaquePointer?, _ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    abiCall { () throws(ABIFailure) -> Int32 in
        guard let config, let out else { throw ABIFailure(IMR_ERR_NULL) }
        let engineConfig = try clientConfig(object(config, as: ConfigBox.self))
        let engine: ClientEngine
        do {
            engine = try ClientEngine(config: engineConfig)
        } catch {
            throw ABIFailure(errorCode(error))
        }
        out.pointee = makeHandle(ClientBox(engine: engine))
        return IMR_OK
    }
}

@c @implementation
public func imr_client_free(_ client: OpaquePointer?) {
    releaseHandle(client, as: ClientBox.self)
}

/// An input that carries only the time: the time and the handle checked, then the call.
private func timeInput(_ client: OpaquePointer?, _ nowMs: UInt64, _ input: (ClientEngine) -> Void) -> Int32 {
    guard nowMs <= maxTimeMs else { return IMR_ERR_INVALID_ARG }
    guard let client else { return IMR_ERR_NULL }
    withObject(client, as: ClientBox.self) { input($0.engine) }
    return IMR_OK
}

@c @implementation
public func imr_client_connected(_ client: OpaquePointer?, _ nowMs: UInt64) -> Int32 {
    timeInput(client, nowMs) { $0.connected(now: nowMs) }
}

@c @implementation
public func imr_client_disconnected(_ client: OpaquePointer?, _ nowMs: UInt64) -> Int32 {
    timeInput(client, nowMs) { $0.disconnected(now: nowMs) }
}

@c @implementation
public func imr_client_send(_ client: OpaquePointer?, _ conversation: UnsafePointer<CChar>?, _ payload: UnsafePointer<UInt8>?,
                            _ payloadLen: Int, _ outID: UnsafeMutablePointer<UInt8>?, _ nowMs: UInt64) -> Int32 {
    guard nowMs <= maxTimeMs else { return IMR_ERR_INVALID_ARG }
    return abiCall { () throws(ABIFailure) -> Int32 in
        guard let client, let outID else { throw ABIFailure(IMR_ERR_NULL) }
        let id = try withObject(client, as: ClientBox.self) { box throws(ABIFailure) -> MessageID in
            let limits = box.engine.config.limits
            let name = try inputIdentifier(conversation, field: "conversation", limits: limits)
            let bytes = try inputBytes(payload, payloadLen)
            guard bytes.count <= limits.maxPayloadBytes else { throw ABIFailure(IMR_ERR_TOO_LARGE) }
            do {
                return try box.engine.send(conversation: name, payload: bytes.assumingMemoryBound(to: UInt8.self), now: nowMs)
            } catch {
                throw ABIFailure(errorCode(error))
            }
        }
        id.writeBytes(into: UnsafeMutableRawPointer(outID))
        return IMR_OK
    }
}

/// The 16 bytes of a message id argument.
private func inputMessageID(_ p: UnsafePointer<UInt8>?) throws(ABIFailure) -> MessageID {
    guard let p, let id = MessageID(bytes: UnsafeBufferPointer(start: p, count: MessageID.byteCount)) else {
        throw ABIFailure(IMR_ERR_NULL)
    }
    return id
}

@c @implementation
public func imr_client_retry(_ client: OpaquePointer?, _ messageID: UnsafePointer<UInt8>?, _ nowMs: UInt64) -> Int32 {
    guard nowMs <= maxTimeMs else { return IMR_ERR_INVALID_ARG }
    return abiCall { () throws(ABIFailure) -> Int32 in
        guard let client else { throw ABIFailure(IMR_ERR_NULL) }
        let id = try inputMessageID(messageID)
        do {
            try object(client, as: ClientBox.self).engine.retry(id, now: nowMs)
        } catch {
            throw ABIFailure(errorCode(error))
        }
        return IMR_OK
    }
}

@c @implementation
public func imr_client_handle_frame(_ client: OpaquePointer?, _ frame: UnsafePointer<UInt8>?, _ len: Int, _ nowMs: UInt64) -> Int32 {
    guard nowMs <= maxTimeMs else { return IMR_ERR_INVALID_ARG }
    return abiCall { () throws(ABIFailure) -> Int32 in
        guard let client else { throw ABIFailure(IMR_ERR_NULL) }
        let bytes = try inputBytes(frame, len)
        try withObject(client, as: ClientBox.self) { box throws(ABIFailure) in
            do {
                try box.engine.handle(frameBytes: bytes, now: nowMs)
            } catch {
                throw ABIFailure(errorCode(error))
            }
        }
        return IMR_OK
    }
}

@c @implementation
public func imr_client_handle_timeout(_ client: OpaquePointer?, _ nowMs: UInt64) -> Int32 {
    timeInput(client, nowMs) { $0.handleTimeout(now: nowMs) }
}

@c @implementation
public func imr_client_probe(_ client: OpaquePointer?, _ nowMs: UInt64) -> Int32 {
    timeInput(client, nowMs) { $0.probe(now: nowMs) }
}

@c @implementation
public func imr_client_poll_transmit(_ client: OpaquePointer?, _ outFrame: UnsafeMutablePointer<UnsafePointer<UInt8>?>?,
                                     _ outLen: UnsafeMutablePointer<Int>?) -> Int32 {
    guard let client, let outFrame, let outLen else { return IMR_ERR_NULL }
    return withObject(client, as: ClientBox.self) { box in
        // Copied once, from the engine's scratch space into the frame the caller borrows.
        guard box.engine.pollTransmit({ box.frame.set($0) }) != nil else { return 0 }
        outFrame.pointee = box.frame.bytePointer
        outLen.pointee = box.frame.count
        return 1
    }
}

@c @implementation
public func imr_client_poll_event(_ client: OpaquePointer?, _ outEvent: UnsafeMutablePointer<imr_event>?) -> Int32 {
    guard let client, let outEvent else { return IMR_ERR_NULL }
    return withObject(client, as: ClientBox.self) { box in
        guard let event = box.engine.pollEvent() else { return 0 }
        var e: EventBuilder
        switch consume event {
        case .connectionReady:
            e = EventBuilder(kind: IMR_EVENT_CONNECTION_READY, storage: box.events)
        case let .stateChanged(id, conversation, state):
            switch state {
            case .sending:
                e = EventBuilder(kind: IMR_EVENT_MESSAGE_SENDING, storage: box.events)
            case let .sent(seq, serverTimeMs):
                e = EventBuilder(kind: IMR_EVENT_MESSAGE_SENT, storage: box.events)
                e.event.seq = seq; e.event.server_time_ms = serverTimeMs
            case let .failed(reason):
                e = EventBuilder(kind: IMR_EVENT_MESSAGE_FAILED, storage: box.events)
                (e.event.code, e.event.detail_code) = failureCodes(reason)
            }
            e.messageID(id); e.conversation(conversation)
        case let .messageReceived(conversation, seq, id, senderUser, senderNode, payload, clock, liveIndex):
            e = EventBuilder(kind: IMR_EVENT_MESSAGE_RECEIVED, storage: box.events)
            e.conversation(conversation); e.event.seq = seq; e.messageID(id); e.user(senderUser)
            e.event.node = senderNode; e.payload(payload); e.event.live_index = UInt64(clamping: liveIndex)
            e.clock(clock, codec: box.codec)
        case let .ownMessageConfirmed(conversation, id, seq, serverTimeMs, liveIndex):
            e = EventBuilder(kind: IMR_EVENT_OWN_MESSAGE_CONFIRMED, storage: box.events)
            e.conversation(conversation); e.messageID(id); e.event.seq = seq; e.event.server_time_ms = serverTimeMs
            e.event.live_index = UInt64(clamping: liveIndex)
        case let .gapOpened(conversation, from, to):
            e = EventBuilder(kind: IMR_EVENT_GAP_OPENED, storage: box.events)
            e.conversation(conversation); e.event.seq = from; e.event.seq_end = to
        case let .gapFilled(conversation, from, to):
            e = EventBuilder(kind: IMR_EVENT_GAP_FILLED, storage: box.events)
            e.conversation(conversation); e.event.seq = from; e.event.seq_end = to
        case let .syncStarted(conversation):
            e = EventBuilder(kind: IMR_EVENT_SYNC_STARTED, storage: box.events)
            e.conversation(conversation)
        case let .syncFinished(conversation):
            e = EventBuilder(kind: IMR_EVENT_SYNC_FINISHED, storage: box.events)
            e.conversation(conversation)
        case let .receipt(receipt):
            e = EventBuilder(kind: IMR_EVENT_RECEIPT, storage: box.events)
            e.conversation(receipt.conversation); e.user(receipt.user); e.event.seq = receipt.deliveredSeq
            if let read = receipt.readSeq { e.event.seq_end = read; e.event.flags |= IMR_EVENT_FLAG_HAS_READ }
        case let .error(error):
            if case let .server(code, detail, fatal) = error {
                e = EventBuilder(kind: IMR_EVENT_SERVER_ERROR, storage: box.events)
                e.event.code = Int32(truncatingIfNeeded: code.rawValue); e.detail(detail)
                if fatal { e.event.flags |= IMR_EVENT_FLAG_FATAL }
            } else {
                e = EventBuilder(kind: IMR_EVENT_ERROR, storage: box.events)
                e.event.code = errorCode(error); e.detail(error.description)
            }
        }
        outEvent.pointee = e.event
        return 1
    }
}

/// IMR_FAILURE_* and the reject code of a failure reason.
private func failureCodes(_ reason: FailureReason) -> (Int32, UInt64) {
    switch reason {
    case .attemptsExhausted: return (IMR_FAILURE_ATTEMPTS_EXHAUSTED, 0)
    case .maxOfflineAge: return (IMR_FAILURE_MAX_OFFLINE_AGE, 0)
    case let .rejected(code): return (IMR_FAILURE_REJECTED, UInt64(code.rawValue))
    }
}

@c @implementation
public func imr_client_next_timeout(_ client: OpaquePointer?, _ outDeadline: UnsafeMutablePointer<UInt64>?) -> Int32 {
    guard let client, let outDeadline else { return IMR_ERR_NULL }
    guard let deadline = withObject(client, as: ClientBox.self, { $0.engine.nextTimeout }) else { return 0 }
    outDeadline.pointee = deadline
    return 1
}

/// Writes a message id into a C `uint8_t[16]` field.
private func write(_ id: MessageID, into field: inout (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                                                      UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8)) {
    withUnsafeMutableBytes(of: &field) { raw in
        if let p = raw.baseAddress, raw.count >= MessageID.byteCount { id.writeBytes(into: p) }
    }
}

@c @implementation
public func imr_client_outbox(_ client: OpaquePointer?, _ entries: UnsafeMutablePointer<imr_outbox_entry>?, _ cap: Int) -> imr_ssize {
    abiSizeCall { () throws(ABIFailure) -> Int in
        guard let client else { throw ABIFailure(IMR_ERR_NULL) }
        let capacity = try checkedSize(cap)
        let box = object(client, as: ClientBox.self)
        let outbox = box.engine.outbox()
        let n = min(capacity, outbox.count)
        guard n > 0 else { return outbox.count }
        guard let entries else { throw ABIFailure(IMR_ERR_NULL) }
        var pack = TextPack()
        let names = outbox[..<n].map { pack.add($0.conversation) }
        let base = pack.store(in: box.query)
        for (i, item) in outbox[..<n].enumerated() {
            var out = imr_outbox_entry()
            write(item.id, into: &out.message_id)
            switch item.state {
            case .sending:
                out.state = IMR_STATE_SENDING
            case let .sent(seq, serverTimeMs):
                out.state = IMR_STATE_SENT
                out.seq = seq
                out.server_time_ms = serverTimeMs
            case let .failed(reason):
                out.state = IMR_STATE_FAILED
                let (failure, reject) = failureCodes(reason)
                out.failure = failure
                out.reject_code = UInt32(truncatingIfNeeded: reject)
            }
            if let seq = item.seq { out.seq = seq }
            out.attempts = UInt32(clamping: item.attempts)
            out.conversation = UnsafePointer((base + names[i].offset).assumingMemoryBound(to: CChar.self))
            out.conversation_len = names[i].count
            entries[i] = out
        }
        return outbox.count
    }
}

@c @implementation
public func imr_client_timeline(_ client: OpaquePointer?, _ conversation: UnsafePointer<CChar>?, _ view: Int32,
                                _ offset: Int, _ messages: UnsafeMutablePointer<imr_message>?, _ cap: Int) -> imr_ssize {
    abiSizeCall { () throws(ABIFailure) -> Int in
        guard let client else { throw ABIFailure(IMR_ERR_NULL) }
        guard view == IMR_VIEW_LIVE || view == IMR_VIEW_HISTORY else { throw ABIFailure(IMR_ERR_INVALID_ARG) }
        let start = try checkedSize(offset)
        let capacity = try checkedSize(cap)
        let box = object(client, as: ClientBox.self)
        let name = try inputIdentifier(conversation, field: "conversation", limits: box.engine.config.limits)
        guard let timeline = box.engine.timeline(name) else { throw ABIFailure(IMR_ERR_NOT_FOUND) }
        let count = timeline.count
        guard start < count, capacity > 0 else { return count }
        guard let messages else { throw ABIFailure(IMR_ERR_NULL) }
        // Only the page is built: paging through a long timeline costs each page, not the timeline.
        let page = start..<(start + min(capacity, count - start))
        let slice = view == IMR_VIEW_LIVE ? timeline.live(in: page) : timeline.history(in: page)
        var pack = TextPack()
        var spans: [(sender: TextPack.Span, payload: TextPack.Span, clock: TextPack.Span)] = []
        spans.reserveCapacity(slice.count)
        for entry in slice {
            let clock = (try? box.codec.encode(entry.clock)) ?? []
            spans.append((pack.add(entry.senderUser), pack.add(bytes: entry.payload), pack.add(bytes: clock)))
        }
        let base = pack.store(in: box.query)
        for (i, entry) in slice.enumerated() {
            var out = imr_message()
            write(entry.messageID, into: &out.message_id)
            out.seq = entry.seq ?? 0
            out.server_time_ms = entry.serverTimeMs ?? 0
            out.sender_node = entry.senderNode
            out.depth = entry.clock.causalDepth
            let span = spans[i]
            out.sender = UnsafePointer((base + span.sender.offset).assumingMemoryBound(to: CChar.self))
            out.sender_len = span.sender.count
            out.payload = UnsafePointer((base + span.payload.offset).assumingMemoryBound(to: UInt8.self))
            out.payload_len = span.payload.count
            out.clock = UnsafePointer((base + span.clock.offset).assumingMemoryBound(to: UInt8.self))
            out.clock_len = span.clock.count
            messages[i] = out
        }
        return count
    }
}

@c @implementation
public func imr_client_cursor(_ client: OpaquePointer?, _ conversation: UnsafePointer<CChar>?, _ outCursor: UnsafeMutablePointer<UInt64>?) -> Int32 {
    abiCall { () throws(ABIFailure) -> Int32 in
        guard let client, let outCursor else { throw ABIFailure(IMR_ERR_NULL) }
        let box = object(client, as: ClientBox.self)
        let name = try inputIdentifier(conversation, field: "conversation", limits: box.engine.config.limits)
        outCursor.pointee = box.engine.cursor(name)
        return IMR_OK
    }
}

@c @implementation
public func imr_client_clock(_ client: OpaquePointer?, _ conversation: UnsafePointer<CChar>?, _ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    abiCall { () throws(ABIFailure) -> Int32 in
        guard let client, let out else { throw ABIFailure(IMR_ERR_NULL) }
        let box = object(client, as: ClientBox.self)
        let name = try inputIdentifier(conversation, field: "conversation", limits: box.engine.config.limits)
        out.pointee = makeHandle(ClockBox(box.engine.clock(name)))
        return IMR_OK
    }
}
