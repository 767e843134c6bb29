import Testing
@testable import IMRCore

/// Seeded simulations of both legs against a scripted server over a lossy network
/// (30% loss each way, duplication, delay and reordering, random disconnects).
@Suite struct SimulationTests {
    static let chunks = 0..<10
    static let seedsPerChunk: UInt64 = 100

    static func engineConfig(_ i: Int, _ rng: inout SeededGenerator) -> ClientConfig {
        var c = testConfig(node: UInt64(i + 1))
        c.seed = rng.next()
        c.ackTimeoutBaseMs = 100 + rng.next() % 200
        c.backoffCapMs = 2_000
        c.jitter = 0.3
        c.maxAttempts = 3 + Int(rng.next() % 5)
        c.maxOfflineAgeMs = [1_500, 5_000, 60_000][Int(rng.next() % 3)]
        c.inflightWindow = 1 + Int(rng.next() % 6)
        c.gapGraceMs = rng.next() % 100
        c.syncPageSize = [1, 3, 8, 50][Int(rng.next() % 4)]
        c.syncTimeoutMs = 300
        c.pollIntervalMs = [1_500, 3_000][Int(rng.next() % 2)]
        c.deliveredFlushMs = [0, 200, 200, 500][Int(rng.next() % 4)]
        return c
    }

    /// Runs `seed` with `options` and the randomized engine config, recording any violated
    /// invariant; returns the finished simulation when none was.
    static func holds(seed: UInt64, _ options: ScriptedSimulation.Options, checkReceiving: Bool) throws -> ScriptedSimulation? {
        var o = options
        o.config = engineConfig
        let sim = try ScriptedSimulation(seed: seed, options: o)
        sim.run()
        let problems = sim.violations(checkReceiving: checkReceiving)
        #expect(problems.isEmpty, "seed \(seed): \(problems.prefix(5))")
        return problems.isEmpty ? sim : nil
    }

    /// Sending leg: every message ends sent once faults stop, the server stored each id once,
    /// first transmissions keep each sender's order, one event per change.
    @Test(arguments: chunks) func sendingLegInvariants(chunk: Int) throws {
        for k in 0..<Self.seedsPerChunk {
            let seed = UInt64(chunk) * Self.seedsPerChunk + k
            var rng = SeededGenerator(seed: seed)
            var o = ScriptedSimulation.Options()
            o.devices = 1 + Int(rng.next() % 3)
            o.conversations = ["a", "b"].prefix(1 + Int(rng.next() % 2)).map { $0 }
            o.messagesPerDevice = 3 + Int(rng.next() % 8)
            o.useCodec = seed % 10 == 0
            guard try Self.holds(seed: seed, o, checkReceiving: false) != nil else { return }
        }
    }

    /// Receiving leg: 3 to 20 devices in one conversation (pairs share a user) converge to the
    /// same history; nothing missing, nothing twice, each live view holds each message once.
    @Test(arguments: chunks) func receivingLegInvariants(chunk: Int) throws {
        for k in 0..<Self.seedsPerChunk {
            let seed = 1_000_000 + UInt64(chunk) * Self.seedsPerChunk + k
            var rng = SeededGenerator(seed: seed)
            var o = ScriptedSimulation.Options()
            o.devices = 3 + Int(rng.next() % 18)
            o.users = (0..<o.devices).map { "u\($0 / 2)" }
            o.messagesPerDevice = 1 + Int(rng.next() % 2)
            o.disconnectsPerDevice = Int(rng.next() % 3)
            o.useCodec = seed % 10 == 0
            guard try Self.holds(seed: seed, o, checkReceiving: true) != nil else { return }
        }
    }

    /// Both legs with durable stores and crash-restarts: every device process dies at random
    /// moments and a new engine resumes from its SQLite file; the same invariants hold.
    @Test(arguments: 0..<4) func invariantsSurviveRestarts(chunk: Int) throws {
        for k in 0..<UInt64(25) {
            let seed = 2_000_000 + UInt64(chunk) * 25 + k
            let dir = TemporaryDirectory()
            var rng = SeededGenerator(seed: seed)
            var o = ScriptedSimulation.Options()
            o.devices = 2 + Int(rng.next() % 4)
            o.users = (0..<o.devices).map { "u\($0 / 2)" }
            o.messagesPerDevice = 2 + Int(rng.next() % 4)
            o.restartsPerDevice = 1 + Int(rng.next() % 2)
            o.storeDirectory = dir.path
            guard let sim = try Self.holds(seed: seed, o, checkReceiving: true) else { return }
            #expect(sim.restarts > 0)
        }
    }
}
