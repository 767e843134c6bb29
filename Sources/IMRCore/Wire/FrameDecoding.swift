import CProtobufC
import IMRWireC
#if canImport(Glibc)
import Glibc
#endif

/// protobuf-c structs -> Swift frame, validating every field.
extension FrameCodec {
    /// The envelope checks, before anything in the body: a body is there, the version is ours.
    func checkEnvelope(_ f: Imrpb__Frame) throws(WireError) {
        if f.body_case == IMRPB__FRAME__BODY__NOT_SET && f.version <= Frame.wireVersion { throw .missingBody }
        guard f.version == Frame.wireVersion else { throw .unsupportedVersion(f.version) }
    }

    func swiftFrame(_ f: Imrpb__Frame) throws(WireError) -> Frame {
        try checkEnvelope(f)
        switch f.body_case {
        case IMRPB__FRAME__BODY_HELLO:
            let m = try required(f.hello, "hello").pointee
            return .hello(Hello(
                token: try text(m.token, "token", maxBytes: limits.maxTokenBytes, allowEmpty: true),
                protocolVersion: m.protocol_version, deviceNode: m.device_node))
        case IMRPB__FRAME__BODY_WELCOME:
            let m = try required(f.welcome, "welcome").pointee
            var limits = ServerLimits()
            if let l = m.limits?.pointee {
                limits = ServerLimits(maxFrameBytes: l.max_frame_bytes, maxPayloadBytes: l.max_payload_bytes,
                                      maxSyncPage: l.max_sync_page, maxInflight: l.max_inflight)
            }
            var heads: [ConversationHead] = []
            heads.reserveCapacity(m.n_conversations)
            for i in 0..<m.n_conversations {
                let h = try required(m.conversations[i], "conversations").pointee
                heads.append(ConversationHead(conversation: try identifier(h.conversation, "conversation"), headSeq: h.head_seq))
            }
            return .welcome(Welcome(user: try identifier(m.user, "user"), serverTimeMs: m.server_time_ms,
                                    limits: limits, conversations: heads))
        case IMRPB__FRAME__BODY_SEND:
            let m = try required(f.send, "send").pointee
            return .send(Send(conversation: try identifier(m.conversation, "conversation"),
                              messageID: try messageID(m.message_id),
                              clock: try clock(m.clock), payload: try payload(m.payload)))
        case IMRPB__FRAME__BODY_SEND_ACK:
            let m = try required(f.send_ack, "send_ack").pointee
            return .sendAck(SendAck(messageID: try messageID(m.message_id),
                                    conversation: try identifier(m.conversation, "conversation"),
                                    seq: m.seq, serverTimeMs: m.server_time_ms, duplicate: m.duplicate != 0))
        case IMRPB__FRAME__BODY_SEND_REJECT:
            let m = try required(f.send_reject, "send_reject").pointee
            return .sendReject(SendReject(
                messageID: try messageID(m.message_id),
                // Empty when the refused send named no valid conversation.
                conversation: try identifierOrEmpty(m.conversation, "conversation"),
                code: RejectCode(rawValue: m.code.rawValue),
                retryAfterMs: m.retry_case == IMRPB__SEND_REJECT__RETRY_RETRY_AFTER_MS ? m.retry_after_ms : nil,
                detail: lenientText(m.detail)))
        case IMRPB__FRAME__BODY_PUSH:
            // One message per frame: its arrays are recycled (a sync page's are its own).
            return .push(try stored(try required(f.push, "push").pointee, recycling: true))
        case IMRPB__FRAME__BODY_DELIVERED:
            let m = try required(f.delivered, "delivered").pointee
            guard m.n_watermarks <= limits.maxWatermarksPerFrame else {
                throw .tooManyItems(field: "watermarks", m.n_watermarks, limit: limits.maxWatermarksPerFrame)
            }
            var marks: [Watermark] = []
            marks.reserveCapacity(m.n_watermarks)
            for i in 0..<m.n_watermarks {
                let w = try required(m.watermarks[i], "watermarks").pointee
                marks.append(Watermark(
                    conversation: try identifier(w.conversation, "conversation"), deliveredSeq: w.delivered_seq,
                    readSeq: w.read_case == IMRPB__WATERMARK__READ_READ_SEQ ? w.read_seq : nil))
            }
            return .delivered(Delivered(watermarks: marks))
        case IMRPB__FRAME__BODY_SYNC_REQUEST:
            let m = try required(f.sync_request, "sync_request").pointee
            return .syncRequest(SyncRequest(conversation: try identifier(m.conversation, "conversation"),
                                            afterSeq: m.after_seq, limit: m.limit))
        case IMRPB__FRAME__BODY_SYNC_RESPONSE:
            let m = try required(f.sync_response, "sync_response").pointee
            var messages: [StoredMessage] = []
            messages.reserveCapacity(m.n_messages)
            for i in 0..<m.n_messages {
                messages.append(try stored(try required(m.messages[i], "messages").pointee))
            }
            return .syncResponse(SyncResponse(conversation: try identifier(m.conversation, "conversation"),
                                              messages: messages, headSeq: m.head_seq,
                                              hasMore: m.has_more != 0, afterSeq: m.after_seq))
        case IMRPB__FRAME__BODY_PING:
            return .ping(nonce: try required(f.ping, "ping").pointee.nonce)
        case IMRPB__FRAME__BODY_PONG:
            return .pong(nonce: try required(f.pong, "pong").pointee.nonce)
        case IMRPB__FRAME__BODY_ERROR:
            let m = try required(f.error, "error").pointee
            return .error(ErrorFrame(code: ErrorCode(rawValue: m.code.rawValue), detail: lenientText(m.detail), fatal: m.fatal != 0))
        case IMRPB__FRAME__BODY_CREATE_CONVERSATION:
            let m = try required(f.create_conversation, "create_conversation").pointee
            return .createConversation(CreateConversation(
                requestID: m.request_id, conversation: try identifier(m.conversation, "conversation"),
                members: try identifiers(m.members, count: m.n_members, "members")))
        case IMRPB__FRAME__BODY_ADD_MEMBER:
            let m = try required(f.add_member, "add_member").pointee
            return .addMember(MemberChange(requestID: m.request_id,
                                           conversation: try identifier(m.conversation, "conversation"),
                                           user: try identifier(m.user, "user"), role: MemberRole(rawValue: m.role.rawValue)))
        case IMRPB__FRAME__BODY_REMOVE_MEMBER:
            let m = try required(f.remove_member, "remove_member").pointee
            return .removeMember(MemberChange(requestID: m.request_id,
                                              conversation: try identifier(m.conversation, "conversation"),
                                              user: try identifier(m.user, "user")))
        case IMRPB__FRAME__BODY_CONVERSATION_RESULT:
            let m = try required(f.conversation_result, "conversation_result").pointee
            return .conversationResult(ConversationResult(
                requestID: m.request_id, conversation: try identifier(m.conversation, "conversation"),
                code: ResultCode(rawValue: m.code.rawValue),
                members: try identifiers(m.members, count: m.n_members, "members"), headSeq: m.head_seq,
                owners: try identifiers(m.owners, count: m.n_owners, "owners")))
        case IMRPB__FRAME__BODY_RECEIPT:
            let m = try required(f.receipt, "receipt").pointee
            return .receipt(Receipt(conversation: try identifier(m.conversation, "conversation"),
                                    user: try identifier(m.user, "user"), deliveredSeq: m.delivered_seq,
                                    readSeq: m.read_case == IMRPB__RECEIPT__READ_READ_SEQ ? m.read_seq : nil))
        default:
            throw .missingBody
        }
    }

    private func stored(_ m: Imrpb__Message, recycling: Bool = false) throws(WireError) -> StoredMessage {
        StoredMessage(conversation: try identifier(m.conversation, "conversation"), seq: m.seq,
                      serverTimeMs: m.server_time_ms, senderUser: try identifier(m.sender_user, "sender_user"),
                      senderNode: m.sender_node, messageID: try messageID(m.message_id),
                      clock: try clock(m.clock, recycling: recycling), payload: try payload(m.payload, recycling: recycling))
    }

    private func required<T>(_ p: UnsafeMutablePointer<T>?, _ field: String) throws(WireError) -> UnsafeMutablePointer<T> {
        guard let p else { throw .missingField(field) }
        return p
    }

    func messageID(_ b: ProtobufCBinaryData) throws(WireError) -> MessageID {
        guard b.len == 16, let data = b.data else { throw .invalidMessageID(length: b.len) }
        let raw = UnsafeRawPointer(data)
        return MessageID(high: UInt64(bigEndian: raw.loadUnaligned(as: UInt64.self)),
                         low: UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self)))
    }

    private func payload(_ b: ProtobufCBinaryData, recycling: Bool = false) throws(WireError) -> [UInt8] {
        guard b.len <= limits.maxPayloadBytes else { throw .payloadTooLarge(b.len, limit: limits.maxPayloadBytes) }
        guard b.len > 0, let data = b.data else { return [] }
        let bytes = UnsafeBufferPointer(start: data, count: b.len)
        return recycling ? recycledPayload.copy(of: bytes) : Array(bytes)
    }

    func clock(_ c: UnsafeMutablePointer<Imrpb__VectorClock>?, recycling: Bool = false) throws(WireError) -> VectorClock {
        guard let c = c?.pointee else { return VectorClock() }
        // Field 1 (reserved) held the earlier form: refuse it rather than read an empty clock.
        if c.base.n_unknown_fields > 0, let unknown = c.base.unknown_fields,
           (0..<Int(c.base.n_unknown_fields)).contains(where: { unknown[$0].tag == 1 }) {
            throw .invalidClock(.entryMessages)
        }
        let n = c.n_nodes
        guard n == c.n_counters else { throw .invalidClock(.mismatchedLists(nodes: n, counters: c.n_counters)) }
        if n == 0 { return VectorClock() }
        guard n <= limits.maxClockEntries else {
            throw .invalidClock(.tooManyEntries(n, limit: limits.maxClockEntries))
        }
        guard let nodes = c.nodes, let counters = c.counters else { throw .missingField("clock.nodes") }
        // One pass: gather the entries in the arena and see whether the wire form is already
        // canonical (nodes strictly increasing, no zero counters), as conforming encoders
        // write it; then one copy into the array (a recycled one for a push;
        // else Array(UnsafeBufferPointer), the cheapest new one).
        var canonical = true
        let scratch = arena.array(VectorClock.Entry.self, count: n)
        var previous: UInt64 = 0
        for i in 0..<n {
            let node = nodes[i], counter = counters[i]
            if counter == 0 || (i > 0 && node <= previous) { canonical = false }
            previous = node
            (scratch + i).initialize(to: VectorClock.Entry(node: node, counter: counter))
        }
        let gathered = UnsafeBufferPointer(start: scratch, count: n)
        let entries = recycling ? recycledClock.copy(of: gathered) : Array(gathered)
        if canonical { return VectorClock(canonicalEntries: entries) }
        return try VectorClock(entries: entries, maxEntries: limits.maxClockEntries)
    }

    func identifier(_ p: UnsafeMutablePointer<CChar>?, _ field: String) throws(WireError) -> String {
        guard let p else { throw .invalidIdentifier(field: field, .empty) }
        let count = textCount(p)
        let bytes = UnsafeRawPointer(p).assumingMemoryBound(to: UInt8.self)
        if count > 0, count <= limits.maxIdentifierBytes, let held = recentIdentifiers.lookup(bytes, count: count) {
            return held
        }
        let s = try validatedText(p, count: count, field, maxBytes: limits.maxIdentifierBytes, allowEmpty: false)
        if !IdentifierRules.isNFC(utf8: UnsafeBufferPointer(start: bytes, count: count)) {
            throw .invalidIdentifier(field: field, .notNFC)
        }
        recentIdentifiers.remember(s, bytes: bytes, count: count)
        return s
    }

    /// An identifier that may be absent (empty): the conversation of a send-reject.
    private func identifierOrEmpty(_ p: UnsafeMutablePointer<CChar>?, _ field: String) throws(WireError) -> String {
        guard let p, p.pointee != 0 else { return "" }
        return try identifier(p, field)
    }

    /// The length of a string protobuf-c decoded: the arena recorded its allocation (length
    /// + 1, the NUL written last), so a NUL inside the bytes does not shorten it; strlen for
    /// one from elsewhere.
    private func textCount(_ p: UnsafeMutablePointer<CChar>) -> Int {
        if let size = arena.recordedSize(of: p), size >= 1, p[size - 1] == 0 { return size - 1 }
        return strlen(p)
    }

    private func identifiers(_ list: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?, count: Int, _ field: String) throws(WireError) -> [String] {
        guard count > 0, let list else { return [] }
        guard count <= limits.maxMembersPerFrame else { throw .tooManyItems(field: field, count, limit: limits.maxMembersPerFrame) }
        var out: [String] = []
        out.reserveCapacity(count)
        for i in 0..<count { out.append(try identifier(list[i], field)) }
        return out
    }

    private func text(_ p: UnsafeMutablePointer<CChar>?, _ field: String, maxBytes: Int, allowEmpty: Bool) throws(WireError) -> String {
        guard let p else {
            if allowEmpty { return "" }
            throw .invalidIdentifier(field: field, .empty)
        }
        return try validatedText(p, count: textCount(p), field, maxBytes: maxBytes, allowEmpty: allowEmpty)
    }

    /// The string of `count` bytes at `p`, checked against the identifier rules.
    private func validatedText(_ p: UnsafeMutablePointer<CChar>, count: Int, _ field: String, maxBytes: Int,
                               allowEmpty: Bool) throws(WireError) -> String {
        // A NUL before the wire length was in the bytes (strlen would stop at it).
        let containsNUL = count > 0 && memchr(p, 0, count) != nil
        if let problem = IdentifierRules.problem(utf8Count: count, containsNUL: containsNUL, maxBytes: maxBytes, allowEmpty: allowEmpty) {
            throw .invalidIdentifier(field: field, problem)
        }
        if count == 0 { return "" }
        guard let s = String(validatingCString: p) else { throw .invalidIdentifier(field: field, .notUTF8) }
        return s
    }

    /// Free text (error details): invalid UTF-8 is repaired rather than rejected.
    private func lenientText(_ p: UnsafeMutablePointer<CChar>?) -> String {
        guard let p else { return "" }
        return String(decoding: UnsafeRawBufferPointer(start: p, count: strlen(p)).bindMemory(to: UInt8.self), as: UTF8.self)
    }
}
