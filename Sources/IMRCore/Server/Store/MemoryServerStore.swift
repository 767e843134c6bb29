/// The in-memory server store: tests, simulations, embedded use. Nothing survives the process.
public final class MemoryServerStore: ServerStore {
    private final class Conversation {
        var members: Set<String>
        var owners: Set<String> = []
        var messages: [StoredMessage] = []          // index = seq - 1
        var byID: [MessageID: Int] = [:]            // message id -> index
        init(members: Set<String>) { self.members = members }
    }

    private struct DeviceKey: Hashable {
        var conversation: String
        var user: String
        var node: UInt64
    }

    private var conversationsByID: [String: Conversation] = [:]
    private var conversationsByUser: [String: Set<String>] = [:]
    private var watermarks: [DeviceKey: WatermarkPair] = [:]
    private var devicesByUser: [String: [DeviceKey]] = [:]

    public init() {}

    public func createConversation(_ conversation: String, members: [String], owners: [String]) throws -> Bool {
        guard conversationsByID[conversation] == nil else { return false }
        let all = Set(members).union(owners)
        let c = Conversation(members: all)
        c.owners = Set(owners)
        conversationsByID[conversation] = c
        for m in all { conversationsByUser[m, default: []].insert(conversation) }
        return true
    }

    public func owners(of conversation: String) throws -> [String] {
        conversationsByID[conversation]?.owners.sorted() ?? []
    }

    public func setRole(_ role: MemberRole, of user: String, in conversation: String) throws {
        guard let c = conversationsByID[conversation] else { throw ServerStoreError.unknownConversation(conversation) }
        guard c.members.contains(user) else { return }
        if role == .owner { c.owners.insert(user) } else { c.owners.remove(user) }
    }

    public func members(of conversation: String) throws -> [String]? {
        conversationsByID[conversation].map { $0.members.sorted() }
    }

    public func addMember(_ user: String, to conversation: String) throws {
        guard let c = conversationsByID[conversation] else { throw ServerStoreError.unknownConversation(conversation) }
        c.members.insert(user)
        conversationsByUser[user, default: []].insert(conversation)
    }

    public func removeMember(_ user: String, from conversation: String) throws {
        guard let c = conversationsByID[conversation] else { throw ServerStoreError.unknownConversation(conversation) }
        c.members.remove(user)
        c.owners.remove(user)
        conversationsByUser[user]?.remove(conversation)
    }

    public func conversations(of user: String) throws -> [ConversationHead] {
        (conversationsByUser[user] ?? []).sorted().map {
            ConversationHead(conversation: $0, headSeq: UInt64(conversationsByID[$0]?.messages.count ?? 0))
        }
    }

    public func headSeq(of conversation: String) throws -> UInt64? {
        conversationsByID[conversation].map { UInt64($0.messages.count) }
    }

    public func append(_ m: NewMessage) throws -> AppendOutcome {
        guard let c = conversationsByID[m.conversation] else { throw ServerStoreError.unknownConversation(m.conversation) }
        if let i = c.byID[m.messageID] { return .existing(c.messages[i]) }
        let stored = StoredMessage(conversation: m.conversation, seq: UInt64(c.messages.count + 1),
                                   serverTimeMs: m.serverTimeMs, senderUser: m.senderUser, senderNode: m.senderNode,
                                   messageID: m.messageID, clock: m.clock, payload: m.payload)
        c.byID[m.messageID] = c.messages.count
        c.messages.append(stored)
        return .stored(stored)
    }

    public func message(in conversation: String, id: MessageID) throws -> StoredMessage? {
        guard let c = conversationsByID[conversation], let i = c.byID[id] else { return nil }
        return c.messages[i]
    }

    public func messages(in conversation: String, after: UInt64, limit: Int) throws -> [StoredMessage] {
        guard let c = conversationsByID[conversation], limit > 0, after < UInt64(c.messages.count) else { return [] }
        let start = Int(after)
        return Array(c.messages[start..<min(c.messages.count, start + limit)])
    }

    public func recordWatermark(conversation: String, user: String, node: UInt64, delivered: UInt64, read: UInt64) throws -> WatermarkPair {
        let key = DeviceKey(conversation: conversation, user: user, node: node)
        var w = watermarks[key] ?? {
            devicesByUser[user, default: []].append(key)
            return WatermarkPair()
        }()
        w.delivered = max(w.delivered, delivered)
        w.read = max(w.read, read)
        watermarks[key] = w
        return w
    }

    public func userWatermark(conversation: String, user: String) throws -> WatermarkPair {
        var out = WatermarkPair()
        for key in devicesByUser[user] ?? [] where key.conversation == conversation {
            let w = watermarks[key] ?? WatermarkPair()
            out.delivered = max(out.delivered, w.delivered)
            out.read = max(out.read, w.read)
        }
        return out
    }

    public func deviceWatermark(conversation: String, user: String, node: UInt64) throws -> WatermarkPair {
        watermarks[DeviceKey(conversation: conversation, user: user, node: node)] ?? WatermarkPair()
    }
}
