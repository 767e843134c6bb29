import ArgumentParser
import Foundation
import IMRCore
import IMRSimulation
import NIOCore
import NIOPosix

/// `imrctl demo`: a relay, a fault-injecting proxy and client devices over real TCP, a chat
/// workload, live progress, and a final report checked against the delivery invariants.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run devices against an in-process relay through a lossy proxy and verify delivery.")

    @Option(help: "Client devices.") var devices = 6
    @Option(help: "Users (device i belongs to user i % users).") var users = 3
    @Option(help: "Conversations (the first has every user; the others a pair of users).") var conversations = 2
    @Option(help: "Messages to send in all.") var messages = 300
    @Option(help: "Seconds over which the messages are sent.") var duration = 15.0
    @Option(help: "Frame loss rate of the proxy, each way.") var loss = 0.10
    @Option(help: "Frame duplication rate of the proxy.") var duplicate = 0.02
    @Option(help: "Maximum extra delay per frame in ms (frames overtake each other).") var jitter: UInt64 = 40
    @Option(help: "Probability per frame that the proxy cuts the connection.") var cut = 0.004
    @Option(help: "Seed of the proxy's faults and the devices' engines.") var seed: UInt64 = 1
    @Option(help: "Seconds to wait for every device to settle after the workload.") var settle = 30.0
    @Flag(help: "Print the report as one JSON object on the last line of stdout.") var json = false

    func run() async throws {
        let report = try await DemoRun(options: self).run()
        if json {
            let data = try JSONSerialization.data(withJSONObject: report.jsonObject, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        }
        if report.delivery.lost > 0 || report.delivery.duplicates > 0 || !report.delivery.converged || report.delivery.orderViolations > 0 {
            throw ExitCode.failure
        }
    }
}
