/// hello -> token check -> welcome.
extension ServerEngine {
    func handleHello(_ hello: Hello, _ s: Session, _ now: UInt64) {
        if case let .authenticated(user, node) = s.phase {
            // A retransmitted hello (its welcome was lost on the way): answer it again,
            // change nothing. Another device or user on the same session is a violation.
            guard node == hello.deviceNode,
                  verifier.verify(token: hello.token, nowUnixMs: serverTime(now)) == .valid(user: user) else {
                violation(s, .badFrame, "already authenticated as another device or user")
                return
            }
            counters.repeatedHellos += 1
            welcome(user, s, now)
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
        s.phase = .authenticated(user: user, node: hello.deviceNode)
        unauthenticatedSessions -= 1
        online[ExactIdentifier(user), default: []].append(s.id)
        emit(.authenticated(s.id, user: user, node: hello.deviceNode))
        welcome(user, s, now)
    }

    /// Queues the welcome: limits, server time, the user's conversations with their heads.
    private func welcome(_ user: String, _ s: Session, _ now: UInt64) {
        let heads: [ConversationHead]
        do {
            for room in config.autoJoinConversations { try ensureMembers(room, [user]) }
            heads = try store.conversations(of: user)
        } catch {
            storeFailed(error, "listing \(user)'s conversations")
            fail(s, .internalError, "server store unavailable")
            return
        }
        enqueue(.welcome(Welcome(user: user, serverTimeMs: serverTime(now), limits: config.serverLimits,
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
