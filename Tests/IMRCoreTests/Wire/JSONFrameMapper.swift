import Foundation
@testable import IMRCore

/// Builds a `Frame` from protobuf's canonical proto3 JSON form of an `imrpb.Frame`, with the
/// field names exactly as in proto/imr.proto (what the golden vectors' NAME.json hold).
///
/// Written for the tests, independently of the codec: it reads the JSON with JSONSerialization
/// and fails on any key it does not know, so a field missed here cannot pass unnoticed.
enum JSONFrameMapper {
    struct MappingError: Error, CustomStringConvertible {
        var description: String
    }

    static let bodyKinds = [
        "hello", "welcome", "send", "send_ack", "send_reject", "push", "delivered", "sync_request",
        "sync_response", "ping", "pong", "error", "create_conversation", "add_member", "remove_member",
        "conversation_result", "receipt",
    ]

    static let rejectCodes: [String: UInt32] = [
        "REJECT_UNSPECIFIED": 0, "REJECT_NOT_MEMBER": 1, "REJECT_UNKNOWN_CONVERSATION": 2,
        "REJECT_PAYLOAD_TOO_LARGE": 3, "REJECT_ID_CONFLICT": 4, "REJECT_RATE_LIMITED": 5,
        "REJECT_INVALID": 6, "REJECT_SERVER_BUSY": 7,
    ]
    static let errorCodes: [String: UInt32] = [
        "ERROR_UNSPECIFIED": 0, "ERROR_BAD_FRAME": 1, "ERROR_AUTH_FAILED": 2, "ERROR_TOKEN_EXPIRED": 3,
        "ERROR_NOT_AUTHENTICATED": 4, "ERROR_UNSUPPORTED_VERSION": 5, "ERROR_NOT_MEMBER": 6,
        "ERROR_UNKNOWN_CONVERSATION": 7, "ERROR_FRAME_TOO_LARGE": 8, "ERROR_INTERNAL": 9,
        "ERROR_RATE_LIMITED": 10,
    ]
    static let resultCodes: [String: UInt32] = [
        "RESULT_OK": 0, "RESULT_NOT_MEMBER": 1, "RESULT_UNKNOWN_CONVERSATION": 2,
        "RESULT_ALREADY_EXISTS": 3, "RESULT_INVALID": 4,
    ]

    /// The body kind of a frame's JSON (the one key besides `version`).
    static func kind(ofJSON data: Data) throws -> String {
        let o = try JObject(parsing: data)
        let kinds = o.keys.filter { $0 != "version" }
        guard kinds.count == 1, let kind = kinds.first else { throw MappingError(description: "frame has keys \(o.keys)") }
        return kind
    }

    static func frame(fromJSON data: Data) throws -> Frame {
        let o = try JObject(parsing: data)
        let version = try o.u32("version")
        guard version == Frame.wireVersion else { throw MappingError(description: "version \(version)") }
        let kinds = o.keys.filter { $0 != "version" }
        guard kinds.count == 1, let kind = kinds.first, let b = try o.object(kind) else {
            throw MappingError(description: "a frame needs exactly one body, got \(o.keys)")
        }
        let frame: Frame
        switch kind {
        case "hello":
            frame = .hello(Hello(token: try b.string("token"), protocolVersion: try b.u32("protocol_version"),
                                 deviceNode: try b.u64("device_node")))
        case "welcome":
            var limits = ServerLimits()
            if let l = try b.object("limits") {
                limits = ServerLimits(maxFrameBytes: try l.u32("max_frame_bytes"), maxPayloadBytes: try l.u32("max_payload_bytes"),
                                      maxSyncPage: try l.u32("max_sync_page"), maxInflight: try l.u32("max_inflight"))
                try l.finish()
            }
            let heads = try b.objects("conversations").map { h in
                let head = ConversationHead(conversation: try h.string("conversation"), headSeq: try h.u64("head_seq"))
                try h.finish()
                return head
            }
            frame = .welcome(Welcome(user: try b.string("user"), serverTimeMs: try b.u64("server_time_ms"),
                                     limits: limits, conversations: heads))
        case "send":
            frame = .send(Send(conversation: try b.string("conversation"), messageID: try b.messageID("message_id"),
                               clock: try b.clock("clock"), payload: try b.bytes("payload")))
        case "send_ack":
            frame = .sendAck(SendAck(messageID: try b.messageID("message_id"), conversation: try b.string("conversation"),
                                     seq: try b.u64("seq"), serverTimeMs: try b.u64("server_time_ms"),
                                     duplicate: try b.bool("duplicate")))
        case "send_reject":
            frame = .sendReject(SendReject(messageID: try b.messageID("message_id"), conversation: try b.string("conversation"),
                                           code: RejectCode(rawValue: try b.enumeration("code", rejectCodes)),
                                           retryAfterMs: try b.optionalU64("retry_after_ms"), detail: try b.string("detail")))
        case "push":
            frame = .push(try storedMessage(b))
        case "delivered":
            frame = .delivered(Delivered(watermarks: try b.objects("watermarks").map { w in
                let mark = Watermark(conversation: try w.string("conversation"), deliveredSeq: try w.u64("delivered_seq"),
                                     readSeq: try w.optionalU64("read_seq"))
                try w.finish()
                return mark
            }))
        case "sync_request":
            frame = .syncRequest(SyncRequest(conversation: try b.string("conversation"), afterSeq: try b.u64("after_seq"),
                                             limit: try b.u32("limit")))
        case "sync_response":
            frame = .syncResponse(SyncResponse(conversation: try b.string("conversation"),
                                               messages: try b.objects("messages").map(storedMessage),
                                               headSeq: try b.u64("head_seq"), hasMore: try b.bool("has_more"),
                                               afterSeq: try b.u64("after_seq")))
        case "ping":
            frame = .ping(nonce: try b.u64("nonce"))
        case "pong":
            frame = .pong(nonce: try b.u64("nonce"))
        case "error":
            frame = .error(ErrorFrame(code: ErrorCode(rawValue: try b.enumeration("code", errorCodes)),
                                      detail: try b.string("detail"), fatal: try b.bool("fatal")))
        case "create_conversation":
            frame = .createConversation(CreateConversation(requestID: try b.u64("request_id"),
                                                           conversation: try b.string("conversation"),
                                                           members: try b.strings("members")))
        case "add_member", "remove_member":
            let change = MemberChange(requestID: try b.u64("request_id"), conversation: try b.string("conversation"),
                                      user: try b.string("user"))
            frame = kind == "add_member" ? .addMember(change) : .removeMember(change)
        case "conversation_result":
            frame = .conversationResult(ConversationResult(
                requestID: try b.u64("request_id"), conversation: try b.string("conversation"),
                code: ResultCode(rawValue: try b.enumeration("code", resultCodes)),
                members: try b.strings("members"), headSeq: try b.u64("head_seq")))
        case "receipt":
            frame = .receipt(Receipt(conversation: try b.string("conversation"), user: try b.string("user"),
                                     deliveredSeq: try b.u64("delivered_seq"), readSeq: try b.optionalU64("read_seq")))
        default:
            throw MappingError(description: "unknown body \(kind)")
        }
        try b.finish()
        try o.finish()
        return frame
    }

    private static func storedMessage(_ m: JObject) throws -> StoredMessage {
        let message = StoredMessage(
            conversation: try m.string("conversation"), seq: try m.u64("seq"), serverTimeMs: try m.u64("server_time_ms"),
            senderUser: try m.string("sender_user"), senderNode: try m.u64("sender_node"),
            messageID: try m.messageID("message_id"), clock: try m.clock("clock"), payload: try m.bytes("payload"))
        try m.finish()
        return message
    }
}

/// One JSON object; remembers which keys were read so `finish` can reject the rest.
final class JObject {
    typealias MappingError = JSONFrameMapper.MappingError
    let dict: [String: Any]
    let path: String
    private var used: Set<String> = []

    init(_ dict: [String: Any], path: String) {
        self.dict = dict
        self.path = path
    }

    convenience init(parsing data: Data) throws {
        guard let dict = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw MappingError(description: "not a JSON object")
        }
        self.init(dict, path: "$")
    }

    var keys: [String] { dict.keys.sorted() }

    private func value(_ key: String) -> Any? {
        used.insert(key)
        return dict[key]
    }

    func finish() throws {
        let unknown = Set(dict.keys).subtracting(used)
        guard unknown.isEmpty else { throw MappingError(description: "\(path): unknown keys \(unknown.sorted())") }
    }

    func string(_ key: String) throws -> String {
        guard let v = value(key) else { return "" }
        guard let s = v as? String else { throw MappingError(description: "\(path).\(key): not a string") }
        return s
    }

    func strings(_ key: String) throws -> [String] {
        guard let v = value(key) else { return [] }
        guard let list = v as? [Any] else { throw MappingError(description: "\(path).\(key): not an array") }
        return try list.map {
            guard let s = $0 as? String else { throw MappingError(description: "\(path).\(key): not a string") }
            return s
        }
    }

    /// A 64-bit integer: canonically a decimal string.
    func u64(_ key: String) throws -> UInt64 {
        try optionalU64(key) ?? 0
    }

    /// A list of 64-bit integers (decimal strings).
    func u64s(_ key: String) throws -> [UInt64] {
        try strings(key).map { s in
            guard let n = UInt64(s) else { throw MappingError(description: "\(path).\(key): not a 64-bit integer string: \(s)") }
            return n
        }
    }

    func optionalU64(_ key: String) throws -> UInt64? {
        guard let v = value(key) else { return nil }
        if let s = v as? String, let n = UInt64(s) { return n }
        throw MappingError(description: "\(path).\(key): not a 64-bit integer string: \(v)")
    }

    func u32(_ key: String) throws -> UInt32 {
        guard let v = value(key) else { return 0 }
        guard let n = v as? NSNumber, !isBool(n), let u = UInt32(exactly: n.uint64Value), n.doubleValue == Double(u) else {
            throw MappingError(description: "\(path).\(key): not a uint32: \(v)")
        }
        return u
    }

    func bool(_ key: String) throws -> Bool {
        guard let v = value(key) else { return false }
        guard let n = v as? NSNumber, isBool(n) else { throw MappingError(description: "\(path).\(key): not a bool") }
        return n.boolValue
    }

    /// An enum, by name (or by number for values this schema does not name).
    func enumeration(_ key: String, _ names: [String: UInt32]) throws -> UInt32 {
        guard let v = value(key) else { return 0 }
        if let name = v as? String {
            guard let n = names[name] else { throw MappingError(description: "\(path).\(key): unknown enum name \(name)") }
            return n
        }
        if let n = v as? NSNumber, !isBool(n), let i = Int32(exactly: n.int64Value) { return UInt32(bitPattern: i) }
        throw MappingError(description: "\(path).\(key): not an enum: \(v)")
    }

    /// Bytes: base64.
    func bytes(_ key: String) throws -> [UInt8] {
        guard let v = value(key) else { return [] }
        guard let s = v as? String, let data = Data(base64Encoded: s) else {
            throw MappingError(description: "\(path).\(key): not base64")
        }
        return [UInt8](data)
    }

    func messageID(_ key: String) throws -> MessageID {
        let raw = try bytes(key)
        guard let id = MessageID(bytes: raw) else { throw MappingError(description: "\(path).\(key): \(raw.count) bytes, not 16") }
        return id
    }

    func object(_ key: String) throws -> JObject? {
        guard let v = value(key) else { return nil }
        guard let d = v as? [String: Any] else { throw MappingError(description: "\(path).\(key): not an object") }
        return JObject(d, path: "\(path).\(key)")
    }

    func objects(_ key: String) throws -> [JObject] {
        guard let v = value(key) else { return [] }
        guard let list = v as? [Any] else { throw MappingError(description: "\(path).\(key): not an array") }
        return try list.enumerated().map { i, item in
            guard let d = item as? [String: Any] else { throw MappingError(description: "\(path).\(key)[\(i)]: not an object") }
            return JObject(d, path: "\(path).\(key)[\(i)]")
        }
    }

    func clock(_ key: String) throws -> VectorClock {
        guard let c = try object(key) else { return VectorClock() }
        let nodes = try c.u64s("nodes"), counters = try c.u64s("counters")
        try c.finish()
        guard nodes.count == counters.count else {
            throw MappingError(description: "\(path).\(key): \(nodes.count) nodes but \(counters.count) counters")
        }
        let entries = zip(nodes, counters).map { VectorClock.Entry(node: $0, counter: $1) }
        return try VectorClock(entries: entries)
    }

    /// JSONSerialization gives true and false as boolean NSNumbers (objCType "c"); JSON numbers
    /// never come back as that type.
    private func isBool(_ n: NSNumber) -> Bool {
        String(cString: n.objCType) == "c"
    }
}
