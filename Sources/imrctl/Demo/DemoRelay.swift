import IMRCore
import IMRRelay
import Logging
import NIOCore

/// The demo's in-process relay: a fresh SQLite store, the demo's conversations, and a token
/// authority (HS256 JWTs) to mint each device's token.
struct DemoRelay {
    let relay: Relay
    let authority: TokenAuthority
    let port: Int

    static func start(databasePath: String, members: [String: Set<String>], group: any EventLoopGroup) async throws -> DemoRelay {
        let authority = try TokenAuthority(secret: Array(TokenAuthority.generateSecret().utf8))
        var options = RelayOptions(databasePath: databasePath, verifier: authority.verifier())
        options.conversations = members.sorted { $0.key < $1.key }.map { ($0.key, $0.value.sorted()) }
        var logger = Logger(label: "imr.demo.relay")
        logger.logLevel = .warning
        let relay = Relay(options: options, group: group, logger: logger)
        let port = try await relay.start(host: "127.0.0.1", port: 0)
        return DemoRelay(relay: relay, authority: authority, port: port)
    }

    func token(for user: String) async throws -> String {
        try await authority.mint(user: user, ttlSeconds: 3_600)
    }

    func stop() async throws {
        try await relay.stop()
    }
}
