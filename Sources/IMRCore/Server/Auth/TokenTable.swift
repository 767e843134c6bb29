/// A verifier over an explicit table of tokens: each registered token names a user and an
/// optional expiry (wall time, Unix ms). For hosts that embed the server engine and do their
/// own authentication (the C ABI's `imr_server_add_token`); the reference relay verifies JWTs
/// instead. Used by one thread at a time, like the engine that calls it.
public final class TokenTable: TokenVerifier, @unchecked Sendable {
    private struct Grant {
        var user: String
        var expiresAtUnixMs: UInt64?
    }

    /// Keyed by the token's exact bytes (`ExactIdentifier`): a look-alike token is another token.
    private var grants: [ExactIdentifier: Grant] = [:]

    public init() {}

    /// Registers (or replaces) `token` for `user`; nil expiry means it never expires.
    public func register(token: String, user: String, expiresAtUnixMs: UInt64? = nil) {
        grants[ExactIdentifier(token)] = Grant(user: user, expiresAtUnixMs: expiresAtUnixMs)
    }

    /// Forgets `token`; false when it was not registered.
    @discardableResult
    public func revoke(token: String) -> Bool {
        grants.removeValue(forKey: ExactIdentifier(token)) != nil
    }

    public var count: Int { grants.count }

    public func verify(token: String, nowUnixMs: UInt64) -> TokenVerdict {
        guard let grant = grants[ExactIdentifier(token)] else { return .invalid }
        if let expiry = grant.expiresAtUnixMs, nowUnixMs >= expiry { return .expired }
        return .valid(user: grant.user)
    }
}
