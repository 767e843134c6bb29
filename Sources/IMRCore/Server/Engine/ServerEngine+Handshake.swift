/// hello -> token check -> welcome.
extension ServerEngine {
    func handleHello(_ hello: Hello, _ s: Session, _ now: UInt64) {
        if s.user != nil {
            violation(s, .badFrame, "already authenticated: hello is the first frame only")
            return
        }
        guard hello.protocolVersion == Frame.protocolVersion else {
            counters.authFailures += 1
            emit(.authenticationFailed(s.id, .unsupportedVersion))
            fail(s, .unsupportedVersion, "protocol version \(hello.protocolVersion) is not supported (this server speaks \(Frame.protocolVersion))")
            return
        }
        let wall = serverTime(now)
        let user: String
        switch verifier.verify(token: hello.token, nowUnixMs: wall) {
        case let .valid(u):
            guard (try? IdentifierRules.validate(u, field: "user", limits: config.limits)) != nil else {
                counters.authFailures += 1
                emit(.authenticationFailed(s.id, .authFailed))
                fail(s, .authFailed, "the token names an invalid user id")
                return
            }
            user = u
        case .invalid:
            counters.authFailures += 1
            emit(.authenticationFailed(s.id, .authFailed))
            fail(s, .authFailed, "invalid token")
            return
        case .expired:
            counters.authFailures += 1
            emit(.authenticationFailed(s.id, .tokenExpired))
            fail(s, .tokenExpired, "token expired")
            return
        }
        let heads: [ConversationHead]
        do {
            for room in config.autoJoinConversations { try ensureMembers(room, [user]) }
            heads = try store.conversations(of: user)
        } catch {
            storeFailed(error, "listing \(user)'s conversations")
            fail(s, .internalError, "server store unavailable")
            return
        }
        s.phase = .authenticated(user: user, node: hello.deviceNode)
        online[user, default: []].append(s.id)
        emit(.authenticated(s.id, user: user, node: hello.deviceNode))
        enqueue(.welcome(Welcome(user: user, serverTimeMs: wall, limits: config.serverLimits,
                                 conversations: fittingFrame(heads))), to: s)
    }

    /// A welcome must fit one frame: a user in more conversations than that gets the most
    /// recently active first-by-id ones that fit; the rest show up by push.
    private func fittingFrame(_ heads: [ConversationHead]) -> [ConversationHead] {
        var budget = config.limits.maxFrameBytes - 512
        var out: [ConversationHead] = []
        out.reserveCapacity(heads.count)
        for h in heads {
            budget -= h.conversation.utf8.count + 16
            if budget < 0 { break }
            out.append(h)
        }
        return out
    }
}
