import Foundation
import IMRClient
import IMRCore
import Logging
import NIOSSL
import Testing
@testable import IMRRelay
@testable import imrctl

/// TLS between `MessagingClient` and the relay, with certificates from a throwaway CA.
@Suite struct RelayTLSTests {
    static func startRelay(certificatePEM: String, keyPEM: String) async throws -> (Relay, ServerAddress) {
        var options = MessagingClientTests.relayOptions(db: nil)
        var tls = TLSConfiguration.makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMBytes(Array(certificatePEM.utf8)).map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(bytes: Array(keyPEM.utf8), format: .pem)))
        tls.minimumTLSVersion = .tlsv13
        options.tls = tls
        let relay = Relay(options: options, logger: MessagingClientTests.quietLogger())
        let port = try await relay.start()
        return (relay, ServerAddress(host: "127.0.0.1", port: port))
    }

    static func trusting(_ ca: ThrowawayCA) throws -> TLSConfiguration {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(Array(ca.certificatePEM.utf8)))
        return tls
    }

    /// The reason of the first disconnect, or "LIVE" if the engine got its welcome first.
    static func refusalReason(_ client: MessagingClient) async throws -> String {
        try await MessagingClientTests.next(client) { update -> String? in
            if case let .disconnected(reason, _) = update { return reason }
            if case .engine(.connectionReady) = update { return "LIVE" }
            return nil
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func clientsThatTrustTheCATalkOverTLS() async throws {
        // The files `imrctl cert` writes, as `imrctl relay --tls-cert --tls-key` reads them.
        let dir = NSTemporaryDirectory() + "imr-tls-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try CertCommand.parse(["--out", dir, "--host", "127.0.0.1"]).run()
        let (relay, server) = try await Self.startRelay(
            certificatePEM: try String(contentsOfFile: dir + "/relay.pem", encoding: .utf8),
            keyPEM: try String(contentsOfFile: dir + "/relay.key", encoding: .utf8))
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .file(dir + "/ca.pem")
        let alice = try MessagingClient(servers: [server], config: MessagingClientTests.config("alice", node: 1), tls: tls)
        let bob = try MessagingClient(servers: [server], config: MessagingClientTests.config("bob", node: 2), tls: tls)
        try await alice.send(Array("over tls".utf8), to: "general")
        #expect(try await MessagingClientTests.next(bob) { MessagingClientTests.received($0) } == "over tls")
        await alice.close()
        await bob.close()
        try await relay.stop()
    }

    @Test(.timeLimit(.minutes(1)))
    func aWrongCAAnExpiredCertificateAndPlaintextAreRefused() async throws {
        let ca = try ThrowawayCA()
        let other = try ThrowawayCA(commonName: "someone else's CA")
        let good = try ca.serverCertificate(hosts: ["127.0.0.1"])
        let (relay, server) = try await Self.startRelay(certificatePEM: good.certificatePEM, keyPEM: good.keyPEM)

        let stranger = try MessagingClient(servers: [server], config: MessagingClientTests.config("alice", node: 1),
                                           tls: try Self.trusting(other), reconnectDelays: 20...100)
        #expect(try await Self.refusalReason(stranger).contains("CERTIFICATE_VERIFY_FAILED"))
        let plaintext = try MessagingClient(servers: [server], config: MessagingClientTests.config("alice", node: 2),
                                            reconnectDelays: 20...100)
        #expect(try await Self.refusalReason(plaintext) != "LIVE", "a plaintext hello is not a TLS record")
        let plaintextLive = try await plaintext.isLive()
        #expect(!plaintextLive)
        await stranger.close()
        await plaintext.close()
        try await relay.stop()

        let expired = try ca.serverCertificate(hosts: ["127.0.0.1"], expired: true)
        let (expiredRelay, expiredServer) = try await Self.startRelay(certificatePEM: expired.certificatePEM, keyPEM: expired.keyPEM)
        let client = try MessagingClient(servers: [expiredServer], config: MessagingClientTests.config("alice", node: 3),
                                         tls: try Self.trusting(ca), reconnectDelays: 20...100)
        #expect(try await Self.refusalReason(client).contains("CERTIFICATE_VERIFY_FAILED"))
        await client.close()
        try await expiredRelay.stop()

        // A certificate for another name: refused too.
        let elsewhere = try ca.serverCertificate(hosts: ["relay.example"])
        let (wrongNameRelay, wrongNameServer) = try await Self.startRelay(certificatePEM: elsewhere.certificatePEM,
                                                                          keyPEM: elsewhere.keyPEM)
        let misled = try MessagingClient(servers: [wrongNameServer], config: MessagingClientTests.config("alice", node: 4),
                                         tls: try Self.trusting(ca), reconnectDelays: 20...100)
        #expect(try await Self.refusalReason(misled) != "LIVE")
        await misled.close()
        try await wrongNameRelay.stop()
    }
}
