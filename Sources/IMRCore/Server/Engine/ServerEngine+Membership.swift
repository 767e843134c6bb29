/// Conversation creation and member changes, from clients (frames) and from the host (admin).
/// Any authenticated user may create a conversation (it is always among the members); only
/// members add or remove members. Changes are idempotent: adding a member twice is fine.
extension ServerEngine {
    func handleCreate(_ c: CreateConversation, _ s: Session, _ now: UInt64) {
        guard let user = s.user else { return }
        var result = ConversationResult(requestID: c.requestID, conversation: c.conversation, code: .ok)
        let members = Set(c.members + [user])
        do {
            if members.count > config.maxMembersPerConversation {
                result.code = .invalid
            } else if try self.members(c.conversation) == nil {
                try create(c.conversation, members)
                result.members = members.sorted()
            } else {
                result.code = .alreadyExists
                if let existing = try self.members(c.conversation), existing.contains(user) {
                    result.members = existing.sorted()
                    result.headSeq = try store.headSeq(of: c.conversation) ?? 0
                }
            }
        } catch {
            storeFailed(error, "creating \(c.conversation)")
            violation(s, .internalError, "server store unavailable")
            return
        }
        enqueue(.conversationResult(result), to: s)
    }

    func handleMemberChange(_ c: MemberChange, adding: Bool, _ s: Session, _ now: UInt64) {
        guard let user = s.user else { return }
        var result = ConversationResult(requestID: c.requestID, conversation: c.conversation, code: .ok)
        do {
            if let current = try members(c.conversation) {
                if !current.contains(user) {
                    result.code = .notMember
                } else if adding && !current.contains(c.user) && current.count >= config.maxMembersPerConversation {
                    result.code = .invalid
                } else {
                    let updated = try applyMemberChange(c.user, c.conversation, adding: adding, current: current)
                    result.members = updated.sorted()
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
        enqueue(.conversationResult(result), to: s)
    }

    private func applyMemberChange(_ user: String, _ conversation: String, adding: Bool, current: Set<String>) throws -> Set<String> {
        var updated = current
        try beginWrite()
        if adding {
            guard !current.contains(user) else { return current }
            try store.addMember(user, to: conversation)
            updated.insert(user)
        } else {
            guard current.contains(user) else { return current }
            try store.removeMember(user, from: conversation)
            updated.remove(user)
        }
        cacheMembers(conversation, updated)
        emit(.membershipChanged(conversation: conversation, members: updated.sorted()))
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

    /// Creates a conversation with these members. Throws `ServerError.conversationExists` if
    /// it exists, `.invalidIdentifier` / `.tooManyMembers` on bad input, or the store's error.
    public func createConversation(_ id: String, members: [String]) throws {
        try create(id, try validated(id, members))
        try commitOrThrow()
    }

    private func create(_ id: String, _ set: Set<String>) throws {
        try beginWrite()
        guard try store.createConversation(id, members: set.sorted()) else { throw ServerError.conversationExists(id) }
        cacheMembers(id, set)
        emit(.membershipChanged(conversation: id, members: set.sorted()))
    }

    /// Creates the conversation, or adds whichever of `members` are missing (for hosts that
    /// set up the same conversations at every start).
    public func ensureConversation(_ id: String, members: [String]) throws {
        try ensureMembers(id, members)
        try commitOrThrow()
    }

    func ensureMembers(_ id: String, _ members: [String]) throws {
        let set = try validated(id, members)
        guard let current = try self.members(id) else {
            try create(id, set)
            return
        }
        var now = current
        for m in set.sorted() where !now.contains(m) {
            now = try applyMemberChange(m, id, adding: true, current: now)
        }
    }

    /// Adds a member (admin path; no membership requirement).
    public func addMember(_ user: String, to conversation: String) throws {
        _ = try validated(conversation, [user])
        guard let current = try members(conversation) else { throw ServerError.unknownConversation(conversation) }
        // The same limit as a member's add-member frame and as creation.
        if !current.contains(user) && current.count >= config.maxMembersPerConversation {
            throw ServerError.tooManyMembers(current.count + 1, limit: config.maxMembersPerConversation)
        }
        _ = try applyMemberChange(user, conversation, adding: true, current: current)
        try commitOrThrow()
    }

    /// Removes a member (admin path).
    public func removeMember(_ user: String, from conversation: String) throws {
        _ = try validated(conversation, [user])
        guard let current = try members(conversation) else { throw ServerError.unknownConversation(conversation) }
        _ = try applyMemberChange(user, conversation, adding: false, current: current)
        try commitOrThrow()
    }
}
