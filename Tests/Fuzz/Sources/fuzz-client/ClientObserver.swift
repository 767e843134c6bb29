import FuzzKit
import IMRCore

/// What a host can see of a `ClientEngine` (events, outbox, timelines, cursors), checked as
/// a script runs (events and the outbox after every step, whole timelines every few steps).
/// Always, whatever the server says:
///
/// - a message is never both sent and failed: `sent` is final (no later failed, sending or
///   second sent), and the outbox never lists a sent message as sending or failed;
/// - the outbox lists each id once; a sending or failed message is in its timeline without
///   a seq, a sent one with its seq;
/// - cursors never move back; events point at the timeline entries they name;
/// - a timeline holds each id once, and its history view is a permutation of its live view.
///
/// While the server has been honest (`HonestServer`, with loss, duplication and reordering
/// on the way) also: every seq up to a cursor is in the timeline as the server stored it
/// (the cursor is never past a hole), every sequenced entry is the server's, and the
/// client refused nothing.
final class ClientObserver {
    let client: ClientEngine
    private var sent: Set<MessageID> = []
    private var cursors: [String: UInt64] = [:]

    init(client: ClientEngine) { self.client = client }

    func drainEvents(honest: Bool) {
        while let event = client.pollEvent() {
            trace("event \(event)")
            switch event {
            case let .stateChanged(id, conversation, state):
                require(!sent.contains(id), "\(id) in \(conversation) was sent, then \(state)")
                if case .sent = state { sent.insert(id) }
            case let .messageReceived(conversation, seq, id, _, _, _, _, liveIndex):
                let entry = entry(conversation, liveIndex)
                require(entry?.messageID == id && entry?.seq == seq, "received \(id) seq \(seq) at \(liveIndex): \(entry.map { "\($0.messageID) seq \(String(describing: $0.seq))" } ?? "nothing")")
            case let .ownMessageConfirmed(conversation, id, seq, _, liveIndex):
                if liveIndex >= 0 {
                    let entry = entry(conversation, liveIndex)
                    require(entry?.messageID == id && entry?.seq == seq, "confirmed \(id) seq \(seq) at \(liveIndex): \(entry.map { "\($0.messageID) seq \(String(describing: $0.seq))" } ?? "nothing")")
                }
            case let .error(error):
                if honest, case .clockWentBackwards = error { require(false, "an honest server's message refused: \(error)") }
                if honest, case .invalidSyncPage = error { require(false, "an honest server's page refused: \(error)") }
            default:
                break
            }
        }
    }

    /// The timeline entry an event names, nil when there is none at that index.
    private func entry(_ conversation: String, _ liveIndex: Int) -> TimelineEntry? {
        guard let timeline = client.timeline(conversation), liveIndex >= 0, liveIndex < timeline.count else { return nil }
        return timeline.entry(at: liveIndex)
    }

    func checkOutbox() {
        var seen: Set<MessageID> = []
        for entry in client.outbox() {
            require(seen.insert(entry.id).inserted, "the outbox lists \(entry.id) twice")
            let timeline = client.timeline(entry.conversation)
            switch entry.state {
            case let .sent(seq, _):
                require(entry.seq == seq, "outbox entry sent as \(seq) with seq \(String(describing: entry.seq))")
            case .sending, .failed:
                require(!sent.contains(entry.id), "\(entry.id) was sent, the outbox says \(entry.state)")
                let held = timeline?.entry(entry.id)
                require(held != nil && held?.seq == nil, "unsent \(entry.id) in the timeline as \(held.map { "seq \(String(describing: $0.seq))" } ?? "nothing")")
            }
        }
        for name in client.conversations {
            let cursor = client.cursor(name)
            require(cursor >= cursors[name] ?? 0, "the cursor of \(name) went back from \(cursors[name] ?? 0) to \(cursor)")
            cursors[name] = cursor
        }
    }

    func checkTimelines() {
        for name in client.conversations {
            guard let timeline = client.timeline(name) else { return require(false, "\(name) is known without a timeline") }
            let live = timeline.live
            require(live.count == timeline.count, "live view of \(live.count) entries, count \(timeline.count)")
            require(Set(live.map(\.messageID)).count == live.count, "\(name) holds an id twice")
            if timeline.order == .causal {
                require(timeline.history().map(\.messageID).sorted() == live.map(\.messageID).sorted(),
                        "the history of \(name) is not its live view reordered")
            }
        }
    }

    /// While the server has been honest: the timeline agrees with its log up to the cursor
    /// and everywhere a seq is known.
    func checkAgainst(_ server: HonestServer) {
        for name in client.conversations {
            let log = server.log(name)
            let cursor = client.cursor(name)
            require(cursor <= UInt64(log.count), "the cursor of \(name) is \(cursor), the server has \(log.count) messages")
            var held: [UInt64: MessageID] = [:]
            for entry in client.timeline(name)?.live ?? [] {
                guard let seq = entry.seq else { continue }
                require(seq >= 1 && seq <= UInt64(log.count) && log[Int(seq) - 1].messageID == entry.messageID
                        && log[Int(seq) - 1].payload == entry.payload,
                        "\(name) holds \(entry.messageID) as seq \(seq), which the server does not")
                require(held.updateValue(entry.messageID, forKey: seq) == nil, "\(name) holds seq \(seq) twice")
            }
            for seq in stride(from: 1, through: cursor, by: 1) where held[seq] == nil {
                require(false, "\(name): cursor \(cursor) is past the hole at seq \(seq)")
            }
        }
        for entry in client.outbox() {
            if case let .sent(seq, _) = entry.state {
                let log = server.log(entry.conversation)
                require(seq >= 1 && seq <= UInt64(log.count) && log[Int(seq) - 1].messageID == entry.id,
                        "\(entry.id) sent as seq \(seq) of \(entry.conversation), which the server does not hold")
            }
        }
    }
}
