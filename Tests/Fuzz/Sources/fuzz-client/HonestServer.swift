import FuzzKit
import IMRCore

/// A small server that keeps the protocol, for the client script: per-conversation seqs,
/// idempotent by message id, pushes of other members' messages to the client while it is
/// online, paged sync and head probes. Other members (bob on node 2, carol on node 3) post with clocks that only move
/// forward. Its log is the truth the client's cursors and timelines are checked against.
final class HonestServer {
    static let user = "alice"

    let maxSyncPage: UInt32
    let maxInflight: UInt32
    /// Conversations and their members: alice is not a member of "ops", "x" does not exist.
    private(set) var members: [String: Set<String>] = [
        "general": ["alice", "bob"], "random": ["alice", "carol"], "ops": ["bob", "carol"], "café": ["alice", "bob", "carol"],
    ]
    private(set) var logs: [String: [StoredMessage]] = [:]
    private var byID: [String: [MessageID: UInt64]] = [:]
    /// Each other device's clock per conversation, and how much of the log it has seen.
    private var deviceClocks: [String: [UInt64: (clock: VectorClock, seen: Int)]] = [:]
    private(set) var online = false
    private var clientNode: UInt64 = 0
    /// The next send is refused as rate limited (transient, with a retry time).
    var refuseNextSend = false

    init(maxSyncPage: UInt32, maxInflight: UInt32) {
        self.maxSyncPage = maxSyncPage
        self.maxInflight = maxInflight
    }

    func disconnect() { online = false }

    func log(_ conversation: String) -> [StoredMessage] { logs[conversation] ?? [] }

    func isMember(_ conversation: String) -> Bool { members[conversation]?.contains(Self.user) ?? false }

    /// Alice leaves or rejoins "random" (an owner's doing): her sends there are refused meanwhile.
    func toggleMembership() {
        if members["random"]!.remove(Self.user) == nil { members["random"]!.insert(Self.user) }
    }

    /// The answers to one frame from the client, in order.
    func handle(_ frame: Frame, now: UInt64) -> [Frame] {
        if case let .hello(hello) = frame {
            online = true
            clientNode = hello.deviceNode
            let heads = members.keys.filter(isMember).sorted().map {
                ConversationHead(conversation: $0, headSeq: UInt64(log($0).count))
            }
            let limits = ServerLimits(maxSyncPage: maxSyncPage, maxInflight: maxInflight)
            return [.welcome(Welcome(user: Self.user, serverTimeMs: now, limits: limits, conversations: heads))]
        }
        guard online else { return [] }
        switch frame {
        case let .send(send):
            return accept(send, now: now)
        case let .syncRequest(request):
            guard isMember(request.conversation) else {
                return [.error(ErrorFrame(code: .notMember, detail: request.conversation))]
            }
            let log = log(request.conversation)
            let head = UInt64(log.count)
            var page: [StoredMessage] = []
            if request.limit > 0 && request.afterSeq < head {
                let from = Int(request.afterSeq)
                page = Array(log[from..<min(log.count, from + Int(min(request.limit, max(1, maxSyncPage))))])
            }
            return [.syncResponse(SyncResponse(conversation: request.conversation, messages: page, headSeq: head,
                                               hasMore: (page.last?.seq ?? request.afterSeq) < head, afterSeq: request.afterSeq))]
        case let .ping(nonce):
            return [.pong(nonce: nonce)]
        default:
            return []
        }
    }

    private func accept(_ send: Send, now: UInt64) -> [Frame] {
        func reject(_ code: RejectCode, retryAfterMs: UInt64? = nil) -> [Frame] {
            [.sendReject(SendReject(messageID: send.messageID, conversation: send.conversation, code: code, retryAfterMs: retryAfterMs))]
        }
        guard let list = members[send.conversation] else { return reject(.unknownConversation) }
        if let seq = byID[send.conversation]?[send.messageID] {
            let m = log(send.conversation)[Int(seq) - 1]
            return [.sendAck(SendAck(messageID: m.messageID, conversation: m.conversation, seq: m.seq,
                                     serverTimeMs: m.serverTimeMs, duplicate: true))]
        }
        guard list.contains(Self.user) else { return reject(.notMember) }
        if refuseNextSend {
            refuseNextSend = false
            return reject(.rateLimited, retryAfterMs: 50)
        }
        let m = append(send.conversation, sender: Self.user, node: clientNode, id: send.messageID, clock: send.clock,
                       payload: send.payload, now: now)
        // No push back to the sending device: its ack carries the seq (the server's rule).
        return [.sendAck(SendAck(messageID: m.messageID, conversation: m.conversation, seq: m.seq, serverTimeMs: now))]
    }

    /// Another member's device posts; returns the push for the client when it should get one.
    func post(by node: UInt64, in conversation: String, seen: Int, payload: [UInt8], now: UInt64) -> Frame? {
        guard let list = members[conversation] else { return nil }
        let sender = node == 2 ? "bob" : "carol"
        guard list.contains(sender) else { return nil }
        // A server refuses a payload over its limit, so none is ever stored.
        let payload = payload.count > WireLimits.default.maxPayloadBytes ? Array(payload.prefix(16)) : payload
        // The device has seen at least as much of the log as before: its clock never goes back.
        var state = deviceClocks[conversation]?[node] ?? (VectorClock(), 0)
        let log = log(conversation)
        let upTo = min(log.count, max(state.seen, seen))
        for m in log[state.seen..<upTo] { state.clock.merge(m.clock) }
        state.seen = upTo
        state.clock.increment(node)
        deviceClocks[conversation, default: [:]][node] = state
        let id = MessageID(high: 0x0190_0000_7000 | node << 32 | UInt64(log.count), low: 0x8000_0000_0000_0000 | node)
        let m = append(conversation, sender: sender, node: node, id: id, clock: state.clock, payload: payload, now: now)
        return online && isMember(conversation) ? .push(m) : nil
    }

    private func append(_ conversation: String, sender: String, node: UInt64, id: MessageID, clock: VectorClock,
                        payload: [UInt8], now: UInt64) -> StoredMessage {
        let seq = UInt64(log(conversation).count + 1)
        let m = StoredMessage(conversation: conversation, seq: seq, serverTimeMs: now, senderUser: sender, senderNode: node,
                              messageID: id, clock: clock, payload: payload)
        logs[conversation, default: []].append(m)
        byID[conversation, default: [:]][id] = seq
        return m
    }
}
