/// Conversation creation and member changes, from clients (frames) and from the host (admin).
///
/// Roles: any authenticated user may create a conversation and is
/// its first owner; owners add and remove members and grant or take ownership (an add naming
/// a member already there sets its role); any member may leave (remove itself); everyone else
/// gets `notOwner` or `notMember`. Changes are idempotent: adding a member twice is fine.
extension ServerEngine {
    func handleCreate(_ c: CreateConversation, _ s: Session, _ now: UInt64) {
        guard let user = s.user else { return }
        var result = ConversationResult(requestID: c.requestID, conversation: c.conversation, code: .ok)
        let members = Set(c.members + [user])
        do {
            if members.count > config.maxMembersPerConversation {
                result.code = .invalid
            } else if try membership(c.conversation) == nil {
                try create(c.conversation, members, owners: [user])
                result.members = members.sorted()
                result.owners = [user]
            } else {
                result.code = .alreadyExists
                if let existing = try membership(c.conversation), existing.contains(user) {
                    result.members = existing.sortedMembers
                    result.owners = existing.sortedOwners
                    result.headSeq = try store.headSeq(of: c.conversation) ?? 0
                }
            }
        } catch {
            storeFailed(error, "creating \(c.conversation)")
            violation(s, .internalError, "server store unavailable")
            return
        }
        enqueue(.conversationResult(fitted(result)), to: s)
    }

    func handleMemberChange(_ c: MemberChange, adding: Bool, _ s: Session, _ now: UInt64) {
        guard let user = s.user else { return }
        var result = ConversationResult(requestID: c.requestID, conversation: c.conversation, code: .ok)
        do {
            if let current = try membership(c.conversation) {
                let leaving = !adding && c.user == user
                if !current.contains(user) {
                    result.code = .notMember
                } else if !leaving && !current.isOwner(user) {
                    result.code = .notOwner
                } else if adding && !current.contains(c.user) && current.count >= config.maxMembersPerConversation {
                    result.code = .invalid
                } else if adding && c.role != .member && c.role != .owner {
                    result.code = .invalid
                } else {
                    let updated = try applyMemberChange(c.user, c.conversation, adding: adding, role: c.role, current: current)
                    result.members = updated.sortedMembers
                    result.owners = updated.sortedOwners
                    result.headSeq = try store.headSeq(of: c.conversation) ?? 0
                }
            } else {
                result.code = .unknownConversation
            }
        } catch {
            storeFailed(error, "changing members of \(c.conversation)")
            violation(s, .internalError, "server store unavailable")
            return
        }
        enqueue(.conversationResult(fitted(result)), to: s)
    }

    /// A result lists at most `maxMembersPerFrame` members, the codec's limit (a conversation
    /// may have more, and a create names up to that many besides its creator): the first ones
    /// in byte order, with the owners among them. Longer lists would not encode, and the
    /// answer would be lost.
    func fitted(_ result: ConversationResult) -> ConversationResult {
        let limit = config.limits.maxMembersPerFrame
        guard result.members.count > limit || result.owners.count > limit else { return result }
        var out = result
        out.members = Array(result.members.prefix(limit))
        let listed = Set(out.members.map(ExactIdentifier.init))
        out.owners = result.owners.filter { listed.contains(ExactIdentifier($0)) }
        return out
    }

    /// Adds `user` with `role` (or sets the role of a member already there), or removes it.
    private func applyMemberChange(_ user: String, _ conversation: String, adding: Bool, role: MemberRole,
                                   current: Membership) throws -> Membership {
        var updated = current
        if adding {
            let isOwner = current.isOwner(user)
            if current.contains(user) && isOwner == (role == .owner) { return current }
            try beginWrite()
            if !current.contains(user) {
                try store.addMember(user, to: conversation)
                updated.insert(user)
            }
            if role == .owner || isOwner {
                try store.setRole(role, of: user, in: conversation)
                updated.setOwner(user, role == .owner)
            }
        } else {
            guard current.contains(user) else { return current }
            try beginWrite()
            try store.removeMember(user, from: conversation)
            updated.remove(user)
        }
        cacheMembership(conversation, updated)
        emit(.membershipChanged(conversation: conversation, members: updated.sortedMembers))
        return updated
    }

    // MARK: Admin (host) path

    private func validated(_ id: String, _ members: [String]) throws -> Set<String> {
        do throws(WireError) {
            try IdentifierRules.validate(id, field: "conversation", limits: config.limits)
            for m in members { try IdentifierRules.validate(m, field: "user", limits: config.limits) }
        } catch {
            throw ServerError.invalidIdentifier(error)
        }
        let set = Set(members)
        guard set.count <= config.maxMembersPerConversation else {
            throw ServerError.tooManyMembers(set.count, limit: config.maxMembersPerConversation)
        }
        return set
    }

    /// Creates a conversation with these members, `owners` among them holding the owner role
    /// (owners are added as members if missing). Throws `ServerError.conversationExists` if it
    /// exists, `.invalidIdentifier` / `.tooManyMembers` on bad input, or the store's error.
    public func createConversation(_ id: String, members: [String], owners: [String] = []) throws {
        let ownerSet = try validated(id, owners)
        try create(id, try validated(id, members + owners), owners: ownerSet)
        try commitOrThrow()
    }

    private func create(_ id: String, _ set: Set<String>, owners: Set<String>) throws {
        try beginWrite()
        guard try store.createConversation(id, members: set.sorted(), owners: owners.sorted()) else {
            throw ServerError.conversationExists(id)
        }
        let membership = Membership(members: set, owners: owners)
        cacheMembership(id, membership)
        emit(.membershipChanged(conversation: id, members: membership.sortedMembers))
    }

    /// Creates the conversation when it does not exist yet, and otherwise leaves it as it is
    /// (its members and roles are the members' business once it exists). For hosts that
    /// declare the same conversations at every start. True when it was created.
    @discardableResult
    public func createConversationIfMissing(_ id: String, members: [String], owners: [String] = []) throws -> Bool {
        let ownerSet = try validated(id, owners)
        let set = try validated(id, members + owners)
        guard try membership(id) == nil else { return false }
        try create(id, set, owners: ownerSet)
        try commitOrThrow()
        return true
    }

    /// Creates the conversation, or adds whichever of `members` are missing. Open rooms
    /// (`ServerConfig.autoJoinConversations`) use it for every user at hello.
    func ensureMembers(_ id: String, _ members: [String]) throws {
        let set = try validated(id, members)
        guard let current = try membership(id) else {
            try create(id, set, owners: [])
            return
        }
        var now = current
        for m in set.sorted() where !now.contains(m) {
            now = try applyMemberChange(m, id, adding: true, role: .member, current: now)
        }
    }

    /// Adds a member, or sets the role of one already there (admin path; no role requirement).
    public func addMember(_ user: String, to conversation: String, role: MemberRole = .member) throws {
        _ = try validated(conversation, [user])
        guard let current = try membership(conversation) else { throw ServerError.unknownConversation(conversation) }
        // The same limit as a member's add-member frame and as creation.
        if !current.contains(user) && current.members.count >= config.maxMembersPerConversation {
            throw ServerError.tooManyMembers(current.members.count + 1, limit: config.maxMembersPerConversation)
        }
        _ = try applyMemberChange(user, conversation, adding: true, role: role, current: current)
        try commitOrThrow()
    }

    /// Removes a member (admin path).
    public func removeMember(_ user: String, from conversation: String) throws {
        _ = try validated(conversation, [user])
        guard let current = try membership(conversation) else { throw ServerError.unknownConversation(conversation) }
        _ = try applyMemberChange(user, conversation, adding: false, role: .member, current: current)
        try commitOrThrow()
    }

    /// The owners of a conversation, sorted; nil for an unknown conversation.
    public func owners(of conversation: String) throws -> [String]? {
        try membership(conversation)?.sortedOwners
    }

    /// The role of `user` in a conversation, nil when it is not a member. Throws
    /// `ServerError.unknownConversation` for a conversation that does not exist.
    public func role(of user: String, in conversation: String) throws -> MemberRole? {
        guard let membership = try membership(conversation) else { throw ServerError.unknownConversation(conversation) }
        if membership.isOwner(user) { return .owner }
        return membership.contains(user) ? .member : nil
    }
}

/// A conversation's members and, among them, its owners, as the engine caches them: keyed by
/// exact bytes (`ExactIdentifier`), as the stores key them.
struct Membership: Equatable {
    private(set) var members: Set<ExactIdentifier>
    private(set) var owners: Set<ExactIdentifier>

    init(members: some Sequence<String>, owners: some Sequence<String>) {
        self.members = Set(members.map(ExactIdentifier.init))
        self.owners = Set(owners.map(ExactIdentifier.init))
        self.members.formUnion(self.owners)
    }

    var count: Int { members.count }
    func contains(_ user: String) -> Bool { members.contains(ExactIdentifier(user)) }
    func isOwner(_ user: String) -> Bool { owners.contains(ExactIdentifier(user)) }
    /// Sorted by bytes, as the stores list them.
    var sortedMembers: [String] { members.sorted().map(\.text) }
    var sortedOwners: [String] { owners.sorted().map(\.text) }

    mutating func insert(_ user: String) { members.insert(ExactIdentifier(user)) }
    mutating func remove(_ user: String) {
        members.remove(ExactIdentifier(user))
        owners.remove(ExactIdentifier(user))
    }
    mutating func setOwner(_ user: String, _ owner: Bool) {
        if owner { owners.insert(ExactIdentifier(user)) } else { owners.remove(ExactIdentifier(user)) }
    }
}
