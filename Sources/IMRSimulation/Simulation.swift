import IMRCore

/// The deterministic fault simulator: client engines and the server engine over lossy,
/// duplicating, reordering links with disconnects and crash-restarts, in virtual time.
/// Everything random comes from the seed, so a run replays exactly.
public final class Simulation {
    private enum Event {
        case toServer(device: Int, epoch: Int, bytes: [UInt8])
        case toClient(device: Int, epoch: Int, bytes: [UInt8])
        case appSend(device: Int)
        case cut(device: Int)
        case reconnect(device: Int)
        case crashClient(device: Int)
        case crashServer
        case restartServer
    }

    private enum Link {
        case offline
        case online(epoch: Int, session: SessionID)
    }

    private struct Device {
        var name: String
        var user: String
        var node: UInt64
        var engine: ClientEngine?
        var link = Link.offline
        var epoch = 0
        var reconnectPending = false
        var sends: [MessageID: (conversation: String, outcome: DeviceSnapshot.SendOutcome)] = [:]
        var storePath: String?
    }

    public let config: SimulationConfig
    private var rng: SeededGenerator
    private var queue = EventQueue<Event>()
    private var now: UInt64 = 0
    private var devices: [Device] = []
    private var server: ServerEngine?
    private var sessions: [SessionID: Int] = [:]
    private var members: [String: Set<String>] = [:]
    private var conversationsOfUser: [String: [String]] = [:]
    private var serverStorePath: String?
    private var healed = false
    public private(set) var trace: [String] = []
    public private(set) var retransmissions = 0
    public private(set) var syncs = 0

    public init(config: SimulationConfig) {
        self.config = config
        rng = SeededGenerator(seed: config.seed)
    }

    /// Runs the workload, heals the network, settles, and checks the invariants.
    public func run() throws -> DeliveryReport {
        try setUp()
        let workloadEnd = config.workloadMs
        let settleEnd = workloadEnd + config.settleLimitMs
        var settled = false
        while true {
            let nextTimer = nextEngineTimeout()
            let nextEvent = queue.nextTime
            guard let t = [nextTimer, nextEvent].compactMap({ $0 }).min() else { settled = isSettled(); break }
            if !healed && t >= workloadEnd { heal(at: workloadEnd) ; continue }
            if healed && t > now && isSettled() { settled = true; break }
            if t > settleEnd { break }
            now = max(now, t)
            if let nextEvent, nextEvent <= now, let (_, event) = queue.pop() {
                handle(event)
            } else {
                fireTimers()
            }
            pump()
        }
        var report = InvariantChecker.check(devices: snapshots(), members: members, heads: heads())
        if !settled { report.violations.append("did not settle within \(config.settleLimitMs) ms after the workload") }
        return report
    }

    // MARK: - Set-up

    private func setUp() throws {
        let users = (0..<max(1, config.users)).map { "u\($0)" }
        for c in 0..<max(1, config.conversations) {
            let name = "c\(c)"
            var chosen = Set(users)
            if c > 0 {
                chosen = Set(users.filter { _ in Bool.random(using: &rng) })
                if chosen.count < 2 { chosen = Set(users.prefix(2)) }
            }
            members[name] = chosen
            for u in chosen { conversationsOfUser[u, default: []].append(name) }
        }
        if let dir = config.storeDirectory, config.crashes {
            serverStorePath = "\(dir)/sim-\(config.seed)-server.sqlite"
            removeStore(serverStorePath!)
        }
        try startServer()
        for i in 0..<config.devices {
            var d = Device(name: "d\(i)", user: users[i % users.count], node: rng.next() | 1)
            if let dir = config.storeDirectory, config.crashes {
                d.storePath = "\(dir)/sim-\(config.seed)-d\(i).sqlite"
                removeStore(d.storePath!)
            }
            devices.append(d)
            try startClient(i)
            connect(i)
            for _ in 0..<config.messagesPerDevice {
                queue.schedule(.appSend(device: i), at: UInt64.random(in: 0..<max(1, config.workloadMs), using: &rng))
            }
            if config.meanDisconnectIntervalMs > 0 {
                scheduleRandomCut(i, from: 0)
            }
            if config.crashes && Bool.random(using: &rng) {
                queue.schedule(.crashClient(device: i), at: UInt64.random(in: 0..<max(1, config.workloadMs), using: &rng))
            }
        }
        if config.crashes {
            queue.schedule(.crashServer, at: UInt64.random(in: 0..<max(1, config.workloadMs), using: &rng))
        }
    }

    private func startServer() throws {
        let store: any ServerStore
        if let path = serverStorePath {
            store = try SQLiteServerStore(path: path)
        } else {
            store = MemoryServerStore()
        }
        let engine = ServerEngine(config: ServerConfig(), store: store, verifier: SimulationTokens())
        for (conversation, users) in members.sorted(by: { $0.key < $1.key }) {
            try? engine.createConversation(conversation, members: users.sorted())
        }
        server = engine
    }

    private func startClient(_ i: Int) throws {
        var c = ClientConfig(nodeID: devices[i].node, token: devices[i].user, userID: devices[i].user)
        c.seed = config.seed &* 1_000_003 &+ UInt64(i)
        c.storePath = devices[i].storePath
        c.storeDurability = .processCrash
        // Virtual time is free, but short timers keep each seed's event count small.
        c.ackTimeoutBaseMs = 300
        c.backoffCapMs = 3_000
        c.maxAttempts = 12
        c.pollIntervalMs = 2_000
        devices[i].engine = try ClientEngine(config: c)
    }

    private func removeStore(_ path: String) {
        for suffix in ["", "-wal", "-shm"] { _ = unlink(path + suffix) }
    }

    // MARK: - Events

    private func handle(_ event: Event) {
        switch event {
        case let .toServer(i, epoch, bytes):
            guard case let .online(e, session) = devices[i].link, e == epoch, let server else { return }
            bytes.withUnsafeBytes { server.handle(frameBytes: $0, from: session, now: now) }
        case let .toClient(i, epoch, bytes):
            guard case let .online(e, _) = devices[i].link, e == epoch, let engine = devices[i].engine else { return }
            let problem = bytes.withUnsafeBytes { raw -> String? in
                do { try engine.handle(frameBytes: raw, now: now); return nil } catch { return "\(error)" }
            }
            if let problem { log("\(devices[i].name) rejected a frame: \(problem)") }
        case let .appSend(i):
            guard let engine = devices[i].engine else {
                // The app is down: the user sends again a little later.
                queue.schedule(.appSend(device: i), at: now + 200)
                return
            }
            let conversations = conversationsOfUser[devices[i].user] ?? []
            guard let conversation = conversations.randomElement(using: &rng) else { return }
            let payload = Array("\(devices[i].name) #\(devices[i].sends.count)".utf8)
            do {
                let id = try engine.send(conversation: conversation, payload: payload, now: now)
                devices[i].sends[id] = (conversation, .sending)
                log("\(devices[i].name) sends \(id) to \(conversation)")
            } catch {
                log("\(devices[i].name) send failed: \(error)")
            }
        case let .cut(i):
            disconnect(i, reason: "cut")
            if !healed { scheduleRandomCut(i, from: now) }
        case let .reconnect(i):
            devices[i].reconnectPending = false
            if case .offline = devices[i].link, devices[i].engine != nil, server != nil { connect(i) }
        case let .crashClient(i):
            disconnect(i, reason: "crash")
            devices[i].engine = nil
            log("\(devices[i].name) crashes")
            do { try startClient(i) } catch { log("\(devices[i].name) cannot restart: \(error)") }
            scheduleReconnect(i)
        case .crashServer:
            log("server crashes")
            server = nil
            sessions.removeAll()
            for i in devices.indices { dropLink(i) }
            queue.schedule(.restartServer, at: now + UInt64.random(in: 100...2_000, using: &rng))
        case .restartServer:
            guard server == nil else { return }   // healing may have restarted it already
            do { try startServer(); log("server restarts") } catch { log("server cannot restart: \(error)") }
            for i in devices.indices { scheduleReconnect(i) }
        }
    }

    private func connect(_ i: Int) {
        guard let server, let engine = devices[i].engine else { return }
        devices[i].epoch += 1
        let session = server.openSession(now: now)
        sessions[session] = i
        devices[i].link = .online(epoch: devices[i].epoch, session: session)
        engine.connected(now: now)
        log("\(devices[i].name) connects (epoch \(devices[i].epoch))")
    }

    private func disconnect(_ i: Int, reason: String) {
        guard case let .online(_, session) = devices[i].link else { return }
        server?.closeSession(session, now: now)
        sessions[session] = nil
        dropLink(i)
        log("\(devices[i].name) disconnected (\(reason))")
        scheduleReconnect(i)
    }

    /// The device side of a lost connection.
    private func dropLink(_ i: Int) {
        guard case .online = devices[i].link else { return }
        devices[i].link = .offline
        devices[i].engine?.disconnected(now: now)
    }

    private func scheduleReconnect(_ i: Int) {
        guard !devices[i].reconnectPending else { return }
        devices[i].reconnectPending = true
        queue.schedule(.reconnect(device: i), at: now + UInt64.random(in: 50...1_000, using: &rng))
    }

    private func scheduleRandomCut(_ i: Int, from t: UInt64) {
        let mean = config.meanDisconnectIntervalMs
        queue.schedule(.cut(device: i), at: t + UInt64.random(in: mean / 2...mean + mean / 2, using: &rng))
    }

    private func heal(at t: UInt64) {
        healed = true
        now = max(now, t)
        log("network heals")
        if server == nil { handle(.restartServer) }
        for i in devices.indices {
            if devices[i].engine == nil { try? startClient(i) }
            if case .offline = devices[i].link { scheduleReconnect(i) }
        }
    }

    // MARK: - Engines

    private func nextEngineTimeout() -> UInt64? {
        var best = server?.nextTimeout
        for d in devices {
            if let t = d.engine?.nextTimeout { best = min(best ?? t, t) }
        }
        return best
    }

    private func fireTimers() {
        if let server, let t = server.nextTimeout, t <= now { server.handleTimeout(now: now) }
        for d in devices {
            if let engine = d.engine, let t = engine.nextTimeout, t <= now { engine.handleTimeout(now: now) }
        }
    }

    /// Moves every queued output onto the links, through the fault model.
    private func pump() {
        var progress = true
        while progress {
            progress = false
            for i in devices.indices {
                guard let engine = devices[i].engine else { continue }
                while let bytes = engine.pollTransmit() {
                    progress = true
                    transmit(bytes, toServer: true, device: i)
                }
                while let event = engine.pollEvent() {
                    progress = true
                    record(event, device: i)
                }
            }
            guard let server else { continue }
            while let output = server.pollOutput() {
                progress = true
                switch output {
                case let .frame(session, bytes):
                    if let i = sessions[session] { transmit(bytes, toServer: false, device: i) }
                case let .close(session):
                    if let i = sessions[session] { disconnect(i, reason: "closed by server") }
                }
            }
        }
    }

    private func transmit(_ bytes: [UInt8], toServer: Bool, device i: Int) {
        guard case let .online(epoch, _) = devices[i].link else { return }
        let faults = healed ? FaultModel(latencyMs: config.faults.latencyMs) : config.faults
        for delay in faults.deliveries(using: &rng) {
            let event: Event = toServer ? .toServer(device: i, epoch: epoch, bytes: bytes) : .toClient(device: i, epoch: epoch, bytes: bytes)
            queue.schedule(event, at: now + delay)
        }
        if faults.cutsConnection(using: &rng) {
            queue.schedule(.cut(device: i), at: now + faults.latencyMs)
        }
    }

    private func record(_ event: ClientEvent, device i: Int) {
        switch event {
        case let .stateChanged(id, conversation, state):
            let outcome: DeviceSnapshot.SendOutcome
            switch state {
            case let .sent(seq, _): outcome = .sent(seq: seq)
            case .failed: outcome = .failed
            case .sending: outcome = .sending
            }
            devices[i].sends[id] = (conversation, outcome)
            log("\(devices[i].name) \(id) -> \(state)")
        default:
            break
        }
    }

    // MARK: - End of run

    private func isSettled() -> Bool {
        guard server != nil else { return false }
        for d in devices {
            guard case .online = d.link, let engine = d.engine else { return false }
            if d.sends.values.contains(where: { $0.outcome == .sending }) { return false }
            _ = engine
        }
        let h = heads()
        for (conversation, users) in members {
            for d in devices where users.contains(d.user) {
                if d.engine?.cursor(conversation) != h[conversation] ?? 0 { return false }
            }
        }
        return true
    }

    /// The highest seq any device holds per conversation.
    private func heads() -> [String: UInt64] {
        var h: [String: UInt64] = [:]
        for (conversation, _) in members {
            h[conversation] = devices.compactMap { $0.engine?.cursor(conversation) }.max() ?? 0
        }
        return h
    }

    private func snapshots() -> [DeviceSnapshot] {
        devices.map { d in
            var conversations: [String: DeviceSnapshot.Conversation] = [:]
            for conversation in conversationsOfUser[d.user] ?? [] {
                if let t = d.engine?.timeline(conversation) {
                    conversations[conversation] = .init(live: t.live, history: t.history())
                }
            }
            return DeviceSnapshot(name: d.name, user: d.user, conversations: conversations, sends: d.sends)
        }
    }

    private func log(_ line: @autoclosure () -> String) {
        if config.trace { trace.append("[\(now) ms] \(line())") }
    }
}

/// Tokens in the simulation are the user names themselves.
struct SimulationTokens: TokenVerifier {
    func verify(token: String, nowUnixMs: UInt64) -> TokenVerdict {
        token.isEmpty ? .invalid : .valid(user: token)
    }
}

#if canImport(Glibc)
import Glibc
#endif
