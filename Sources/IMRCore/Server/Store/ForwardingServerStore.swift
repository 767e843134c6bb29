/// A store that hands every call to another store: wrappers (timing for metrics, faults for
/// tests) conform to it and implement only the calls they change.
public protocol ForwardingServerStore: ServerStore {
    var inner: any ServerStore { get }
}

extension ForwardingServerStore {
    public func createConversation(_ conversation: String, members: [String], owners: [String]) throws -> Bool {
        try inner.createConversation(conversation, members: members, owners: owners)
    }
    public func members(of conversation: String) throws -> [String]? { try inner.members(of: conversation) }
    public func owners(of conversation: String) throws -> [String] { try inner.owners(of: conversation) }
    public func addMember(_ user: String, to conversation: String) throws { try inner.addMember(user, to: conversation) }
    public func setRole(_ role: MemberRole, of user: String, in conversation: String) throws {
        try inner.setRole(role, of: user, in: conversation)
    }
    public func removeMember(_ user: String, from conversation: String) throws { try inner.removeMember(user, from: conversation) }
    public func conversations(of user: String) throws -> [ConversationHead] { try inner.conversations(of: user) }
    public func headSeq(of conversation: String) throws -> UInt64? { try inner.headSeq(of: conversation) }
    public func append(_ message: NewMessage) throws -> AppendOutcome { try inner.append(message) }
    public func message(in conversation: String, id: MessageID) throws -> StoredMessage? {
        try inner.message(in: conversation, id: id)
    }
    public func messages(in conversation: String, after: UInt64, limit: Int) throws -> [StoredMessage] {
        try inner.messages(in: conversation, after: after, limit: limit)
    }
    public func messages(in conversation: String, after: UInt64, limit: Int, maxBytes: Int) throws -> [StoredMessage] {
        try inner.messages(in: conversation, after: after, limit: limit, maxBytes: maxBytes)
    }
    @discardableResult
    public func recordWatermark(conversation: String, user: String, node: UInt64, delivered: UInt64, read: UInt64) throws -> WatermarkPair {
        try inner.recordWatermark(conversation: conversation, user: user, node: node, delivered: delivered, read: read)
    }
    public func userWatermark(conversation: String, user: String) throws -> WatermarkPair {
        try inner.userWatermark(conversation: conversation, user: user)
    }
    public func deviceWatermark(conversation: String, user: String, node: UInt64) throws -> WatermarkPair {
        try inner.deviceWatermark(conversation: conversation, user: user, node: node)
    }
    public func beginBatch() throws { try inner.beginBatch() }
    public func commitBatch() throws { try inner.commitBatch() }
    public func rollbackBatch() { inner.rollbackBatch() }
    public func close() { inner.close() }
}
