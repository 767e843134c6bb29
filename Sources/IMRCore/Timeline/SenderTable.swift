/// The senders of one timeline (user id and device node), each held once and named by a
/// 32-bit index, so that a message's record carries 4 bytes for both.
///
/// The caller numbers the nodes densely (the timeline does, for its per-node lists) and
/// names the node's number with each lookup: the node's last sender is found by index and
/// confirmed by comparing (a node in one instruction, a short string by its raw bits), however
/// many senders take turns. Only a node seen for the first time or with another user asks
/// the dictionary (hashing them costs a SipHash).
struct SenderTable: Sendable {
    private struct Sender: Hashable, Sendable {
        var user: String
        var node: UInt64
    }

    private var senders: [Sender] = []
    private var index: [Sender: UInt32] = [:]
    /// By the caller's node number: the index last returned for that node (`.max`: none).
    private var byNodeNumber: [UInt32] = []

    func user(_ i: UInt32) -> String { senders[Int(i)].user }
    func node(_ i: UInt32) -> UInt64 { senders[Int(i)].node }

    /// The index of (`user`, `node`), adding it when new. `nodeNumber` is the caller's dense
    /// number for `node` (the same node always with the same number).
    mutating func index(user: String, node: UInt64, nodeNumber: Int) -> UInt32 {
        if nodeNumber < byNodeNumber.count {
            let hint = byNodeNumber[nodeNumber]
            if hint != .max && senders[Int(hint)].node == node && senders[Int(hint)].user == user { return hint }
        } else {
            byNodeNumber.append(contentsOf: repeatElement(.max, count: nodeNumber + 1 - byNodeNumber.count))
        }
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
        byNodeNumber[nodeNumber] = i
        return i
    }
}
