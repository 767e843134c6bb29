@testable import IMRCore

/// A tiny sequencer for simulations: per-conversation seq, idempotent by message id,
/// pushes to every connected member device, answers syncs and probes. Sender identity
/// comes from the session (the hello's token names the user).
final class ScriptedServer {
    struct Session {
        var user: String
        var node: UInt64
    }

    var logs: [String: [StoredMessage]] = [:]
    var members: [String: Set<String>] = [:]
    private var byID: [MessageID: (conversation: String, seq: UInt64, user: String)] = [:]
    /// How many times each id was stored (must stay 1).
    private(set) var storeCount: [MessageID: Int] = [:]
    private(set) var sessions: [Int: Session] = [:]
    private(set) var delivered: [Int: [String: UInt64]] = [:]
    /// Probability of a transient reject (rate limited, with retry-after).
    var rejectProbability = 0.0
    var maxSyncPage: UInt32 = 256
    var rng: SeededGenerator
    let codec = FrameCodec()

    init(seed: UInt64) { rng = SeededGenerator(seed: seed) }

    func userOf(token: String) -> String { String(token.dropFirst()) }   // token "t<user>"

    func disconnect(_ device: Int) { sessions[device] = nil }

    /// Handles one frame from `device`; returns the frames to send, by device.
    func handle(_ frame: Frame, from device: Int, now: UInt64) -> [(Int, Frame)] {
        switch frame {
        case let .hello(h):
            let user = userOf(token: h.token)
            sessions[device] = Session(user: user, node: h.deviceNode)
            let heads = members.filter { $0.value.contains(user) }.keys.sorted().map {
                ConversationHead(conversation: $0, headSeq: UInt64(logs[$0]?.count ?? 0))
            }
            return [(device, .welcome(Welcome(user: user, serverTimeMs: now,
                                              limits: ServerLimits(maxSyncPage: maxSyncPage), conversations: heads)))]
        default:
            break
        }
        guard let session = sessions[device] else {
            return [(device, .error(ErrorFrame(code: .notAuthenticated)))]
        }
        switch frame {
        case let .send(s):
            guard members[s.conversation]?.contains(session.user) == true else {
                return [(device, .sendReject(SendReject(messageID: s.messageID, conversation: s.conversation, code: .notMember)))]
            }
            if let known = byID[s.messageID] {
                guard known.user == session.user, known.conversation == s.conversation else {
                    return [(device, .sendReject(SendReject(messageID: s.messageID, conversation: s.conversation, code: .idConflict)))]
                }
                let m = logs[known.conversation]![Int(known.seq) - 1]
                return [(device, .sendAck(SendAck(messageID: s.messageID, conversation: s.conversation, seq: m.seq,
                                                  serverTimeMs: m.serverTimeMs, duplicate: true)))]
            }
            if rejectProbability > 0 && Double(rng.next() % 1_000_000) / 1_000_000 < rejectProbability {
                return [(device, .sendReject(SendReject(messageID: s.messageID, conversation: s.conversation, code: .rateLimited,
                                                        retryAfterMs: 10 + rng.next() % 300)))]
            }
            let seq = UInt64(logs[s.conversation, default: []].count + 1)
            let m = StoredMessage(conversation: s.conversation, seq: seq, serverTimeMs: now, senderUser: session.user,
                                  senderNode: session.node, messageID: s.messageID, clock: s.clock, payload: s.payload)
            logs[s.conversation, default: []].append(m)
            byID[s.messageID] = (s.conversation, seq, session.user)
            storeCount[s.messageID, default: 0] += 1
            var out: [(Int, Frame)] = [(device, .sendAck(SendAck(messageID: s.messageID, conversation: s.conversation,
                                                                 seq: seq, serverTimeMs: now)))]
            for (d, other) in sessions.sorted(by: { $0.key < $1.key }) where members[s.conversation]!.contains(other.user) {
                out.append((d, .push(m)))
            }
            return out
        case let .syncRequest(r):
            guard members[r.conversation]?.contains(session.user) == true else {
                return [(device, .error(ErrorFrame(code: .notMember, detail: r.conversation)))]
            }
            let log = logs[r.conversation] ?? []
            let head = UInt64(log.count)
            let limit = Int(min(r.limit, maxSyncPage))
            let from = Int(min(r.afterSeq, head))
            let page = Array(log[from..<min(log.count, from + limit)])
            return [(device, .syncResponse(SyncResponse(conversation: r.conversation, messages: page, headSeq: head,
                                                        hasMore: (page.last?.seq ?? r.afterSeq) < head, afterSeq: r.afterSeq)))]
        case let .delivered(d):
            for w in d.watermarks { delivered[device, default: [:]][w.conversation] = w.deliveredSeq }
            return []
        case let .ping(n):
            return [(device, .pong(nonce: n))]
        default:
            return []
        }
    }
}

/// A min-queue of timed simulation events (ties in insertion order). Not generic, and the
/// heap holds only plain keys, so it stays quick in debug builds.
struct EventQueue {
    private struct Key {
        var time: UInt64
        var order: UInt64
        var slot: Int
    }
    private var heap: [Key] = []
    private var payloads: [ScriptedSimulation.Event?] = []
    private var freeSlots: [Int] = []
    private var counter: UInt64 = 0

    var isEmpty: Bool { heap.isEmpty }
    var nextTime: UInt64? { heap.isEmpty ? nil : heap[0].time }

    @inline(__always)
    private static func less(_ a: Key, _ b: Key) -> Bool {
        a.time < b.time || (a.time == b.time && a.order < b.order)
    }

    mutating func push(_ time: UInt64, _ payload: ScriptedSimulation.Event) {
        counter += 1
        let slot: Int
        if let free = freeSlots.popLast() {
            slot = free
            payloads[slot] = payload
        } else {
            slot = payloads.count
            payloads.append(payload)
        }
        let key = Key(time: time, order: counter, slot: slot)
        heap.append(key)
        var i = heap.count - 1
        while i > 0 {
            let p = (i - 1) / 2
            guard Self.less(key, heap[p]) else { break }
            heap[i] = heap[p]
            i = p
        }
        heap[i] = key
    }

    mutating func pop() -> (UInt64, ScriptedSimulation.Event)? {
        guard !heap.isEmpty else { return nil }
        let top = heap[0]
        let last = heap.removeLast()
        if !heap.isEmpty {
            var i = 0
            let n = heap.count
            while true {
                let l = 2 * i + 1
                if l >= n { break }
                var m = l
                if l + 1 < n && Self.less(heap[l + 1], heap[l]) { m = l + 1 }
                guard Self.less(heap[m], last) else { break }
                heap[i] = heap[m]
                i = m
            }
            heap[i] = last
        }
        let payload = payloads[top.slot].take()!
        freeSlots.append(top.slot)
        return (top.time, payload)
    }
}
