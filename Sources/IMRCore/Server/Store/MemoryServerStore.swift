/// The in-memory server store: tests, simulations, embedded use. Nothing survives the process.
/// Conversations and users are keyed by their exact bytes (`ExactIdentifier`), as SQLite keys them.
public final class MemoryServerStore: ServerStore {
    private typealias Name = ExactIdentifier

    private final class Conversation {
        var members: Set<Name>
        var owners: Set<Name> = []
        var messages: [StoredMessage] = []          // index = seq - 1
        var byID: [MessageID: Int] = [:]            // message id -> index
        init(members: Set<Name>) { self.members = members }
    }

    private struct DeviceKey: Hashable {
        var conversation: Name
        var user: Name
        var node: UInt64
    }

    private var conversationsByID: [Name: Conversation] = [:]
    private var conversationsByUser: [Name: Set<Name>] = [:]
    private var watermarks: [DeviceKey: WatermarkPair] = [:]
    private var devicesByUser: [Name: [DeviceKey]] = [:]

    public init() {}

    private static func names(_ list: [String]) -> Set<Name> { Set(list.map(Name.init)) }
    private static func sorted(_ set: Set<Name>) -> [String] { set.sorted().map(\.text) }

    public func createConversation(_ conversation: String, members: [String], owners: [String]) throws -> Bool {
        let id = Name(conversation)
        guard conversationsByID[id] == nil else { return false }
        let all = Self.names(members).union(Self.names(owners))
        let c = Conversation(members: all)
        c.owners = Self.names(owners)
        conversationsByID[id] = c
        for m in all { conversationsByUser[m, default: []].insert(id) }
        return true
    }

    public func members(of conversation: String) throws -> [String]? {
        conversationsByID[Name(conversation)].map { Self.sorted($0.members) }
    }

    public func owners(of conversation: String) throws -> [String] {
        conversationsByID[Name(conversation)].map { Self.sorted($0.owners) } ?? []
    }

    public func addMember(_ user: String, to conversation: String) throws {
        guard let c = conversationsByID[Name(conversation)] else { throw ServerStoreError.unknownConversation(conversation) }
        c.members.insert(Name(user))
        conversationsByUser[Name(user), default: []].insert(Name(conversation))
    }

    public func setRole(_ role: MemberRole, of user: String, in conversation: String) throws {
        guard let c = conversationsByID[Name(conversation)] else { throw ServerStoreError.unknownConversation(conversation) }
        guard c.members.contains(Name(user)) else { return }
        if role == .owner { c.owners.insert(Name(user)) } else { c.owners.remove(Name(user)) }
    }

    public func removeMember(_ user: String, from conversation: String) throws {
        guard let c = conversationsByID[Name(conversation)] else { throw ServerStoreError.unknownConversation(conversation) }
        c.members.remove(Name(user))
        c.owners.remove(Name(user))
        conversationsByUser[Name(user)]?.remove(Name(conversation))
    }

    public func conversations(of user: String) throws -> [ConversationHead] {
        (conversationsByUser[Name(user)] ?? []).sorted().map {
            ConversationHead(conversation: $0.text, headSeq: UInt64(conversationsByID[$0]?.messages.count ?? 0))
        }
    }

    public func headSeq(of conversation: String) throws -> UInt64? {
        conversationsByID[Name(conversation)].map { UInt64($0.messages.count) }
    }

    public func append(_ m: NewMessage) throws -> AppendOutcome {
        guard let c = conversationsByID[Name(m.conversation)] else { throw ServerStoreError.unknownConversation(m.conversation) }
        if let i = c.byID[m.messageID] { return .existing(c.messages[i]) }
        let stored = StoredMessage(conversation: m.conversation, seq: UInt64(c.messages.count + 1),
                                   serverTimeMs: m.serverTimeMs, senderUser: m.senderUser, senderNode: m.senderNode,
                                   messageID: m.messageID, clock: m.clock, payload: m.payload)
        c.byID[m.messageID] = c.messages.count
        c.messages.append(stored)
        return .stored(stored)
    }

    public func message(in conversation: String, id: MessageID) throws -> StoredMessage? {
        guard let c = conversationsByID[Name(conversation)], let i = c.byID[id] else { return nil }
        return c.messages[i]
    }

    public func messages(in conversation: String, after: UInt64, limit: Int) throws -> [StoredMessage] {
        guard let c = conversationsByID[Name(conversation)], limit > 0, after < UInt64(c.messages.count) else { return [] }
        let start = Int(after)
        return Array(c.messages[start..<min(c.messages.count, start + limit)])
    }

    public func messages(in conversation: String, after: UInt64, limit: Int, maxBytes: Int) throws -> [StoredMessage] {
        guard let c = conversationsByID[Name(conversation)], limit > 0, after < UInt64(c.messages.count) else { return [] }
        var out: [StoredMessage] = []
        var total = 0
        for m in c.messages[Int(after)..<min(c.messages.count, Int(after) + limit)] {
            out.append(m)
            total += m.payload.count
            if total > maxBytes { break }
        }
        return out
    }

    public func recordWatermark(conversation: String, user: String, node: UInt64, delivered: UInt64, read: UInt64) throws -> WatermarkPair {
        let key = DeviceKey(conversation: Name(conversation), user: Name(user), node: node)
        var w = watermarks[key] ?? {
            devicesByUser[Name(user), default: []].append(key)
            return WatermarkPair()
        }()
        w.delivered = max(w.delivered, delivered)
        w.read = max(w.read, read)
        watermarks[key] = w
        return w
    }

    public func userWatermark(conversation: String, user: String) throws -> WatermarkPair {
        var out = WatermarkPair()
        let id = Name(conversation)
        for key in devicesByUser[Name(user)] ?? [] where key.conversation == id {
            let w = watermarks[key] ?? WatermarkPair()
            out.delivered = max(out.delivered, w.delivered)
            out.read = max(out.read, w.read)
        }
        return out
    }

    public func deviceWatermark(conversation: String, user: String, node: UInt64) throws -> WatermarkPair {
        watermarks[DeviceKey(conversation: Name(conversation), user: Name(user), node: node)] ?? WatermarkPair()
    }
}
