/// The senders of one timeline (user id and device node), each held once and named by a
/// 32-bit index, so that a message's record carries 4 bytes for both.
///
/// A conversation has few senders and consecutive messages often share one, so the last
/// few looked up are compared before the dictionary is asked (a node compares in one
/// instruction, a short string by its raw bits; hashing them costs a SipHash). A caller
/// that numbers the nodes densely (the timeline does, for its per-node lists) also names
/// the node's number: the node's last sender is then found by index, however many senders
/// take turns (a group of a thousand misses the recent few nearly always).
struct SenderTable: Sendable {
    private struct Sender: Hashable, Sendable {
        var user: String
        var node: UInt64
    }

    private var senders: [Sender] = []
    private var index: [Sender: UInt32] = [:]
    /// Recently used indices, most recent first.
    private var recent: (UInt32, UInt32, UInt32, UInt32) = (.max, .max, .max, .max)
    /// By the caller's node number: the index last returned for that node (`.max`: none).
    private var byNodeNumber: [UInt32] = []

    func user(_ i: UInt32) -> String { senders[Int(i)].user }
    func node(_ i: UInt32) -> UInt64 { senders[Int(i)].node }

    /// The index of (`user`, `node`), adding it when new. `nodeNumber`, when given, is the
    /// caller's dense number for `node` (the same node always with the same number).
    mutating func index(user: String, node: UInt64, nodeNumber: Int? = nil) -> UInt32 {
        guard let number = nodeNumber else { return lookUp(user: user, node: node) }
        if number < byNodeNumber.count {
            let hint = byNodeNumber[number]
            if matches(hint, user, node) { return hint }
        } else {
            byNodeNumber.append(contentsOf: repeatElement(.max, count: number + 1 - byNodeNumber.count))
        }
        let i = lookUp(user: user, node: node)
        byNodeNumber[number] = i
        return i
    }

    private mutating func lookUp(user: String, node: UInt64) -> UInt32 {
        if let i = recentMatch(user, node) { return i }
        let sender = Sender(user: user, node: node)
        let i: UInt32
        if let known = index[sender] {
            i = known
        } else {
            precondition(senders.count < Int(UInt32.max), "too many senders")
            i = UInt32(senders.count)
            senders.append(sender)
            index[sender] = i
        }
        recent = (i, recent.0, recent.1, recent.2)
        return i
    }

    @inline(__always)
    private func recentMatch(_ user: String, _ node: UInt64) -> UInt32? {
        if matches(recent.0, user, node) { return recent.0 }
        if matches(recent.1, user, node) { return recent.1 }
        if matches(recent.2, user, node) { return recent.2 }
        if matches(recent.3, user, node) { return recent.3 }
        return nil
    }

    @inline(__always)
    private func matches(_ i: UInt32, _ user: String, _ node: UInt64) -> Bool {
        i != .max && senders[Int(i)].node == node && senders[Int(i)].user == user
    }
}
