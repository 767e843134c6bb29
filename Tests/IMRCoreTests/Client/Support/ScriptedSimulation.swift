@_spi(Benchmarks) @testable import IMRCore

/// A deterministic simulation: devices (client engines) and a scripted server joined by a
/// lossy network on a virtual clock. Until `faultsEnd` frames are lost, duplicated, delayed
/// (hence reordered) and connections drop at random; then the network turns perfect, every
/// device reconnects, failed messages are retried, and the run settles.
final class ScriptedSimulation {
    struct Options {
        var devices = 1
        /// Device i belongs to user `users[i]`.
        var users: [String] = []
        var conversations: [String] = ["c"]
        var messagesPerDevice = 5
        var loss = 0.3
        var duplication = 0.1
        var maxDelayMs: UInt64 = 80
        var disconnectsPerDevice = 2
        var faultsEndMs: UInt64 = 5_000
        var settleMs: UInt64 = 8_000
        var rejectProbability = 0.05
        /// Crash-restarts per device during the faults: the engine is dropped and a new one
        /// opens the same store (needs `storeDirectory`).
        var restartsPerDevice = 0
        /// With a directory, every device keeps a durable store there.
        var storeDirectory: String?
        /// Frames go through the codec as bytes (slower; otherwise as values).
        var useCodec = false
        var config: (Int, inout SeededGenerator) -> ClientConfig = { i, _ in testConfig(node: UInt64(i + 1)) }
    }

    enum Event {
        case toServer(device: Int, epoch: Int, frame: Frame)
        case toClient(device: Int, epoch: Int, frame: Frame)
        case send(device: Int, conversation: String)
        case disconnect(device: Int)
        case reconnect(device: Int)
        /// The host's connection timeout: no welcome yet on this connection -> reconnect.
        case handshakeCheck(device: Int, epoch: Int)
        /// An engine's `nextTimeout` (stale when the engine re-armed since).
        case timer(device: Int, at: UInt64)
        /// The device process dies and starts again on its store.
        case restart(device: Int)
        case faultsEnd
    }

    struct Link {
        var up = false
        var epoch = 0
    }

    let options: Options
    var rng: SeededGenerator
    let server: ScriptedServer
    var engines: [ClientEngine] = []
    var configs: [ClientConfig] = []
    private(set) var restarts = 0
    /// Each engine's `nextTimeout`, refreshed whenever the engine is driven.
    var timeouts: [UInt64?]
    var links: [Link]
    var queue = EventQueue()
    var now: UInt64 = 0
    var faults = true
    let codec = FrameCodec()

    // Observations.
    /// Per device, ids in `send` order.
    var sentOrder: [[MessageID]]
    /// Per device, ids in order of their first transmission.
    var firstTransmissions: [[MessageID]]
    var transmitted: Set<MessageID> = []
    /// Latest state per own message, from events.
    var states: [MessageID: MessageState] = [:]
    var stateEvents: [MessageID: [MessageState]] = [:]
    var engineErrors: [String] = []
    var failuresSeen = 0
    /// Messages retried by the user before they were ever transmitted (their first
    /// transmission legitimately comes after later messages').
    var retriedUntransmitted: Set<MessageID> = []

    init(seed: UInt64, options: Options) throws {
        self.options = options
        rng = SeededGenerator(seed: seed)
        server = ScriptedServer(seed: seed ^ 0xABCDEF)
        server.rejectProbability = options.rejectProbability
        links = Array(repeating: Link(), count: options.devices)
        timeouts = Array(repeating: nil, count: options.devices)
        sentOrder = Array(repeating: [], count: options.devices)
        firstTransmissions = Array(repeating: [], count: options.devices)
        let users = options.users.isEmpty ? (0..<options.devices).map { "u\($0)" } : options.users
        for c in options.conversations { server.members[c] = Set(users) }
        for i in 0..<options.devices {
            var config = options.config(i, &rng)
            config.token = "t" + users[i]
            config.sentRetention = 100_000
            if let dir = options.storeDirectory {
                config.storePath = "\(dir)/device-\(i).sqlite"
                config.storeDurability = .processCrash
            }
            configs.append(config)
            engines.append(try ClientEngine(config: config))
        }
        // Scripted inputs.
        for i in 0..<options.devices {
            queue.push(rng.next() % 200, .reconnect(device: i))
            for _ in 0..<options.messagesPerDevice {
                let c = options.conversations[Int(rng.next() % UInt64(options.conversations.count))]
                queue.push(rng.next() % (options.faultsEndMs * 8 / 10), .send(device: i, conversation: c))
            }
            for _ in 0..<options.disconnectsPerDevice {
                queue.push(rng.next() % options.faultsEndMs, .disconnect(device: i))
            }
            for _ in 0..<options.restartsPerDevice {
                queue.push(rng.next() % options.faultsEndMs, .restart(device: i))
            }
        }
        queue.push(options.faultsEndMs, .faultsEnd)
    }

    private func chance(_ p: Double) -> Bool { Double(rng.next() % 1_000_000) / 1_000_000 < p }

    private(set) var eventsProcessed = 0

    func run() {
        let end = options.faultsEndMs + options.settleMs
        var stuck = 0
        while let t = queue.nextTime, t <= end, let (time, event) = queue.pop() {
            eventsProcessed += 1
            stuck = time == now ? stuck + 1 : 0
            if stuck > 100_000 {
                engineErrors.append("simulation stuck at \(now)")
                break
            }
            now = max(now, time)
            process(event)
        }
    }

    private func process(_ event: Event) {
        switch event {
        case let .toServer(d, epoch, frame):
            guard links[d].up, links[d].epoch == epoch else { return }
            for (target, reply) in server.handle(frame, from: d, now: now) {
                transmit(reply, toClient: target)
            }
        case let .toClient(d, epoch, frame):
            guard links[d].up, links[d].epoch == epoch else { return }
            do {
                if options.useCodec {
                    let bytes = try codec.encode(frame)
                    try bytes.withUnsafeBytes { try engines[d].handle(frameBytes: $0, now: now) }
                } else {
                    try engines[d].handle(frame, now: now)
                }
            } catch {
                engineErrors.append("device \(d): \(error)")
            }
            pump(d)
        case let .send(d, c):
            do {
                let id = try engines[d].send(conversation: c, payload: Array("d\(d) #\(sentOrder[d].count)".utf8), now: now)
                sentOrder[d].append(id)
            } catch {
                engineErrors.append("send on device \(d): \(error)")
            }
            pump(d)
        case let .disconnect(d):
            guard faults, links[d].up else { return }
            links[d].up = false
            links[d].epoch += 1
            server.disconnect(d)
            engines[d].disconnected(now: now)
            pump(d)
            queue.push(now + 10 + rng.next() % 2_000, .reconnect(device: d))
        case let .reconnect(d):
            guard !links[d].up else { return }
            links[d].up = true
            links[d].epoch += 1
            engines[d].connected(now: now)
            pump(d)
            queue.push(now + 1_000, .handshakeCheck(device: d, epoch: links[d].epoch))
        case let .handshakeCheck(d, epoch):
            guard links[d].up, links[d].epoch == epoch, !engines[d].isLive else { return }
            links[d].up = false
            links[d].epoch += 1
            server.disconnect(d)
            engines[d].disconnected(now: now)
            pump(d)
            process(.reconnect(device: d))
        case let .restart(d):
            guard faults else { return }
            // Everything an input committed is in the store; the rest of the process is gone.
            if links[d].up {
                links[d].up = false
                links[d].epoch += 1
                server.disconnect(d)
            }
            do {
                engines[d] = try ClientEngine(config: configs[d])
            } catch {
                engineErrors.append("restart of device \(d): \(error)")
                return
            }
            restarts += 1
            timeouts[d] = nil
            pump(d)
            queue.push(now + 1 + rng.next() % 500, .reconnect(device: d))
        case let .timer(d, at):
            guard timeouts[d] == at else { return }
            timeouts[d] = nil
            engines[d].handleTimeout(now: now)
            pump(d)
        case .faultsEnd:
            faults = false
            for d in 0..<engines.count {
                if !links[d].up { process(.reconnect(device: d)) }
                // The user retries whatever failed.
                for entry in engines[d].outbox() where isFailed(entry.state) {
                    retry(entry.id, on: d)
                }
                pump(d)
            }
        }
    }

    private func retry(_ id: MessageID, on d: Int) {
        if !transmitted.contains(id) { retriedUntransmitted.insert(id) }
        do { try engines[d].retry(id, now: now) } catch { engineErrors.append("retry on device \(d): \(error)") }
    }

    private func isFailed(_ s: MessageState) -> Bool { if case .failed = s { true } else { false } }

    /// Drains one engine's transmit and event queues into the network and the observations.
    func pump(_ d: Int) {
        let e = engines[d]
        while true {
            let frame: Frame
            if options.useCodec {
                guard let bytes = e.pollTransmit() else { break }
                do { frame = try codec.decode(bytes) } catch { engineErrors.append("decode: \(error)"); continue }
            } else {
                guard let f = e.pollTransmitFrame() else { break }
                frame = f
            }
            if case let .send(s) = frame, transmitted.insert(s.messageID).inserted {
                firstTransmissions[d].append(s.messageID)
            }
            guard links[d].up else { continue }
            deliver(.toServer(device: d, epoch: links[d].epoch, frame: frame))
        }
        defer {
            let next = e.nextTimeout
            if next != timeouts[d] {
                timeouts[d] = next
                if let next { queue.push(max(next, now), .timer(device: d, at: next)) }
            }
        }
        while let event = e.pollEvent() {
            if case let .stateChanged(id, _, state) = event {
                states[id] = state
                stateEvents[id, default: []].append(state)
                if isFailed(state) {
                    failuresSeen += 1
                    if !faults { retry(id, on: d); pump(d) }
                }
            }
        }
    }

    private func transmit(_ frame: Frame, toClient d: Int) {
        guard links[d].up else { return }
        deliver(.toClient(device: d, epoch: links[d].epoch, frame: frame))
    }

    private func deliver(_ event: Event) {
        if faults && chance(options.loss) { return }
        queue.push(now + 1 + rng.next() % options.maxDelayMs, event)
        if faults && chance(options.duplication) {
            queue.push(now + 1 + rng.next() % options.maxDelayMs, event)
        }
    }

    // MARK: invariants

    /// Every problem found, empty when all invariants hold.
    func violations(checkReceiving: Bool) -> [String] {
        var problems = engineErrors
        // Sending leg.
        for d in 0..<engines.count {
            if firstTransmissions[d].filter({ !retriedUntransmitted.contains($0) })
                != sentOrder[d].filter({ !retriedUntransmitted.contains($0) }) {
                problems.append("device \(d): first transmissions out of send order")
            }
            for entry in engines[d].outbox() {
                guard case let .sent(seq, _) = entry.state else {
                    problems.append("device \(d): \(entry.id) ends \(entry.state)")
                    continue
                }
                guard let m = server.logs[entry.conversation]?[Int(seq) - 1], m.messageID == entry.id else {
                    problems.append("device \(d): \(entry.id) sent with a seq the server gave another message")
                    continue
                }
            }
            for id in sentOrder[d] {
                guard case .sent = states[id] else {
                    problems.append("device \(d): \(id) last event \(String(describing: states[id]))")
                    continue
                }
                // One event per change: never the same state twice in a row.
                let seq = stateEvents[id] ?? []
                for k in seq.indices.dropFirst() where seq[k] == seq[k - 1] {
                    problems.append("device \(d): \(id) repeated event \(seq[k])")
                }
            }
        }
        let allSent = Set(sentOrder.flatMap { $0 })
        let stored = Set(server.storeCount.keys)
        if stored != allSent { problems.append("server holds \(stored.count) ids, devices sent \(allSent.count)") }
        for (id, n) in server.storeCount where n != 1 { problems.append("server stored \(id) \(n) times") }
        guard checkReceiving else { return problems }

        // Receiving leg: every device holds every message exactly once, and all histories agree.
        for c in options.conversations {
            let log = server.logs[c] ?? []
            var reference = Timeline(order: .causal)
            for m in log { reference.insert(TimelineEntry(m)) }
            let expected = reference.history().map(\.messageID)
            for (d, e) in engines.enumerated() {
                if e.cursor(c) != UInt64(log.count) {
                    problems.append("device \(d): cursor \(e.cursor(c)) of \(c), head \(log.count)")
                }
                guard let t = e.timeline(c) else {
                    if !log.isEmpty { problems.append("device \(d): no timeline for \(c)") }
                    continue
                }
                let live = t.live
                if live.count != log.count || Set(live.map(\.messageID)) != Set(log.map(\.messageID)) {
                    problems.append("device \(d): live view of \(c) holds \(live.count) (\(Set(live.map(\.messageID)).count) distinct), log \(log.count)")
                }
                for entry in live {
                    guard let seq = entry.seq, seq >= 1, Int(seq) <= log.count, log[Int(seq) - 1].messageID == entry.messageID else {
                        problems.append("device \(d): entry \(entry.messageID) has seq \(String(describing: entry.seq))")
                        continue
                    }
                }
                if t.history().map(\.messageID) != expected {
                    problems.append("device \(d): history of \(c) differs from the reference")
                }
            }
        }
        return problems
    }
}
