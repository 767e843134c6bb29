import ArgumentParser
import Foundation
import IMRCore
import IMRRelay

/// `imrctl token`: mints a JWT for a user: HS256 with the relay's secret file, or ES256 with a
/// private key whose public half the relay holds (`--jwt-public-key`).
struct TokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token",
        abstract: "Mint a JWT for a user (HS256 with the relay's secret file, or ES256 with --jwt-private-key).")

    @Option(help: "The user the token authenticates.") var user: String
    @Option(help: "File holding the server secret (at least 32 bytes; surrounding whitespace ignored).") var secretFile: String?
    @Option(help: "ES256 instead: a P-256 private key, PEM.") var jwtPrivateKey: String?
    @Option(help: "The token's audience (`aud`), when the relay checks one.") var audience: String?
    @Option(help: "Seconds until the token expires.") var ttl: UInt64 = 86_400
    @Flag(help: "Create the secret file with a fresh random secret if it does not exist.") var createSecret = false

    func validate() throws {
        guard (try? IdentifierRules.validate(user, field: "user")) != nil else {
            throw ValidationError("--user must be 1 to 128 bytes of UTF-8 in Unicode NFC, without NUL")
        }
        guard ttl > 0 else { throw ValidationError("--ttl must be positive") }
        guard (secretFile == nil) != (jwtPrivateKey == nil) else {
            throw ValidationError("give --secret-file (HS256) or --jwt-private-key (ES256)")
        }
    }

    func run() async throws {
        if let jwtPrivateKey {
            guard let pem = FileManager.default.contents(atPath: jwtPrivateKey) else {
                throw ValidationError("cannot read \(jwtPrivateKey)")
            }
            let authority = try TokenAuthority(es256PrivateKeyPEM: String(decoding: pem, as: UTF8.self))
            print(try await authority.mint(user: user, ttlSeconds: ttl, audience: audience))
            return
        }
        guard let secretFile else { return }
        if createSecret && !FileManager.default.fileExists(atPath: secretFile) {
            let secret = TokenAuthority.generateSecret() + "\n"
            guard FileManager.default.createFile(atPath: secretFile, contents: Data(secret.utf8), attributes: [.posixPermissions: 0o600]) else {
                throw ValidationError("cannot create the secret file \(secretFile)")
            }
            FileHandle.standardError.write(Data("imrctl: created a new secret in \(secretFile)\n".utf8))
        }
        let authority = try TokenAuthority(secretFile: secretFile)
        print(try await authority.mint(user: user, ttlSeconds: ttl, audience: audience))
    }
}
