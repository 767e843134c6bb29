import Foundation
import IMRClient
import IMRCore
import IMRSimulation
import NIOCore
import NIOPosix

/// The final figures of a demo run.
struct DemoReport {
    var delivery: DeliveryReport
    var retransmissions: Int
    var syncs: Int
    var gapsFilled: Int
    var ackP50: Double
    var ackP99: Double
    var deliveryP50: Double
    var deliveryP99: Double
    var proxy: FaultProxy.Counters
    var seconds: Double

    var jsonObject: [String: Any] {
        [
            "sent": delivery.sent, "acked": delivery.acked, "failed": delivery.failed,
            "delivered": delivery.delivered, "lost": delivery.lost, "duplicates": delivery.duplicates,
            "order_violations": delivery.orderViolations, "converged": delivery.converged,
            "retransmissions": retransmissions, "syncs": syncs,
            "ack_p50_ms": ackP50, "ack_p99_ms": ackP99,
            "delivery_p50_ms": deliveryP50, "delivery_p99_ms": deliveryP99,
        ]
    }
}

/// One demo run: set-up, workload, settling, verdict.
struct DemoRun {
    let options: DemoCommand

    private struct Device {
        var name: String
        var user: String
        var connection: ClientDriver
        var log: DemoDeviceLog
    }

    func run() async throws -> DemoReport {
        let started = Date()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let userNames = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"]
        let users = (0..<max(1, options.users)).map { $0 < userNames.count ? userNames[$0] : "user\($0)" }
        var members: [String: Set<String>] = ["general": Set(users)]
        for c in 1..<max(1, options.conversations) {
            let a = users[(c - 1) % users.count], b = users[c % users.count]
            members["pair-\(c)"] = [a, b]
        }

        let directory = try makeTemporaryDirectory()
        let relay = try await DemoRelay.start(databasePath: directory + "/relay.sqlite", members: members, group: group)
        let proxy = FaultProxy(
            group: group, targetHost: "127.0.0.1", targetPort: relay.port,
            faults: FaultModel(loss: options.loss, duplicate: options.duplicate, latencyMs: 1,
                               jitterMs: options.jitter, disconnect: options.cut),
            seed: options.seed)
        let proxyPort = try await proxy.start()
        say("relay on 127.0.0.1:\(relay.port), proxy on 127.0.0.1:\(proxyPort) (loss \(options.loss), duplicate \(options.duplicate), jitter \(options.jitter) ms, cut \(options.cut)/frame)")

        let metrics = DemoMetrics()
        var rng = SeededGenerator(seed: options.seed)
        var devices: [Device] = []
        for i in 0..<max(1, options.devices) {
            let user = users[i % users.count]
            let name = "\(user)-\(i / users.count + 1)"
            var config = ClientConfig(nodeID: rng.next() | 1, token: try await relay.token(for: user), userID: user)
            config.seed = options.seed &* 7_919 &+ UInt64(i)
            // A lossy network: retransmit soon, keep trying, probe the head often.
            config.ackTimeoutBaseMs = 400
            config.backoffCapMs = 3_000
            config.maxAttempts = 30
            config.pollIntervalMs = 3_000
            config.gapGraceMs = 150
            config.syncTimeoutMs = 2_000
            let engine = try ClientEngine(config: config)
            let loop = group.next()
            let log = DemoDeviceLog()
            let connection = ClientDriver(engine: engine, loop: loop, servers: [ServerAddress(host: "127.0.0.1", port: proxyPort)]) { event in
                log.observe(event, metrics: metrics)
            }
            connection.start()
            devices.append(Device(name: name, user: user, connection: connection, log: log))
        }
        say("\(devices.count) devices of \(users.count) users in \(members.count) conversations; sending \(options.messages) messages over \(options.duration) s")

        // Workload: messages at random times, each from a random device to one of its conversations.
        let totalMs = UInt64(options.duration * 1000)
        var plan: [(at: UInt64, device: Int, conversation: String)] = []
        for _ in 0..<options.messages {
            let d = Int.random(in: 0..<devices.count, using: &rng)
            let choices = members.filter { $0.value.contains(devices[d].user) }.keys.sorted()
            plan.append((UInt64.random(in: 0..<max(1, totalMs), using: &rng), d, choices.randomElement(using: &rng) ?? "general"))
        }
        plan.sort { $0.at < $1.at }
        let start = monotonicMilliseconds()
        var nextProgress = start + 1_000
        for (k, item) in plan.enumerated() {
            let target = start + item.at
            while monotonicMilliseconds() < target {
                try await Task.sleep(nanoseconds: UInt64(min(target - monotonicMilliseconds(), 50)) * 1_000_000)
                if monotonicMilliseconds() >= nextProgress {
                    progress(metrics, proxy, start: start); nextProgress += 1_000
                }
            }
            let payload = Array("message \(k) from \(devices[item.device].name)".utf8)
            let conversation = item.conversation
            let log = devices[item.device].log
            _ = try await devices[item.device].connection.perform { engine, now in
                let id = try engine.send(conversation: conversation, payload: payload, now: now)
                log.sent(id, conversation: conversation)
                metrics.sent(id, at: now)
                return id
            }.get()
        }

        // Settle: stop the faults, bring every device to the foreground, wait for convergence.
        proxy.heal()
        say("workload done; network healed, waiting for every device to settle")
        for d in devices { _ = try? await d.connection.perform { engine, now in engine.probe(now: now) }.get() }
        let settleDeadline = monotonicMilliseconds() + UInt64(options.settle * 1000)
        var snapshots: [DeviceSnapshot] = []
        var heads: [String: UInt64] = [:]
        var stats: [ClientStats] = []
        while true {
            (snapshots, heads, stats) = try await collect(devices, members: members)
            if Self.isSettled(snapshots, heads: heads, members: members) || monotonicMilliseconds() > settleDeadline { break }
            if monotonicMilliseconds() >= nextProgress { progress(metrics, proxy, start: start); nextProgress += 1_000 }
            try await Task.sleep(nanoseconds: 200_000_000)
        }
        progress(metrics, proxy, start: start)

        for d in devices { try? await d.connection.stop().get() }
        await proxy.stop()
        try await relay.stop()
        try await group.shutdownGracefully()

        let delivery = InvariantChecker.check(devices: snapshots, members: members, heads: heads)
        let latencies = metrics.latencies
        let report = DemoReport(
            delivery: delivery,
            retransmissions: stats.reduce(0) { $0 + $1.retransmissions },
            syncs: stats.reduce(0) { $0 + $1.syncs },
            gapsFilled: stats.reduce(0) { $0 + $1.gapsFilled },
            ackP50: percentile(latencies.ack, 50), ackP99: percentile(latencies.ack, 99),
            deliveryP50: percentile(latencies.delivery, 50), deliveryP99: percentile(latencies.delivery, 99),
            proxy: proxy.stats, seconds: Date().timeIntervalSince(started))
        printReport(report)
        try? FileManager.default.removeItem(atPath: directory)
        return report
    }

    private func collect(_ devices: [Device], members: [String: Set<String>]) async throws -> ([DeviceSnapshot], [String: UInt64], [ClientStats]) {
        var snapshots: [DeviceSnapshot] = []
        var stats: [ClientStats] = []
        var heads: [String: UInt64] = [:]
        for d in devices {
            let user = d.user
            let name = d.name
            let conversationNames = members.filter { $0.value.contains(user) }.keys.sorted()
            let log = d.log
            let (snapshot, deviceStats, cursors) = try await d.connection.perform { engine, _ in
                var conversations: [String: DeviceSnapshot.Conversation] = [:]
                var cursors: [String: UInt64] = [:]
                for c in conversationNames {
                    cursors[c] = engine.cursor(c)
                    if let t = engine.timeline(c) { conversations[c] = .init(live: t.live, history: t.history()) }
                }
                return (DeviceSnapshot(name: name, user: user, conversations: conversations, sends: log.sends), engine.stats, cursors)
            }.get()
            snapshots.append(snapshot)
            stats.append(deviceStats)
            for (c, cursor) in cursors { heads[c] = max(heads[c] ?? 0, cursor) }
        }
        return (snapshots, heads, stats)
    }

    private static func isSettled(_ snapshots: [DeviceSnapshot], heads: [String: UInt64], members: [String: Set<String>]) -> Bool {
        for s in snapshots {
            if s.sends.values.contains(where: { $0.outcome == .sending }) { return false }
            for (c, users) in members where users.contains(s.user) {
                let held = s.conversations[c]?.live.filter { $0.seq != nil }.count ?? 0
                if UInt64(held) != heads[c] ?? 0 { return false }
            }
        }
        return true
    }

    private func progress(_ metrics: DemoMetrics, _ proxy: FaultProxy, start: UInt64) {
        let p = metrics.progress
        let f = proxy.stats
        let t = Double(monotonicMilliseconds() - start) / 1000
        say(String(format: "%6.1fs  sent %5d  acked %5d  delivered %6d  | proxy: frames %6d dropped %5d duplicated %4d cuts %3d",
                   t, p.sent, p.acked, p.delivered, f.frames, f.dropped, f.duplicated, f.cuts))
    }

    private func printReport(_ r: DemoReport) {
        let d = r.delivery
        say("")
        say("imr demo report (\(String(format: "%.1f", r.seconds)) s)")
        say("  sent \(d.sent), acked \(d.acked), failed \(d.failed), delivered \(d.delivered)")
        say("  lost \(d.lost), duplicates shown \(d.duplicates), order violations \(d.orderViolations), histories converged: \(d.converged ? "yes" : "NO")")
        say("  retransmissions \(r.retransmissions), syncs \(r.syncs), gaps filled \(r.gapsFilled)")
        say(String(format: "  send→ack p50 %.0f ms, p99 %.0f ms; send→delivered p50 %.0f ms, p99 %.0f ms", r.ackP50, r.ackP99, r.deliveryP50, r.deliveryP99))
        say("  proxy: \(r.proxy.frames) frames, \(r.proxy.dropped) dropped, \(r.proxy.duplicated) duplicated, \(r.proxy.cuts) connections cut")
        for v in d.violations.prefix(20) { say("  violation: \(v)") }
        say(d.isClean ? "RESULT: nothing lost, nothing shown twice, every device agrees" : "RESULT: INVARIANTS VIOLATED")
    }

    /// Progress and the report go to stdout; with --json the JSON object is the last line.
    private func say(_ line: String) {
        print(line)
    }
}
