/// What a token check decided.
public enum TokenVerdict: Sendable, Equatable {
    /// The token is good and names this user.
    case valid(user: String)
    /// Forged, malformed or unknown.
    case invalid
    /// Well-formed and authentic, but past its expiry.
    case expired
}

/// Checks the token of a hello. The engine calls it once per session, with wall time.
/// The reference relay's verifier checks JWTs (`JWTTokenVerifier` in IMRRelay);
/// tests and simulations use simpler ones.
public protocol TokenVerifier: Sendable {
    func verify(token: String, nowUnixMs: UInt64) -> TokenVerdict
}

/// Accepts any non-empty token as the user name itself. For tests, simulations and demos
/// only: it authenticates nobody.
public struct InsecureUserNameVerifier: TokenVerifier {
    public init() {}
    public func verify(token: String, nowUnixMs: UInt64) -> TokenVerdict {
        token.isEmpty ? .invalid : .valid(user: token)
    }
}
