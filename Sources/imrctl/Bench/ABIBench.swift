import IMRCore
#if canImport(Glibc)
import Glibc
#endif

/// The native baseline of the C ABI's cost figure: one send->ack cycle between a client
/// engine and a server engine in memory, driven directly from Swift. The same cycle is
/// driven from C (bindings/c/bench/send_ack.c) and from Python
/// (bindings/python/bench/send_ack.py); `make bench-abi` prints the three and the ratios.
///
/// A cycle: send a 100-byte payload; every frame the client transmits goes to the server,
/// every frame the server outputs (the ack, and the push back to the sender's device) goes
/// to the client, until nothing moves; then both event queues are drained.
struct ABIBench: BenchSuite {
    let name = "abi"

    func run(quick: Bool) throws -> [BenchFigure] {
        let cycles = quick ? 2_000 : 20_000
        let runs = quick ? 3 : 7
        _ = try Self.cycle(cycles / 10 + 1)  // warm-up
        let us = try (0..<runs).map { _ in try Self.cycle(cycles) }
        return [BenchFigure(key: "abi_native_send_ack_us", value: median(us), unit: "us",
                            label: "send->ack cycle, client + server engine, native Swift (CPU time)")]
    }

    /// Microseconds per cycle over `cycles` cycles on fresh engines.
    static func cycle(_ cycles: Int) throws -> Double {
        var serverConfig = ServerConfig()
        serverConfig.rateLimit = nil
        let tokens = TokenTable()
        tokens.register(token: "bench-token", user: "alice")
        let server = ServerEngine(config: serverConfig, store: MemoryServerStore(), verifier: tokens)
        try server.createConversation("bench", members: ["alice"])
        var clientConfig = ClientConfig(nodeID: 1, token: "bench-token")
        clientConfig.seed = 1
        let client = try ClientEngine(config: clientConfig)
        var now: UInt64 = 1000
        let session = server.openSession(now: now)
        client.connected(now: now)
        try pump(client, server, session, now)

        let payload = [UInt8](repeating: UInt8(ascii: "x"), count: 100)
        let start = cpuSeconds()
        for _ in 0..<cycles {
            now += 1
            _ = try client.send(conversation: "bench", payload: payload, now: now)
            try pump(client, server, session, now)
        }
        let elapsed = cpuSeconds() - start
        return elapsed / Double(cycles) * 1e6
    }

    /// CPU time of the process (the C and Python drivers measure the same way): on a shared,
    /// loaded machine it leaves out the time other processes ran.
    static func cpuSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    static func pump(_ client: ClientEngine, _ server: ServerEngine, _ session: SessionID, _ now: UInt64) throws {
        var moved = true
        while moved {
            moved = false
            while let frame = client.pollTransmit() {
                frame.withUnsafeBytes { server.handle(frameBytes: $0, from: session, now: now) }
                moved = true
            }
            while let output = server.pollOutput() {
                if case let .frame(_, bytes) = output {
                    var failure: (any Error)?
                    bytes.withUnsafeBytes { raw in
                        do { try client.handle(frameBytes: raw, now: now) } catch { failure = error }
                    }
                    if let failure { throw failure }
                }
                moved = true
            }
        }
        while let _ = client.pollEvent() {}
        while let _ = server.pollEvent() {}
    }
}
