import Foundation
import Testing
@testable import IMRSimulation
import IMRCore

/// The delivery invariants over thousands of seeded runs: lossy, duplicating, reordering
/// links, disconnects, and (every eighth seed) client and server crash-restarts on SQLite stores.
@Suite struct FaultSimulatorTests {
    static let seedCount: UInt64 = {
        if let text = ProcessInfo.processInfo.environment["IMR_SIM_SEEDS"], let n = UInt64(text) { return n }
        return 2_000
    }()

    /// The seeds run in interleaved chunks so the test runner can use every core.
    @Test(arguments: 0..<8)
    func invariantsHoldForEverySeed(chunk: UInt64) throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("imr-sim-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var failures: [String] = []
        var acked = 0
        for seed in stride(from: 1 + chunk, through: Self.seedCount, by: 8) {
            let report = try Simulation(config: .random(seed: seed, storeDirectory: directory)).run()
            acked += report.acked
            if !report.isClean {
                failures.append("seed \(seed): " + report.violations.prefix(3).joined(separator: "; ") + " (replay: imrctl simulate --replay \(seed))")
            }
        }
        #expect(failures.isEmpty, Comment(rawValue: "\(failures.count) seeds violated the invariants:\n" + failures.prefix(10).joined(separator: "\n")))
        #expect(acked > 0)
    }

    @Test func aRunReplaysExactlyFromItsSeed() throws {
        var config = SimulationConfig.random(seed: 42)
        config.trace = true
        let first = Simulation(config: config)
        let a = try first.run()
        let second = Simulation(config: config)
        let b = try second.run()
        #expect(a == b)
        #expect(first.trace == second.trace)
        #expect(!first.trace.isEmpty)
    }

    @Test func theCheckerCountsLossDuplicatesOrderAndDivergence() throws {
        // A checker that cannot fail proves nothing: feed it broken device states.
        let a = MessageID(high: 1, low: 1), b = MessageID(high: 2, low: 2)
        let clockA = try VectorClock(entries: [.init(node: 1, counter: 1)])
        let clockB = try VectorClock(entries: [.init(node: 1, counter: 1), .init(node: 2, counter: 1)])
        let entryA = TimelineEntry(messageID: a, seq: 1, serverTimeMs: 0, senderUser: "u0", senderNode: 1, clock: clockA, payload: [])
        let entryB = TimelineEntry(messageID: b, seq: 2, serverTimeMs: 0, senderUser: "u1", senderNode: 2, clock: clockB, payload: [])
        let good = DeviceSnapshot(name: "d0", user: "u0", conversations: ["c0": .init(live: [entryA, entryB], history: [entryA, entryB])],
                                  sends: [a: ("c0", .sent(seq: 1))])
        let members: [String: Set<String>] = ["c0": ["u0", "u1"]]
        let clean = InvariantChecker.check(devices: [good, DeviceSnapshot(name: "d1", user: "u1", conversations: good.conversations, sends: [b: ("c0", .sent(seq: 2))])],
                                           members: members, heads: ["c0": 2])
        #expect(clean.isClean)
        #expect(clean.acked == 2 && clean.delivered == 4)

        let missing = DeviceSnapshot(name: "d1", user: "u1", conversations: ["c0": .init(live: [entryB], history: [entryB])], sends: [b: ("c0", .sent(seq: 2))])
        let lost = InvariantChecker.check(devices: [good, missing], members: members, heads: ["c0": 2])
        #expect(lost.lost == 1 && !lost.converged && !lost.isClean)

        let twice = DeviceSnapshot(name: "d1", user: "u1", conversations: ["c0": .init(live: [entryA, entryB, entryA], history: [entryA, entryB])], sends: [:])
        #expect(InvariantChecker.check(devices: [good, twice], members: members, heads: ["c0": 2]).duplicates == 1)

        let reversed = DeviceSnapshot(name: "d1", user: "u1", conversations: ["c0": .init(live: [entryA, entryB], history: [entryB, entryA])], sends: [:])
        let disorder = InvariantChecker.check(devices: [good, reversed], members: members, heads: ["c0": 2])
        #expect(disorder.orderViolations == 1 && !disorder.converged)

        let stuck = DeviceSnapshot(name: "d0", user: "u0", conversations: good.conversations, sends: [a: ("c0", .sending)])
        #expect(InvariantChecker.check(devices: [stuck], members: ["c0": ["u0"]], heads: ["c0": 2]).unsettled == 1)
    }
}
