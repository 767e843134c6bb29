/// Receipts waiting for their interval, and who sent what lately in large conversations.
///
/// Coalescing: a user whose watermark advances many times in one interval (several devices,
/// frequent reports) yields one receipt per conversation, from where it stood when the
/// interval began to where it stands at the flush. Pending receipts keep first-seen order,
/// so flushes are deterministic.
struct ReceiptBoard {
    struct Pending: Equatable {
        var conversation: String
        var user: String
        /// The user's watermarks before the first advance of this interval.
        var from: WatermarkPair
        /// ... and after the latest.
        var to: WatermarkPair
    }

    private struct Key: Hashable {
        var conversation: ExactIdentifier
        var user: ExactIdentifier
    }

    private var index: [Key: Int] = [:]
    private var pending: [Pending] = []
    /// When the pending receipts are due; nil while none is pending.
    private(set) var dueAt: UInt64?

    /// conversation -> member -> seq of the member's latest message there. Kept only for the
    /// conversations whose receipts go to senders (large ones), bounded by `maxSenderEntries`.
    private var latestSent: [ExactIdentifier: [ExactIdentifier: UInt64]] = [:]
    private var senderEntries = 0
    static let maxSenderEntries = 1_000_000

    var isEmpty: Bool { pending.isEmpty }

    /// Records that `user`'s watermarks in `conversation` went from `from` to `to`; due at
    /// `dueAt` if nothing is pending yet.
    mutating func note(conversation: String, user: String, from: WatermarkPair, to: WatermarkPair, dueAt due: UInt64) {
        let key = Key(conversation: ExactIdentifier(conversation), user: ExactIdentifier(user))
        if let i = index[key] {
            pending[i].to = to
            return
        }
        index[key] = pending.count
        pending.append(Pending(conversation: conversation, user: user, from: from, to: to))
        if dueAt == nil { dueAt = due }
    }

    /// Every pending receipt, in first-seen order; the board is then empty.
    mutating func takePending() -> [Pending] {
        let out = pending
        pending.removeAll(keepingCapacity: true)
        index.removeAll(keepingCapacity: true)
        dueAt = nil
        return out
    }

    /// Drops every pending receipt (their watermarks were rolled back).
    mutating func dropPending() {
        _ = takePending()
    }

    /// `user` sent the message with `seq` in `conversation`.
    mutating func recordSent(seq: UInt64, by user: String, in conversation: String) {
        let key = ExactIdentifier(conversation)
        let sender = ExactIdentifier(user)
        if latestSent[key]?[sender] == nil {
            if senderEntries >= Self.maxSenderEntries {
                // Forgetting only means fewer receipts until these members send again.
                latestSent.removeAll(keepingCapacity: true)
                senderEntries = 0
            }
            senderEntries += 1
        }
        latestSent[key, default: [:]][sender] = max(seq, latestSent[key]?[sender] ?? 0)
    }

    /// The members (other than `user`) with a message after `seq`, in byte order.
    func senders(in conversation: String, after seq: UInt64, except user: String) -> [String] {
        guard let latest = latestSent[ExactIdentifier(conversation)] else { return [] }
        let exclude = ExactIdentifier(user)
        return latest.filter { $0.value > seq && $0.key != exclude }.keys.sorted().map(\.text)
    }
}
