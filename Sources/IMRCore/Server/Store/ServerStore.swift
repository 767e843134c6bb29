/// A message the engine asks the store to append; the store assigns its seq.
public struct NewMessage: Sendable, Equatable {
    public var conversation: String
    public var messageID: MessageID
    public var senderUser: String
    public var senderNode: UInt64
    public var clock: VectorClock
    public var payload: [UInt8]
    public var serverTimeMs: UInt64
    public init(conversation: String, messageID: MessageID, senderUser: String, senderNode: UInt64,
                clock: VectorClock, payload: [UInt8], serverTimeMs: UInt64) {
        self.conversation = conversation
        self.messageID = messageID
        self.senderUser = senderUser
        self.senderNode = senderNode
        self.clock = clock
        self.payload = payload
        self.serverTimeMs = serverTimeMs
    }
}

/// What an append did.
public enum AppendOutcome: Sendable, Equatable {
    /// Newly stored with the next seq of its conversation.
    case stored(StoredMessage)
    /// (conversation, message id) was already stored: the original, untouched. The engine
    /// decides whether that is a duplicate (same sender) or a conflict (another sender).
    case existing(StoredMessage)
}

/// A delivered / read watermark pair (0 = nothing yet).
public struct WatermarkPair: Sendable, Equatable {
    public var delivered: UInt64
    public var read: UInt64
    public init(delivered: UInt64 = 0, read: UInt64 = 0) {
        self.delivered = delivered
        self.read = read
    }
}

/// Why a store refused an operation (beyond I/O errors, which it throws as they come).
public enum ServerStoreError: Error, Equatable, Sendable {
    case unknownConversation(String)
}

/// The server's persistent state: conversations, their members, their messages with the
/// per-conversation seq, and each device's delivered/read watermarks.
///
/// Rules every implementation keeps (the engine relies on them):
/// - `append` is atomic: it either finds (conversation, message id) already stored and returns
///   it, or assigns seq = head + 1, stores the message and advances the head, all in one durable
///   write. When `append` returns, the message is durable (an ack means durable).
/// - Seq starts at 1 per conversation and has no holes.
/// - Lists come back in a deterministic order (members and conversations sorted, messages by seq).
///
/// A store is used by one thread at a time (the engine's).
public protocol ServerStore: AnyObject {
    /// Creates a conversation with these members, `owners` (also members) holding the owner
    /// role (head seq 0); false when it already exists.
    func createConversation(_ conversation: String, members: [String], owners: [String]) throws -> Bool
    /// The sorted members, or nil for an unknown conversation.
    func members(of conversation: String) throws -> [String]?
    /// The sorted members who are owners (empty for an unknown conversation).
    func owners(of conversation: String) throws -> [String]
    /// Adds a member with the member role (no-op if present). Throws `ServerStoreError.unknownConversation`.
    func addMember(_ user: String, to conversation: String) throws
    /// Sets the role of a member (no-op for a user who is not a member). Throws
    /// `ServerStoreError.unknownConversation`.
    func setRole(_ role: MemberRole, of user: String, in conversation: String) throws
    /// Removes a member and its role (no-op if absent). Throws `ServerStoreError.unknownConversation`.
    func removeMember(_ user: String, from conversation: String) throws
    /// The user's conversations with their head seq, sorted by conversation id.
    func conversations(of user: String) throws -> [ConversationHead]
    /// The head seq (0 = empty), or nil for an unknown conversation.
    func headSeq(of conversation: String) throws -> UInt64?
    /// Stores a message idempotently (see the type's rules).
    func append(_ message: NewMessage) throws -> AppendOutcome
    /// The stored message with this client message id, if any.
    func message(in conversation: String, id: MessageID) throws -> StoredMessage?
    /// Up to `limit` messages with seq > `after`, in seq order.
    func messages(in conversation: String, after: UInt64, limit: Int) throws -> [StoredMessage]
    /// The same, stopping after the message whose payload takes the total past `maxBytes`
    /// (at least one message): a page of large messages is read only as far as it can be sent.
    func messages(in conversation: String, after: UInt64, limit: Int, maxBytes: Int) throws -> [StoredMessage]
    /// Raises (never lowers) one device's watermarks; returns the device's watermarks after.
    @discardableResult
    func recordWatermark(conversation: String, user: String, node: UInt64, delivered: UInt64, read: UInt64) throws -> WatermarkPair
    /// The user's watermarks: the highest over the user's devices.
    func userWatermark(conversation: String, user: String) throws -> WatermarkPair
    /// One device's watermarks.
    func deviceWatermark(conversation: String, user: String, node: UInt64) throws -> WatermarkPair

    /// Group commit. Between `beginBatch` and `commitBatch` every write still applies
    /// atomically on its own (and is visible to later reads), but none is durable until
    /// `commitBatch` returns; `rollbackBatch` undoes them all. The engine never lets an ack
    /// out before the commit that made its message durable. Stores without transactions keep
    /// the default no-ops (their writes are final at once).
    func beginBatch() throws
    func commitBatch() throws
    func rollbackBatch()

    /// Releases the store's file or connection; later calls throw. Idempotent.
    func close()
}

extension ServerStore {
    /// A conversation without owners (hosts that manage membership themselves).
    public func createConversation(_ conversation: String, members: [String]) throws -> Bool {
        try createConversation(conversation, members: members, owners: [])
    }

    /// Reads the whole page, then trims it (stores that can stop early implement it themselves).
    public func messages(in conversation: String, after: UInt64, limit: Int, maxBytes: Int) throws -> [StoredMessage] {
        var total = 0
        var out: [StoredMessage] = []
        for m in try messages(in: conversation, after: after, limit: limit) {
            out.append(m)
            total += m.payload.count
            if total > maxBytes { break }
        }
        return out
    }

    public func beginBatch() throws {}
    public func commitBatch() throws {}
    public func rollbackBatch() {}
    public func close() {}
}
