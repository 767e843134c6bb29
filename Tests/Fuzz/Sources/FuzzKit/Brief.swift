import IMRCore

/// Short descriptions for failure messages: a frame's kind and fields without its payloads
/// (a full frame may print a megabyte).
public func brief(_ frame: Frame) -> String {
    func m(_ m: StoredMessage) -> String { "\(m.conversation)#\(m.seq) \(m.messageID) by \(m.senderUser)/\(m.senderNode) \(m.clock) \(m.payload.count)B" }
    switch frame {
    case let .hello(h): return "hello(\(h.token.prefix(32)) v\(h.protocolVersion) node \(h.deviceNode))"
    case let .welcome(w): return "welcome(\(w.user) \(w.limits) \(w.conversations.map { "\($0.conversation):\($0.headSeq)" }))"
    case let .send(s): return "send(\(s.conversation) \(s.messageID) \(s.clock) \(s.payload.count)B)"
    case let .sendAck(a): return "ack(\(a.conversation)#\(a.seq) \(a.messageID) dup \(a.duplicate))"
    case let .sendReject(r): return "reject(\(r.conversation) \(r.messageID) code \(r.code.rawValue) retry \(String(describing: r.retryAfterMs)))"
    case let .push(p): return "push(\(m(p)))"
    case let .delivered(d): return "delivered(\(d.watermarks.map { "\($0.conversation):\($0.deliveredSeq)" }))"
    case let .syncRequest(r): return "sync(\(r.conversation) after \(r.afterSeq) limit \(r.limit))"
    case let .syncResponse(r): return "page(\(r.conversation) after \(r.afterSeq) head \(r.headSeq) more \(r.hasMore) [\(r.messages.map(m).joined(separator: ", "))])"
    case let .ping(n): return "ping(\(n))"
    case let .pong(n): return "pong(\(n))"
    case let .error(e): return "error(\(e.code.rawValue) \(e.detail.prefix(80)) fatal \(e.fatal))"
    case let .createConversation(c): return "create(\(c.conversation) \(c.members))"
    case let .addMember(c): return "add(\(c.conversation) \(c.user) role \(c.role.rawValue))"
    case let .removeMember(c): return "remove(\(c.conversation) \(c.user))"
    case let .conversationResult(r): return "result(\(r.conversation) code \(r.code.rawValue) \(r.members) owners \(r.owners) head \(r.headSeq))"
    case let .receipt(r): return "receipt(\(r.conversation) \(r.user) \(r.deliveredSeq) \(String(describing: r.readSeq)))"
    }
}

public func brief(_ message: StoredMessage) -> String { brief(.push(message)).dropFirst(5).dropLast().description }

public func brief(_ bytes: [UInt8]) -> String {
    bytes.count <= 64 ? "\(bytes)" : "\(bytes.prefix(64))... (\(bytes.count) bytes)"
}
