import Foundation
import IMRCore
import Logging
import Prometheus
import Testing
@testable import IMRRelay

/// The relay's metrics, scraped over HTTP as Prometheus would.
@Suite struct RelayMetricsTests {
    @Test(.timeLimit(.minutes(1)))
    func aScrapeShowsConnectionsSendsRefusalsAndCommits() async throws {
        let registry = PrometheusCollectorRegistry()
        let endpoint = MetricsEndpoint(registry: registry)
        let metricsPort = try await endpoint.start(host: "127.0.0.1", port: 0)
        var options = RelayOptions(databasePath: nil, verifier: InsecureUserNameVerifier())
        options.conversations = [("general", ["alice"])]
        options.server.rateLimit = nil
        options.server.limits.maxPayloadBytes = 100
        options.metrics = PrometheusMetricsFactory(registry: registry)
        var logger = Logger(label: "imr.relay.test")
        logger.logLevel = .warning
        let relay = Relay(options: options, logger: logger)
        let port = try await relay.start()
        do {
            try await Self.exercise(relayPort: port, metricsPort: metricsPort)
        } catch {
            try? await relay.stop()
            try? await endpoint.stop()
            throw error
        }
        try await relay.stop()
        try await endpoint.stop()
    }

    static func exercise(relayPort port: Int, metricsPort: Int) async throws {
        let alice = try RawClient(port: port)
        _ = try alice.hello(token: "alice", node: 1)
        var rng = SeededGenerator(seed: 9)
        for payload in [[UInt8]("hi".utf8), [UInt8](repeating: 7, count: 200)] {
            try alice.send(.send(Send(conversation: "general", messageID: .uuidV7(unixMilliseconds: 1, using: &rng),
                                      clock: VectorClock(), payload: payload)))
        }
        _ = try alice.read { if case .sendAck = $0 { true } else { nil } }
        _ = try alice.read { if case .sendReject = $0 { true } else { nil } }
        // Metrics follow the engine at most every 100 ms, after a drain: ping (a drain) until a
        // scrape shows the send, or give up after 10 s.
        var text = ""
        for _ in 0..<50 {
            try await Task.sleep(for: .milliseconds(200))
            try alice.send(.ping(nonce: 1))
            _ = try alice.read { if case .pong = $0 { true } else { nil } }
            text = try scrape(port: metricsPort)
            if text.contains("imr_sends_accepted_total 1") && text.contains(#"imr_connections{state="authenticated"} 1"#) { break }
        }
        #expect(text.contains("imr_sends_accepted_total 1"), "\(text)")
        #expect(text.contains(#"imr_sends_refused_total{code="payload_too_large"} 1"#))
        #expect(text.contains(#"imr_connections{state="authenticated"} 1"#))
        #expect(text.contains("imr_pushes_total"))
        #expect(text.range(of: #"imr_store_commit_seconds_count [1-9]"#, options: .regularExpression) != nil)
        #expect(text.contains("imr_store_commit_batch_size"))
        #expect(try scrape(port: metricsPort, path: "/other").contains("not found"))
    }

    /// GET over a plain socket; the response body.
    static func scrape(port: Int, path: String = "/metrics") throws -> String {
        let client = try RawClient(port: port)
        try client.sendRaw(Array("GET \(path) HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".utf8))
        let response = try client.readAllBytes()
        let text = String(decoding: response, as: UTF8.self)
        guard let split = text.range(of: "\r\n\r\n") else { return text }
        return String(text[split.upperBound...])
    }
}
