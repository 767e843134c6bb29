import Crypto
import Foundation
import IMRCore

/// HMAC-SHA256 bearer tokens over (user, expiry), keyed by a server secret.
///
/// Format: `base64url(user) "." expiry "." base64url(mac)`, where expiry is Unix seconds in
/// decimal and mac = HMAC-SHA256(secret, "imr-token-v1\n" + user + "\n" + expiry). Anyone with
/// the secret can mint tokens; the relay only verifies them. Tokens are not revocable before
/// their expiry (keep TTLs short, rotate the secret to revoke all).
public struct HMACTokenAuthority: Sendable {
    /// The shortest secret accepted.
    public static let minimumSecretBytes = 16
    private let key: SymmetricKey

    public enum SecretError: Error, CustomStringConvertible {
        case unreadable(String, String)
        case tooShort(Int)
        public var description: String {
            switch self {
            case let .unreadable(path, why): return "cannot read the secret file \(path): \(why)"
            case let .tooShort(n): return "the secret is \(n) bytes; at least \(HMACTokenAuthority.minimumSecretBytes) are needed"
            }
        }
    }

    public init(secret: [UInt8]) throws {
        guard secret.count >= Self.minimumSecretBytes else { throw SecretError.tooShort(secret.count) }
        key = SymmetricKey(data: secret)
    }

    /// Reads a secret file; surrounding whitespace (a trailing newline) is not part of the secret.
    public init(secretFile path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw SecretError.unreadable(path, "no such file or not readable")
        }
        var bytes = [UInt8](data)
        while let last = bytes.last, last == 0x0A || last == 0x0D || last == 0x20 || last == 0x09 { bytes.removeLast() }
        while let first = bytes.first, first == 0x0A || first == 0x0D || first == 0x20 || first == 0x09 { bytes.removeFirst() }
        try self.init(secret: bytes)
    }

    /// A new random secret as 64 hex characters (32 bytes of entropy), for a secret file.
    public static func generateSecret() -> String {
        var rng = SystemRandomNumberGenerator()
        return (0..<32).map { _ in
            let b = UInt8.random(in: 0...255, using: &rng)
            return String(format: "%02x", b)
        }.joined()
    }

    public func mint(user: String, expiresAtUnixSeconds expiry: UInt64) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Self.signedBytes(user: user, expiry: String(expiry)), using: key)
        return Base64URL.encode(Array(user.utf8)) + "." + String(expiry) + "." + Base64URL.encode(Array(mac))
    }

    public func mint(user: String, ttlSeconds: UInt64, nowUnixMs: UInt64 = currentUnixMilliseconds()) -> String {
        mint(user: user, expiresAtUnixSeconds: nowUnixMs / 1000 + ttlSeconds)
    }

    public func verify(token: String, nowUnixMs: UInt64) -> TokenVerdict {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3,
              let userBytes = Base64URL.decode(parts[0]), !userBytes.isEmpty,
              let user = String(validating: userBytes, as: UTF8.self),
              !parts[1].isEmpty, parts[1].count <= 20, parts[1].allSatisfy({ $0.isASCII && $0.isNumber }),
              let expiry = UInt64(parts[1]),
              let mac = Base64URL.decode(parts[2]), mac.count == SHA256.byteCount
        else { return .invalid }
        // Constant-time comparison of the code.
        guard HMAC<SHA256>.isValidAuthenticationCode(mac, authenticating: Self.signedBytes(user: user, expiry: String(parts[1])), using: key)
        else { return .invalid }
        let (expiryMs, overflow) = expiry.multipliedReportingOverflow(by: 1000)
        if !overflow && nowUnixMs >= expiryMs { return .expired }
        return .valid(user: user)
    }

    private static func signedBytes(user: String, expiry: String) -> [UInt8] {
        Array("imr-token-v1\n".utf8) + Array(user.utf8) + [0x0A] + Array(expiry.utf8)
    }
}

/// The relay's `TokenVerifier`: HMAC tokens minted with the relay's secret.
public struct HMACTokenVerifier: TokenVerifier {
    public let authority: HMACTokenAuthority
    public init(authority: HMACTokenAuthority) { self.authority = authority }
    public func verify(token: String, nowUnixMs: UInt64) -> TokenVerdict {
        authority.verify(token: token, nowUnixMs: nowUnixMs)
    }
}

/// Unpadded base64url (RFC 4648 §5).
enum Base64URL {
    static func encode(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func decode(_ text: some StringProtocol) -> [UInt8]? {
        guard text.utf8.count <= 8192,
              text.utf8.allSatisfy({ ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2D || $0 == 0x5F })
        else { return nil }
        var s = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        switch s.utf8.count % 4 {
        case 2: s += "=="
        case 3: s += "="
        case 1: return nil
        default: break
        }
        return Data(base64Encoded: s).map { [UInt8]($0) }
    }
}

/// Unix time in milliseconds (wall clock), for token expiry and server time.
public func currentUnixMilliseconds() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return UInt64(ts.tv_sec) * 1000 + UInt64(ts.tv_nsec) / 1_000_000
}
