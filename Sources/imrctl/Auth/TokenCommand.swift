import ArgumentParser
import Foundation
import IMRCore
import IMRRelay

/// `imrctl token`: mints an HMAC token for a user with the relay's secret.
struct TokenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token",
        abstract: "Mint an auth token for a user (HMAC-SHA256 over user and expiry, keyed by the relay's secret).")

    @Option(help: "The user the token authenticates.") var user: String
    @Option(help: "File holding the server secret (at least 16 bytes; surrounding whitespace ignored).") var secretFile: String
    @Option(help: "Seconds until the token expires.") var ttl: UInt64 = 86_400
    @Flag(help: "Create the secret file with a fresh random secret if it does not exist.") var createSecret = false

    func validate() throws {
        guard (try? IdentifierRules.validate(user, field: "user")) != nil else {
            throw ValidationError("--user must be 1 to 128 bytes of UTF-8 in Unicode NFC, without NUL")
        }
        guard ttl > 0 else { throw ValidationError("--ttl must be positive") }
    }

    func run() throws {
        if createSecret && !FileManager.default.fileExists(atPath: secretFile) {
            let secret = HMACTokenAuthority.generateSecret() + "\n"
            guard FileManager.default.createFile(atPath: secretFile, contents: Data(secret.utf8), attributes: [.posixPermissions: 0o600]) else {
                throw ValidationError("cannot create the secret file \(secretFile)")
            }
            FileHandle.standardError.write(Data("imrctl: created a new secret in \(secretFile)\n".utf8))
        }
        let authority = try HMACTokenAuthority(secretFile: secretFile)
        print(authority.mint(user: user, ttlSeconds: ttl))
    }
}
