import CProtobufC
import IMRWireC
#if canImport(Glibc)
import Glibc
#endif

/// Swift frame -> protobuf-c structs in the codec's arena, validating as it goes.
extension FrameCodec {
    func cFrame(_ frame: Frame) throws(WireError) -> UnsafeMutablePointer<Imrpb__Frame> {
        let f = newFrame()
        switch frame {
        case let .hello(v):
            let m = arena.new(Imrpb__Hello.self); imrpb__hello__init(m)
            m.pointee.token = try text(v.token, "token", maxBytes: limits.maxTokenBytes, allowEmpty: true)
            m.pointee.protocol_version = v.protocolVersion
            m.pointee.device_node = v.deviceNode
            f.pointee.body_case = IMRPB__FRAME__BODY_HELLO; f.pointee.hello = m
        case let .welcome(v):
            let m = arena.new(Imrpb__Welcome.self); imrpb__welcome__init(m)
            m.pointee.user = try identifier(v.user, "user")
            m.pointee.server_time_ms = v.serverTimeMs
            let l = arena.new(Imrpb__Limits.self); imrpb__limits__init(l)
            l.pointee.max_frame_bytes = v.limits.maxFrameBytes
            l.pointee.max_payload_bytes = v.limits.maxPayloadBytes
            l.pointee.max_sync_page = v.limits.maxSyncPage
            l.pointee.max_inflight = v.limits.maxInflight
            m.pointee.limits = l
            let heads = arena.array(UnsafeMutablePointer<Imrpb__ConversationHead>?.self, count: v.conversations.count)
            for (i, head) in v.conversations.enumerated() {
                let h = arena.new(Imrpb__ConversationHead.self); imrpb__conversation_head__init(h)
                h.pointee.conversation = try identifier(head.conversation, "conversation")
                h.pointee.head_seq = head.headSeq
                heads[i] = h
            }
            m.pointee.n_conversations = v.conversations.count; m.pointee.conversations = heads
            f.pointee.body_case = IMRPB__FRAME__BODY_WELCOME; f.pointee.welcome = m
        case let .send(v):
            try v.clock.entries.withUnsafeBufferPointer { (clock) throws(WireError) in
                try v.payload.withUnsafeBufferPointer { (payload) throws(WireError) in
                    try send(into: f, conversation: v.conversation, messageID: v.messageID, clock: clock, payload: payload)
                }
            }
        case let .sendAck(v):
            let m = arena.new(Imrpb__SendAck.self); imrpb__send_ack__init(m)
            m.pointee.message_id = arena.binary(v.messageID)
            m.pointee.conversation = try identifier(v.conversation, "conversation")
            m.pointee.seq = v.seq
            m.pointee.server_time_ms = v.serverTimeMs
            m.pointee.duplicate = v.duplicate ? 1 : 0
            f.pointee.body_case = IMRPB__FRAME__BODY_SEND_ACK; f.pointee.send_ack = m
        case let .sendReject(v):
            let m = arena.new(Imrpb__SendReject.self); imrpb__send_reject__init(m)
            m.pointee.message_id = arena.binary(v.messageID)
            // Empty when the refused send named no valid conversation.
            m.pointee.conversation = try v.conversation.isEmpty
                ? text(v.conversation, "conversation", maxBytes: limits.maxIdentifierBytes, allowEmpty: true)
                : identifier(v.conversation, "conversation")
            m.pointee.code = Imrpb__RejectCode(rawValue: v.code.rawValue)
            if let retry = v.retryAfterMs {
                m.pointee.retry_case = IMRPB__SEND_REJECT__RETRY_RETRY_AFTER_MS
                m.pointee.retry_after_ms = retry
            }
            m.pointee.detail = try text(v.detail, "detail", maxBytes: limits.maxFrameBytes, allowEmpty: true)
            f.pointee.body_case = IMRPB__FRAME__BODY_SEND_REJECT; f.pointee.send_reject = m
        case let .push(v):
            f.pointee.body_case = IMRPB__FRAME__BODY_PUSH; f.pointee.push = try stored(v)
        case let .delivered(v):
            let m = arena.new(Imrpb__Delivered.self); imrpb__delivered__init(m)
            guard v.watermarks.count <= limits.maxWatermarksPerFrame else {
                throw .tooManyItems(field: "watermarks", v.watermarks.count, limit: limits.maxWatermarksPerFrame)
            }
            let marks = arena.array(UnsafeMutablePointer<Imrpb__Watermark>?.self, count: v.watermarks.count)
            for (i, mark) in v.watermarks.enumerated() {
                let w = arena.new(Imrpb__Watermark.self); imrpb__watermark__init(w)
                w.pointee.conversation = try identifier(mark.conversation, "conversation")
                w.pointee.delivered_seq = mark.deliveredSeq
                if let read = mark.readSeq {
                    w.pointee.read_case = IMRPB__WATERMARK__READ_READ_SEQ
                    w.pointee.read_seq = read
                }
                marks[i] = w
            }
            m.pointee.n_watermarks = v.watermarks.count; m.pointee.watermarks = marks
            f.pointee.body_case = IMRPB__FRAME__BODY_DELIVERED; f.pointee.delivered = m
        case let .syncRequest(v):
            let m = arena.new(Imrpb__SyncRequest.self); imrpb__sync_request__init(m)
            m.pointee.conversation = try identifier(v.conversation, "conversation")
            m.pointee.after_seq = v.afterSeq
            m.pointee.limit = v.limit
            f.pointee.body_case = IMRPB__FRAME__BODY_SYNC_REQUEST; f.pointee.sync_request = m
        case let .syncResponse(v):
            let m = arena.new(Imrpb__SyncResponse.self); imrpb__sync_response__init(m)
            m.pointee.conversation = try identifier(v.conversation, "conversation")
            let list = arena.array(UnsafeMutablePointer<Imrpb__Message>?.self, count: v.messages.count)
            for (i, message) in v.messages.enumerated() { list[i] = try stored(message) }
            m.pointee.n_messages = v.messages.count; m.pointee.messages = list
            m.pointee.head_seq = v.headSeq
            m.pointee.has_more = v.hasMore ? 1 : 0
            m.pointee.after_seq = v.afterSeq
            f.pointee.body_case = IMRPB__FRAME__BODY_SYNC_RESPONSE; f.pointee.sync_response = m
        case let .ping(nonce):
            let m = arena.new(Imrpb__Ping.self); imrpb__ping__init(m)
            m.pointee.nonce = nonce
            f.pointee.body_case = IMRPB__FRAME__BODY_PING; f.pointee.ping = m
        case let .pong(nonce):
            let m = arena.new(Imrpb__Pong.self); imrpb__pong__init(m)
            m.pointee.nonce = nonce
            f.pointee.body_case = IMRPB__FRAME__BODY_PONG; f.pointee.pong = m
        case let .error(v):
            let m = arena.new(Imrpb__Error.self); imrpb__error__init(m)
            m.pointee.code = Imrpb__ErrorCode(rawValue: v.code.rawValue)
            m.pointee.detail = try text(v.detail, "detail", maxBytes: limits.maxFrameBytes, allowEmpty: true)
            m.pointee.fatal = v.fatal ? 1 : 0
            f.pointee.body_case = IMRPB__FRAME__BODY_ERROR; f.pointee.error = m
        case let .createConversation(v):
            let m = arena.new(Imrpb__CreateConversation.self); imrpb__create_conversation__init(m)
            m.pointee.request_id = v.requestID
            m.pointee.conversation = try identifier(v.conversation, "conversation")
            m.pointee.members = try identifiers(v.members, "members")
            m.pointee.n_members = v.members.count
            f.pointee.body_case = IMRPB__FRAME__BODY_CREATE_CONVERSATION; f.pointee.create_conversation = m
        case let .addMember(v):
            let m = arena.new(Imrpb__AddMember.self); imrpb__add_member__init(m)
            m.pointee.request_id = v.requestID
            m.pointee.conversation = try identifier(v.conversation, "conversation")
            m.pointee.user = try identifier(v.user, "user")
            m.pointee.role = Imrpb__MemberRole(rawValue: v.role.rawValue)
            f.pointee.body_case = IMRPB__FRAME__BODY_ADD_MEMBER; f.pointee.add_member = m
        case let .removeMember(v):
            let m = arena.new(Imrpb__RemoveMember.self); imrpb__remove_member__init(m)
            m.pointee.request_id = v.requestID
            m.pointee.conversation = try identifier(v.conversation, "conversation")
            m.pointee.user = try identifier(v.user, "user")
            f.pointee.body_case = IMRPB__FRAME__BODY_REMOVE_MEMBER; f.pointee.remove_member = m
        case let .conversationResult(v):
            let m = arena.new(Imrpb__ConversationResult.self); imrpb__conversation_result__init(m)
            m.pointee.request_id = v.requestID
            m.pointee.conversation = try identifier(v.conversation, "conversation")
            m.pointee.code = Imrpb__ResultCode(rawValue: v.code.rawValue)
            m.pointee.members = try identifiers(v.members, "members")
            m.pointee.n_members = v.members.count
            m.pointee.head_seq = v.headSeq
            m.pointee.owners = try identifiers(v.owners, "owners")
            m.pointee.n_owners = v.owners.count
            f.pointee.body_case = IMRPB__FRAME__BODY_CONVERSATION_RESULT; f.pointee.conversation_result = m
        case let .receipt(v):
            let m = arena.new(Imrpb__Receipt.self); imrpb__receipt__init(m)
            m.pointee.conversation = try identifier(v.conversation, "conversation")
            m.pointee.user = try identifier(v.user, "user")
            m.pointee.delivered_seq = v.deliveredSeq
            if let read = v.readSeq {
                m.pointee.read_case = IMRPB__RECEIPT__READ_READ_SEQ
                m.pointee.read_seq = read
            }
            f.pointee.body_case = IMRPB__FRAME__BODY_RECEIPT; f.pointee.receipt = m
        }
        return f
    }

    /// A send frame from its parts, read in place (a timeline's stored message, say).
    func cSendFrame(conversation: String, checkedName: UnsafeMutablePointer<CChar>?, messageID: MessageID,
                    clock: UnsafeBufferPointer<VectorClock.Entry>,
                    payload: UnsafeBufferPointer<UInt8>) throws(WireError) -> UnsafeMutablePointer<Imrpb__Frame> {
        let f = newFrame()
        try send(into: f, conversation: conversation, checkedName: checkedName, messageID: messageID, clock: clock, payload: payload)
        return f
    }

    /// An empty frame of this wire version, in the arena.
    private func newFrame() -> UnsafeMutablePointer<Imrpb__Frame> {
        let f = arena.new(Imrpb__Frame.self)
        imrpb__frame__init(f)
        f.pointee.version = Frame.wireVersion
        return f
    }

    private func send(into f: UnsafeMutablePointer<Imrpb__Frame>, conversation: String, checkedName: UnsafeMutablePointer<CChar>? = nil,
                      messageID: MessageID, clock entries: UnsafeBufferPointer<VectorClock.Entry>,
                      payload bytes: UnsafeBufferPointer<UInt8>) throws(WireError) {
        let m = arena.new(Imrpb__Send.self); imrpb__send__init(m)
        if let checkedName {
            m.pointee.conversation = checkedName
        } else {
            m.pointee.conversation = try identifier(conversation, "conversation")
        }
        m.pointee.message_id = arena.binary(messageID)
        m.pointee.clock = try clock(entries)
        m.pointee.payload = try payload(bytes)
        f.pointee.body_case = IMRPB__FRAME__BODY_SEND; f.pointee.send = m
    }

    private func stored(_ v: StoredMessage) throws(WireError) -> UnsafeMutablePointer<Imrpb__Message> {
        let m = arena.new(Imrpb__Message.self); imrpb__message__init(m)
        m.pointee.conversation = try identifier(v.conversation, "conversation")
        m.pointee.seq = v.seq
        m.pointee.server_time_ms = v.serverTimeMs
        m.pointee.sender_user = try identifier(v.senderUser, "sender_user")
        m.pointee.sender_node = v.senderNode
        m.pointee.message_id = arena.binary(v.messageID)
        m.pointee.clock = try clock(v.clock)
        m.pointee.payload = try payload(v.payload)
        return m
    }

    /// The clock's sub-message; none for the empty clock (the default, so not written).
    func clock(_ v: VectorClock) throws(WireError) -> UnsafeMutablePointer<Imrpb__VectorClock>? {
        try v.entries.withUnsafeBufferPointer { (entries) throws(WireError) in try clock(entries) }
    }

    /// `clock(_:)` of a clock's entries (canonical: sorted by node, no zero counter).
    func clock(_ entries: UnsafeBufferPointer<VectorClock.Entry>) throws(WireError) -> UnsafeMutablePointer<Imrpb__VectorClock>? {
        let n = entries.count
        guard n <= limits.maxClockEntries else {
            throw .invalidClock(.tooManyEntries(n, limit: limits.maxClockEntries))
        }
        if n == 0 { return nil }
        let c = arena.new(Imrpb__VectorClock.self); imrpb__vector_clock__init(c)
        let nodes = arena.array(UInt64.self, count: n)
        let counters = arena.array(UInt64.self, count: n)
        for i in 0..<n {
            nodes[i] = entries[i].node
            counters[i] = entries[i].counter
        }
        c.pointee.n_nodes = n; c.pointee.nodes = nodes
        c.pointee.n_counters = n; c.pointee.counters = counters
        return c
    }

    private func payload(_ bytes: [UInt8]) throws(WireError) -> ProtobufCBinaryData {
        try bytes.withUnsafeBufferPointer { (b) throws(WireError) in try payload(b) }
    }

    private func payload(_ bytes: UnsafeBufferPointer<UInt8>) throws(WireError) -> ProtobufCBinaryData {
        guard bytes.count <= limits.maxPayloadBytes else { throw .payloadTooLarge(bytes.count, limit: limits.maxPayloadBytes) }
        return arena.binary(bytes)
    }

    private func identifier(_ s: String, _ field: String) throws(WireError) -> UnsafeMutablePointer<CChar> {
        let copy = try text(s, field, maxBytes: limits.maxIdentifierBytes, allowEmpty: false)
        // The decoder refuses a name not in NFC: so does the encoder, or a frame could leave
        // that its peer must refuse.
        let bytes = UnsafeBufferPointer(start: UnsafeRawPointer(copy).assumingMemoryBound(to: UInt8.self), count: strlen(copy))
        guard IdentifierRules.isNFC(utf8: bytes) else { throw .invalidIdentifier(field: field, .notNFC) }
        return copy
    }

    private func identifiers(_ list: [String], _ field: String) throws(WireError) -> UnsafeMutablePointer<UnsafeMutablePointer<CChar>?> {
        guard list.count <= limits.maxMembersPerFrame else { throw .tooManyItems(field: field, list.count, limit: limits.maxMembersPerFrame) }
        let out = arena.array(UnsafeMutablePointer<CChar>?.self, count: list.count)
        for (i, s) in list.enumerated() { out[i] = try identifier(s, field) }
        return out
    }

    /// Validates `s` and copies it, NUL-terminated, into the arena: one pass over its UTF-8.
    private func text(_ s: String, _ field: String, maxBytes: Int, allowEmpty: Bool) throws(WireError) -> UnsafeMutablePointer<CChar> {
        var s = s
        let arena = self.arena
        let (copy, problem) = s.withUTF8 { utf8 -> (UnsafeMutablePointer<CChar>?, WireError.IdentifierProblem?) in
            let n = utf8.count
            let containsNUL = n > 0 && memchr(utf8.baseAddress!, 0, n) != nil
            if let problem = IdentifierRules.problem(utf8Count: n, containsNUL: containsNUL, maxBytes: maxBytes, allowEmpty: allowEmpty) {
                return (nil, problem)
            }
            let p = arena.allocate(n + 1).assumingMemoryBound(to: UInt8.self)
            if n > 0 { p.update(from: utf8.baseAddress!, count: n) }
            p[n] = 0
            return (UnsafeMutableRawPointer(p).assumingMemoryBound(to: CChar.self), nil)
        }
        if let problem { throw .invalidIdentifier(field: field, problem) }
        return copy!
    }
}
