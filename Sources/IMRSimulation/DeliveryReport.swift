import IMRCore

/// What one device holds at the end of a run, as the invariant checker sees it.
public struct DeviceSnapshot: Sendable {
    public struct Conversation: Sendable {
        public var live: [TimelineEntry]
        public var history: [TimelineEntry]
        public init(live: [TimelineEntry], history: [TimelineEntry]) {
            self.live = live
            self.history = history
        }
    }

    public enum SendOutcome: Sendable, Equatable {
        case sending
        case sent(seq: UInt64)
        case failed
    }

    public var name: String
    public var user: String
    public var conversations: [String: Conversation]
    /// Every message this device sent, by id, with its conversation and final state.
    public var sends: [MessageID: (conversation: String, outcome: SendOutcome)]

    public init(name: String, user: String, conversations: [String: Conversation], sends: [MessageID: (conversation: String, outcome: SendOutcome)]) {
        self.name = name
        self.user = user
        self.conversations = conversations
        self.sends = sends
    }
}

/// The verdict of a run: the counts the demo and the simulator print, and every violation.
public struct DeliveryReport: Sendable, Equatable {
    public var sent = 0
    public var acked = 0
    public var failed = 0
    /// Messages held by member devices (one per message and receiving device).
    public var delivered = 0
    /// Acked messages missing on some member device (counted per device).
    public var lost = 0
    /// Messages a live view shows more than once (counted per extra copy).
    public var duplicates = 0
    /// History pairs that contradict happened-before.
    public var orderViolations = 0
    /// Every member device of every conversation holds the identical history.
    public var converged = true
    /// Sends still `sending` at the end, and failed sends the server has (unreconciled).
    public var unsettled = 0
    public var violations: [String] = []

    public init() {}

    public var isClean: Bool {
        lost == 0 && duplicates == 0 && orderViolations == 0 && converged && unsettled == 0 && violations.isEmpty
    }
}

/// Checks the delivery invariants (nothing acked lost, nothing shown twice, every device the
/// same history, every send ended) over the final state of every device.
public enum InvariantChecker {
    /// - Parameters:
    ///   - members: conversation -> its member users.
    ///   - heads: conversation -> the server's head seq.
    public static func check(devices: [DeviceSnapshot], members: [String: Set<String>], heads: [String: UInt64]) -> DeliveryReport {
        var report = DeliveryReport()
        // What the server holds, learned from every device: id -> (conversation, seq).
        var stored: [MessageID: (String, UInt64)] = [:]
        for device in devices {
            for (conversation, c) in device.conversations {
                for e in c.live { if let seq = e.seq { stored[e.messageID] = (conversation, seq) } }
            }
        }
        for device in devices {
            for (id, send) in device.sends {
                report.sent += 1
                switch send.outcome {
                case let .sent(seq):
                    report.acked += 1
                    if let known = stored[id], known.1 != seq {
                        report.violations.append("\(device.name): \(id) acked with seq \(seq) but stored at \(known.1)")
                    }
                case .failed:
                    report.failed += 1
                    if stored[id] != nil {
                        report.unsettled += 1
                        report.violations.append("\(device.name): \(id) is failed but the server has it")
                    }
                case .sending:
                    report.unsettled += 1
                    report.violations.append("\(device.name): \(id) still sending at the end")
                }
            }
        }
        let acked: [(MessageID, String)] = devices.flatMap { d in
            d.sends.compactMap { id, s in
                if case .sent = s.outcome { return (id, s.conversation) } else { return nil }
            }
        }
        for (conversation, users) in members.sorted(by: { $0.key < $1.key }) {
            let head = heads[conversation] ?? 0
            var reference: [MessageID]?
            for device in devices where users.contains(device.user) {
                let c = device.conversations[conversation] ?? .init(live: [], history: [])
                // Nothing shown twice.
                var seen = Set<MessageID>()
                for e in c.live where !seen.insert(e.messageID).inserted {
                    report.duplicates += 1
                    report.violations.append("\(device.name): \(e.messageID) shown twice in \(conversation)")
                }
                report.delivered += seen.count
                // Nothing acked lost; every seq up to the head held.
                for (id, conv) in acked where conv == conversation && !seen.contains(id) {
                    report.lost += 1
                    report.violations.append("\(device.name): acked \(id) missing from \(conversation)")
                }
                let seqs = Set(c.live.compactMap(\.seq))
                if seqs.count != Int(head) || (head > 0 && (seqs.min() != 1 || seqs.max() != head)) {
                    report.violations.append("\(device.name): holds \(seqs.count) sequenced messages of \(conversation), head is \(head)")
                }
                // History respects happened-before.
                let h = c.history
                for i in h.indices {
                    for j in h.indices where j > i && h[j].clock.happenedBefore(h[i].clock) {
                        report.orderViolations += 1
                        report.violations.append("\(device.name): \(h[j].messageID) happened before \(h[i].messageID) but is shown after it")
                    }
                }
                // Same history everywhere.
                // Only sequenced messages are shared; a sender's unsent ones are its own.
                let ids = h.filter { $0.seq != nil }.map(\.messageID)
                if let reference, reference != ids {
                    report.converged = false
                    report.violations.append("\(device.name): history of \(conversation) differs from the first member's")
                } else if reference == nil {
                    reference = ids
                }
            }
        }
        return report
    }
}
