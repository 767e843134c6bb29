import FuzzKit
import IMRCore

/// One fuzz input as a script over a fresh `ClientEngine` (node 1, user alice) and a
/// `HonestServer`, with a network between them that the script drives: frames are
/// delivered, lost, duplicated or reordered in either direction, the connection drops and
/// comes back, time passes, the app sends and retries. Some steps make the server lie
/// (arbitrary frames, raw and mutated bytes); from the first lie on only the checks that
/// hold whatever the server says are made. An honest script ends by healing the network
/// and requires the client to catch up with the server.
struct ClientScript {
    let client: ClientEngine
    let server: HonestServer
    let observer: ClientObserver
    let codec = FrameCodec()
    var now: UInt64 = 1_000_000
    /// Frames on the way to the server and to the client.
    var up: [[UInt8]] = []
    var down: [Frame] = []
    var honest = true
    /// Whether the server may lie in this script (decided by its first byte): honest scripts
    /// are the ones the strongest checks and the healing at the end apply to.
    let mayLie: Bool

    init?(_ input: inout FuzzInput) {
        mayLie = input.byte() >= 160
        let base: UInt64 = input.pick([1, 100, 2_000])
        let config = ClientConfig(
            nodeID: 1, token: Names.tokenOf(HonestServer.user), userID: input.bool() ? HonestServer.user : "",
            ackTimeoutBaseMs: base, backoffFactor: input.pick([1, 2]), backoffCapMs: base * input.pick([1, 4, 30]),
            jitter: input.pick([0, 0.2]), maxAttempts: input.pick([1, 2, 8]),
            maxOfflineAgeMs: input.pick([0, 1_000, 86_400_000]), inflightWindow: input.pick([1, 2, 64]),
            seed: UInt64(input.byte()), sentRetention: input.pick([0, 1, 4, 256]),
            gapGraceMs: input.pick([0, 300]), syncPageSize: input.pick([1, 2, 200]), syncTimeoutMs: input.pick([100, 10_000]),
            pollIntervalMs: input.pick([0, 1_000, 60_000]), maxSyncPagesPerCycle: input.pick([1, 3, 1_000]),
            deliveredFlushMs: input.pick([0, 500]), maxBufferedPerConversation: input.pick([0, 2, 1_024]),
            historyOrder: input.bool() ? .causal : .arrival)
        guard let client = try? ClientEngine(config: config) else { return nil }
        self.client = client
        server = HonestServer(maxSyncPage: input.pick([0, 1, 3, 256]), maxInflight: input.pick([0, 1, 64]))
        observer = ClientObserver(client: client)
    }

    mutating func run(_ input: inout FuzzInput) {
        var steps = 0
        while !input.isAtEnd {
            step(&input)
            steps += 1
            // The timelines are walked whole every few steps (and at the end): a walk costs
            // more than a step.
            check(full: steps % 8 == 0)
        }
        check(full: true)
        if honest { heal() }
    }

    private func check(full: Bool) {
        observer.drainEvents(honest: honest)
        observer.checkOutbox()
        if full {
            observer.checkTimelines()
            if honest { observer.checkAgainst(server) }
        }
    }

    private mutating func step(_ input: inout FuzzInput) {
        let op = input.byte() % 20
        trace("step \(op) at \(now)")
        switch op {
        case 0:
            connect()
        case 1:
            client.disconnected(now: now)
            dropConnection()
        case 2, 3:
            let conversation = input.byte() < 224 ? input.pick(Names.validConversations) : Names.conversation(&input)
            _ = try? client.send(conversation: conversation, payload: Names.payload(&input), now: now)
        case 4:
            let failed = client.outbox().filter { if case .failed = $0.state { true } else { false } }
            let id = failed.isEmpty || input.byte() >= 224 ? Names.messageID(&input) : failed[input.int(below: failed.count)].id
            _ = try? client.retry(id, now: now)
        case 5, 6:
            transmit(count: Int(input.byte() % 4) + 1)
            serverReads(&input)
        case 7, 8, 9:
            clientReads(&input)
        case 10:
            let conversation = input.pick(Array(Names.validConversations.prefix(4)))
            let seen = input.int(below: 64)
            if let push = server.post(by: input.pick([2, 3]), in: conversation, seen: seen, payload: Names.payload(&input), now: now),
               input.byte() < 224 {
                down.append(push)
            }
        case 11, 12:
            advance(&input)
        case 13:
            client.probe(now: now)
        case 14:
            server.refuseNextSend = true
        case 15:
            server.toggleMembership()
        case 16 where !mayLie, 17 where !mayLie:
            clientReads(&input)
        case 16:
            // A lie: any frame a server could send, as bytes or as the value a host's decoder
            // gives (so only one the codec accepts).
            honest = false
            let frame = Frames.toClient(&input)
            guard let bytes = try? codec.encode(frame) else { return }
            trace("client <- lie \(brief(frame))")
            if input.bool() {
                _ = try? bytes.withUnsafeBytes { try client.handle(frameBytes: $0, now: now) }
            } else {
                _ = try? client.handle(frame, now: now)
            }
        case 17:
            var bytes = (try? codec.encode(Frames.toClient(&input))) ?? []
            if !bytes.isEmpty { bytes[input.int(below: bytes.count)] = input.byte() }
            if input.bool() { bytes = input.bytes(upTo: 48) }
            // Bytes that decode are a frame the server never sent.
            if (try? codec.decode(bytes)) != nil { honest = false }
            _ = try? bytes.withUnsafeBytes { try client.handle(frameBytes: $0, now: now) }
        default:
            _ = client.clock(input.pick(Names.validConversations))
            _ = client.nextTimeout
            _ = client.isLive
        }
    }

    private mutating func connect() {
        client.connected(now: now)
        dropConnection()
    }

    /// Whatever was on the way is lost with the connection.
    private mutating func dropConnection() {
        server.disconnect()
        up.removeAll()
        down.removeAll()
    }

    /// Takes up to `count` frames the client wants to send; each must decode.
    private mutating func transmit(count: Int) {
        for _ in 0..<count {
            guard let bytes = client.pollTransmit() else { return }
            let frame = try? codec.decode(bytes)
            require(frame != nil, "the client transmitted bytes that do not decode: \(brief(bytes))")
            trace("client -> \(frame.map(brief) ?? "")")
            up.append(bytes)
        }
    }

    /// The server takes the next frame on the way (or one further on), or the network loses
    /// or duplicates it.
    private mutating func serverReads(_ input: inout FuzzInput) {
        guard !up.isEmpty else { return }
        let i = input.byte() < 200 ? 0 : input.int(below: up.count)
        let fate = input.byte()
        let bytes = fate >= 240 ? up[i] : up.remove(at: i)
        guard fate >= 16, let frame = try? codec.decode(bytes) else { return trace("lost on the way up") }
        trace("server <- \(brief(frame))")
        down += server.handle(frame, now: now)
    }

    /// The client takes the next frame on the way (or one further on), or the network
    /// loses or duplicates it. An honest frame must not be refused.
    private mutating func clientReads(_ input: inout FuzzInput) {
        for _ in 0..<Int(input.byte() % 4) + 1 {
            guard !down.isEmpty else { return }
            let i = input.byte() < 200 ? 0 : input.int(below: down.count)
            let fate = input.byte()
            let frame = fate >= 240 ? down[i] : down.remove(at: i)
            guard fate >= 16 else { continue }
            deliverToClient(frame)
        }
    }

    private func deliverToClient(_ frame: Frame) {
        trace("client <- \(brief(frame))")
        do {
            let bytes = try codec.encode(frame)
            try bytes.withUnsafeBytes { try client.handle(frameBytes: $0, now: now) }
        } catch {
            if honest { require(false, "the client refused an honest frame (\(error)): \(brief(frame))") }
        }
    }

    private mutating func advance(_ input: inout FuzzInput) {
        if input.bool(), let next = client.nextTimeout, next > now {
            now = next
        } else {
            now += input.pick([0, 1, 50, 300, 1_000, 10_000, 100_000])
        }
        client.handleTimeout(now: now)
    }

    /// The network heals: connect, then deliver everything both ways and let timers fire until
    /// nothing moves. The client must hold every conversation it belongs to up to its head,
    /// and nothing of its own may still be sending.
    private mutating func heal() {
        server.refuseNextSend = false
        connect()
        // Enough rounds for a page at a time with a probe per page.
        let rounds = 400 + 8 * Names.validConversations.reduce(0) { $0 + server.log($1).count }
        for _ in 0..<rounds {
            observer.drainEvents(honest: honest)
            while let bytes = client.pollTransmit() { up.append(bytes) }
            if !up.isEmpty {
                for bytes in up { if let frame = try? codec.decode(bytes) { down += server.handle(frame, now: now) } }
                up.removeAll()
                continue
            }
            if !down.isEmpty {
                let frames = down
                down.removeAll()
                for frame in frames { deliverToClient(frame) }
                continue
            }
            if caughtUp { break }
            // Quiet but behind: let the next timer fire, and ask for the heads (a sync that
            // stopped at its page limit resumes at a probe).
            if let next = client.nextTimeout, next > now, next - now < 3_600_000 {
                now = next
                client.handleTimeout(now: now)
            } else {
                now += 1_000
            }
            client.probe(now: now)
        }
        check(full: true)
        require(caughtUp, "after healing the client is behind: "
            + client.conversations.map { "\($0) \(client.cursor($0))/\(server.log($0).count)" }.joined(separator: ", ")
            + "; outbox \(client.outbox().map { "\($0.state)" })")
    }

    private var caughtUp: Bool {
        for name in client.conversations where server.isMember(name) {
            if client.cursor(name) != UInt64(server.log(name).count) { return false }
        }
        return !client.outbox().contains { $0.state == .sending }
    }
}
