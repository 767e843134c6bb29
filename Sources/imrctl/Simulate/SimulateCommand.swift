import ArgumentParser
import Foundation
import IMRSimulation

struct SimulateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "Run the deterministic fault simulator over many seeds and check the delivery invariants.")

    @Option(help: "How many seeds to run.")
    var seeds: UInt64 = 100

    @Option(help: "The first seed.")
    var firstSeed: UInt64 = 1

    @Option(help: "Replay one seed and print its trace.")
    var replay: UInt64?

    @Option(help: "Directory for the durable stores of crash-restart seeds (default: a fresh temporary one).")
    var storeDirectory: String?

    func run() throws {
        let dir = try storeDirectory ?? makeTemporaryDirectory()
        if let seed = replay {
            var config = SimulationConfig.random(seed: seed, storeDirectory: dir)
            config.trace = true
            let sim = Simulation(config: config)
            let report = try sim.run()
            sim.trace.forEach { print($0) }
            print(describe(report, seed: seed))
            if !report.isClean { throw ExitCode.failure }
            return
        }
        var failures: [UInt64] = []
        var totals = DeliveryReport()
        let start = Date()
        for seed in firstSeed..<firstSeed + seeds {
            let report = try Simulation(config: .random(seed: seed, storeDirectory: dir)).run()
            totals.sent += report.sent
            totals.acked += report.acked
            totals.failed += report.failed
            totals.delivered += report.delivered
            if !report.isClean {
                failures.append(seed)
                print("seed \(seed) violated the invariants:")
                report.violations.prefix(10).forEach { print("  \($0)") }
                print("  replay: imrctl simulate --replay \(seed)")
            }
        }
        let seconds = Date().timeIntervalSince(start)
        print("simulated \(seeds) seeds in \(String(format: "%.1f", seconds)) s: sent \(totals.sent), acked \(totals.acked), failed \(totals.failed), delivered \(totals.delivered)")
        print("\(seeds - UInt64(failures.count)) passed, \(failures.count) failed")
        if !failures.isEmpty { throw ExitCode.failure }
    }

    private func describe(_ r: DeliveryReport, seed: UInt64) -> String {
        "seed \(seed): sent \(r.sent) acked \(r.acked) failed \(r.failed) delivered \(r.delivered) lost \(r.lost) duplicates \(r.duplicates) order_violations \(r.orderViolations) converged \(r.converged)"
            + (r.violations.isEmpty ? "" : "\n" + r.violations.map { "  " + $0 }.joined(separator: "\n"))
    }
}

func makeTemporaryDirectory() throws -> String {
    let base = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
    let path = base + "/imr-" + UUID().uuidString
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}
