import Crypto
import CryptoExtras
import Foundation
import IMRCore
import JWTKit

/// The claims of a relay token: `sub` is the user; `exp` is required; `nbf` and `aud` are
/// checked when present (`aud` must name the relay's audience when it has one).
public struct RelayClaims: JWTPayload, Equatable {
    public var sub: SubjectClaim
    public var exp: ExpirationClaim
    public var nbf: NotBeforeClaim?
    public var iat: IssuedAtClaim?
    public var aud: AudienceClaim?

    public init(user: String, expires: Date, notBefore: Date? = nil, issuedAt: Date? = nil, audience: String? = nil) {
        sub = SubjectClaim(value: user)
        exp = ExpirationClaim(value: expires)
        nbf = notBefore.map { NotBeforeClaim(value: $0) }
        iat = issuedAt.map { IssuedAtClaim(value: $0) }
        aud = audience.map { AudienceClaim(value: [$0]) }
    }

    /// The relay checks the claims itself, against the wall time the engine passes in.
    public func verify(using algorithm: some JWTAlgorithm) async throws {}
}

/// How a relay checks JWTs: HS256 with the secret of its secret file, or ES256 / RS256 with a
/// public key (PEM). The header's `alg` must be exactly the key's algorithm (so `none`, and
/// a token signed for another algorithm, are refused before any signature check); then the
/// signature; then `exp` and `nbf` with `leewaySeconds` of clock skew, and `aud`. Parsing
/// and claims come from jwt-kit; the check runs synchronously with the caller's time, as the
/// engine's verifier must (jwt-kit's own verification is asynchronous and reads the clock).
public struct JWTTokenVerifier: TokenVerifier {
    public enum Key: Sendable {
        case hs256(SymmetricKey)
        case es256(P256.Signing.PublicKey)
        case rs256(_RSA.Signing.PublicKey)

        var algorithm: String {
            switch self {
            case .hs256: "HS256"
            case .es256: "ES256"
            case .rs256: "RS256"
            }
        }
    }

    public enum KeyError: Error, CustomStringConvertible {
        case unreadable(String)
        case notAPublicKey(String)
        public var description: String {
            switch self {
            case let .unreadable(path): "cannot read the key file \(path)"
            case let .notAPublicKey(path): "\(path) holds no P-256 or RSA public key in PEM"
            }
        }
    }

    public let key: Key
    public let audience: String?
    public let leewaySeconds: UInt64

    public init(key: Key, audience: String? = nil, leewaySeconds: UInt64 = 30) {
        self.key = key
        self.audience = audience
        self.leewaySeconds = leewaySeconds
    }

    /// ES256 or RS256, by the kind of public key in the PEM file.
    public init(publicKeyFile path: String, audience: String? = nil) throws {
        guard let data = FileManager.default.contents(atPath: path), let pem = String(data: data, encoding: .utf8) else {
            throw KeyError.unreadable(path)
        }
        if let p256 = try? P256.Signing.PublicKey(pemRepresentation: pem) {
            self.init(key: .es256(p256), audience: audience)
        } else if let rsa = try? _RSA.Signing.PublicKey(pemRepresentation: pem) {
            self.init(key: .rs256(rsa), audience: audience)
        } else {
            throw KeyError.notAPublicKey(path)
        }
    }

    public func verify(token: String, nowUnixMs: UInt64) -> TokenVerdict {
        let bytes = Array(token.utf8)
        // The signed input is the token up to its last dot (header "." payload).
        guard let (header, claims, signature) = try? DefaultJWTParser().parse(bytes, as: RelayClaims.self),
              header.alg == key.algorithm,
              let lastDot = bytes.lastIndex(of: UInt8(ascii: ".")),
              isValid(signature: [UInt8](signature), input: Array(bytes[..<lastDot]))
        else { return .invalid }
        let now = Double(nowUnixMs) / 1000
        let leeway = Double(leewaySeconds)
        if let nbf = claims.nbf, now + leeway < nbf.value.timeIntervalSince1970 { return .invalid }
        if let audience, !(claims.aud?.value.contains(audience) ?? false) { return .invalid }
        guard now < claims.exp.value.timeIntervalSince1970 + leeway else { return .expired }
        return claims.sub.value.isEmpty ? .invalid : .valid(user: claims.sub.value)
    }

    private func isValid(signature: [UInt8], input: [UInt8]) -> Bool {
        switch key {
        case let .hs256(secret):
            return HMAC<SHA256>.isValidAuthenticationCode(signature, authenticating: input, using: secret)
        case let .es256(publicKey):
            guard let ecdsa = try? P256.Signing.ECDSASignature(rawRepresentation: signature) else { return false }
            return publicKey.isValidSignature(ecdsa, for: SHA256.hash(data: input))
        case let .rs256(publicKey):
            return publicKey.isValidSignature(_RSA.Signing.RSASignature(rawRepresentation: signature),
                                              for: SHA256.hash(data: input), padding: .insecurePKCS1v1_5)
        }
    }
}
