import Crypto
import Foundation
import IMRCore
import JWTKit

/// Mints the relay's tokens: JWTs (jwt-kit) whose `sub` is the user, with `exp`, `iat` and an
/// optional `aud`. HS256 with the secret of a secret file (the relay verifies with the same
/// file), or ES256 with a P-256 private key (the relay verifies with its public key, so it
/// can check tokens it cannot make). Tokens are not revocable before their expiry: keep
/// lifetimes short, and rotate the key to revoke them all.
public struct TokenAuthority: Sendable {
    /// The shortest secret accepted: an HS256 key at least as long as its hash (RFC 7518 §3.2).
    public static let minimumSecretBytes = 32

    public enum KeyError: Error, CustomStringConvertible {
        case unreadable(String, String)
        case tooShort(Int)
        case notAPrivateKey(String)
        public var description: String {
            switch self {
            case let .unreadable(path, why): "cannot read the key file \(path): \(why)"
            case let .tooShort(n): "the secret is \(n) bytes; at least \(TokenAuthority.minimumSecretBytes) are needed"
            case let .notAPrivateKey(path): "\(path) holds no P-256 private key in PEM"
            }
        }
    }

    private enum SigningKey: Sendable {
        case hs256(SymmetricKey)
        case es256(ES256PrivateKey, P256.Signing.PublicKey)
    }

    private let key: SigningKey

    public init(secret: [UInt8]) throws {
        guard secret.count >= Self.minimumSecretBytes else { throw KeyError.tooShort(secret.count) }
        key = .hs256(SymmetricKey(data: secret))
    }

    /// Reads a secret file; surrounding whitespace (a trailing newline) is not part of the secret.
    public init(secretFile path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw KeyError.unreadable(path, "no such file or not readable")
        }
        var bytes = [UInt8](data)
        while let last = bytes.last, last == 0x0A || last == 0x0D || last == 0x20 || last == 0x09 { bytes.removeLast() }
        while let first = bytes.first, first == 0x0A || first == 0x0D || first == 0x20 || first == 0x09 { bytes.removeFirst() }
        try self.init(secret: bytes)
    }

    /// ES256 with a P-256 private key in PEM.
    public init(es256PrivateKeyPEM pem: String) throws {
        guard let p256 = try? P256.Signing.PrivateKey(pemRepresentation: pem) else { throw KeyError.notAPrivateKey("the key") }
        key = .es256(try ES256PrivateKey(pem: pem), p256.publicKey)
    }

    /// What a relay checks these tokens with.
    public func verifier(audience: String? = nil) -> JWTTokenVerifier {
        switch key {
        case let .hs256(secret): JWTTokenVerifier(key: .hs256(secret), audience: audience)
        case let .es256(_, publicKey): JWTTokenVerifier(key: .es256(publicKey), audience: audience)
        }
    }

    /// A new random secret as 64 hex characters (32 bytes of entropy), for a secret file.
    public static func generateSecret() -> String {
        var rng = SystemRandomNumberGenerator()
        return (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &rng)) }.joined()
    }

    public func mint(_ claims: RelayClaims) async throws -> String {
        let keys = JWTKeyCollection()
        switch key {
        case let .hs256(secret): await keys.add(hmac: HMACKey(key: secret), digestAlgorithm: .sha256)
        case let .es256(privateKey, _): await keys.add(ecdsa: privateKey)
        }
        return try await keys.sign(claims)
    }

    public func mint(user: String, ttlSeconds: UInt64, nowUnixMs: UInt64 = currentUnixMilliseconds(),
                     audience: String? = nil) async throws -> String {
        let now = Date(timeIntervalSince1970: Double(nowUnixMs) / 1000)
        return try await mint(RelayClaims(user: user, expires: now + Double(ttlSeconds), issuedAt: now, audience: audience))
    }
}

/// Unix time in milliseconds (wall clock), for token expiry and server time.
public func currentUnixMilliseconds() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return UInt64(ts.tv_sec) * 1000 + UInt64(ts.tv_nsec) / 1_000_000
}
