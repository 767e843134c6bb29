import ArgumentParser
import Foundation
import IMRClient
import IMRCore
import NIOCore
import NIOPosix
import NIOSSL

/// `imrctl chat`: a line-based chat client for people, on the client engine.
struct ChatCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chat",
        abstract: "Chat in one conversation: each typed line is sent, every message shows its state (sending/sent/failed).",
        discussion: """
            Reconnects with backoff and catches up by sync. Commands: /retry (send failed messages \
            again), /status, /quit. At the end of input it waits for pending messages, then exits.
            """)

    @Option(help: "The relay, host:port; several, comma-separated, are tried in turn (failover).") var server = "127.0.0.1:7700"
    @Option(help: "Your user id (as in the token).") var user: String
    @Option(help: "Your auth token (see `imrctl token`).") var token: String
    @Option(help: "The conversation to chat in.") var conversation = "general"
    @Option(help: "SQLite file for the outbox, cursors and history (kept across restarts).") var store: String?
    @Option(help: "This device's node id (default: random each start; give one with --store).") var node: UInt64?
    @Option(help: "Seconds to wait for pending messages after the end of input.") var drainTimeout = 15.0
    @Option(help: "TLS, trusting the CA certificates in this PEM file (see `imrctl cert`).") var caFile: String?
    @Flag(help: "TLS, trusting the system's CA certificates.") var tls = false

    func validate() throws {
        _ = try servers()
        guard (try? IdentifierRules.validate(conversation, field: "conversation")) != nil else {
            throw ValidationError("invalid --conversation")
        }
        guard (try? IdentifierRules.validate(user, field: "user")) != nil else { throw ValidationError("invalid --user") }
        if node == 0 { throw ValidationError("--node must not be 0") }
    }

    func servers() throws -> [ServerAddress] {
        try server.split(separator: ",").map { text in
            guard let address = ServerAddress(String(text).trimmingCharacters(in: .whitespaces)) else {
                throw ValidationError("--server must be host:port[,host:port...], got \(server)")
            }
            return address
        }
    }

    func run() async throws {
        let servers = try servers()
        var tlsContext: NIOSSLContext?
        if tls || caFile != nil {
            var configuration = TLSConfiguration.makeClientConfiguration()
            if let caFile { configuration.trustRoots = .file(caFile) }
            tlsContext = try NIOSSLContext(configuration: configuration)
        }
        var rng = SystemRandomNumberGenerator()
        var config = ClientConfig(nodeID: node ?? (rng.next() | 1), token: token, userID: user)
        config.seed = rng.next()
        config.storePath = store
        let engine = try ClientEngine(config: config)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let session = ChatSession(engine: engine, loop: group.next(), servers: servers, tls: tlsContext, conversation: conversation) { line in
            FileHandle.standardOutput.write(Data((line + "\n").utf8))
        }
        session.start()

        // stdin is read on its own thread; lines come back through a stream.
        let (lines, continuation) = AsyncStream<String>.makeStream()
        Thread.detachNewThread {
            while let line = readLine(strippingNewline: true) { continuation.yield(line) }
            continuation.finish()
        }
        for await line in lines {
            if line.trimmingCharacters(in: .whitespaces) == "/quit" { break }
            session.typed(line)
            if try await session.failure.get() != nil { break }
        }

        // End of input: let pending messages settle (or fail), then leave.
        let deadline = Date().addingTimeInterval(drainTimeout)
        while Date() < deadline {
            if try await session.failure.get() != nil { break }
            if try await session.isSettled().get() { break }
            try await Task.sleep(nanoseconds: 50_000_000)
        }
        let failure = try await session.failure.get()
        try await session.stop().get()
        try await group.shutdownGracefully()
        if failure != nil { throw ExitCode.failure }
    }
}
