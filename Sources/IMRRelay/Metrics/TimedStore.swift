import CoreMetrics
import Dispatch
import IMRCore

/// A server store that times its group commits and counts the appends each one makes
/// durable, for the relay's metrics; everything else goes straight to the store it wraps.
final class TimedStore: ServerStore {
    let inner: any ServerStore
    private let metrics: RelayMetrics
    private var appendsInBatch = 0

    init(_ inner: any ServerStore, metrics: RelayMetrics) {
        self.inner = inner
        self.metrics = metrics
    }

    func beginBatch() throws {
        appendsInBatch = 0
        try inner.beginBatch()
    }

    func commitBatch() throws {
        let started = DispatchTime.now().uptimeNanoseconds
        try inner.commitBatch()
        metrics.commitLatency.recordNanoseconds(Int64(clamping: DispatchTime.now().uptimeNanoseconds &- started))
        metrics.commitBatchSize.record(appendsInBatch)
        appendsInBatch = 0
    }

    func rollbackBatch() { inner.rollbackBatch() }

    func append(_ message: NewMessage) throws -> AppendOutcome {
        let outcome = try inner.append(message)
        if case .stored = outcome { appendsInBatch += 1 }
        return outcome
    }

    func createConversation(_ c: String, members: [String], owners: [String]) throws -> Bool {
        try inner.createConversation(c, members: members, owners: owners)
    }
    func members(of c: String) throws -> [String]? { try inner.members(of: c) }
    func owners(of c: String) throws -> [String] { try inner.owners(of: c) }
    func addMember(_ u: String, to c: String) throws { try inner.addMember(u, to: c) }
    func setRole(_ r: MemberRole, of u: String, in c: String) throws { try inner.setRole(r, of: u, in: c) }
    func removeMember(_ u: String, from c: String) throws { try inner.removeMember(u, from: c) }
    func conversations(of u: String) throws -> [ConversationHead] { try inner.conversations(of: u) }
    func headSeq(of c: String) throws -> UInt64? { try inner.headSeq(of: c) }
    func message(in c: String, id: MessageID) throws -> StoredMessage? { try inner.message(in: c, id: id) }
    func messages(in c: String, after: UInt64, limit: Int) throws -> [StoredMessage] {
        try inner.messages(in: c, after: after, limit: limit)
    }
    func messages(in c: String, after: UInt64, limit: Int, maxBytes: Int) throws -> [StoredMessage] {
        try inner.messages(in: c, after: after, limit: limit, maxBytes: maxBytes)
    }
    func recordWatermark(conversation: String, user: String, node: UInt64, delivered: UInt64, read: UInt64) throws -> WatermarkPair {
        try inner.recordWatermark(conversation: conversation, user: user, node: node, delivered: delivered, read: read)
    }
    func userWatermark(conversation: String, user: String) throws -> WatermarkPair {
        try inner.userWatermark(conversation: conversation, user: user)
    }
    func deviceWatermark(conversation: String, user: String, node: UInt64) throws -> WatermarkPair {
        try inner.deviceWatermark(conversation: conversation, user: user, node: node)
    }
}
