@_spi(Benchmarks) import IMRCore
import IMRBenchC
#if canImport(Glibc)
import Glibc
#endif

/// The client engine's figures: send->ack cycles, timer cost at 1k vs 100k in flight,
/// memory per in-flight message, pushes handled, receive state per conversation.
struct ClientBench: BenchSuite {
    var name: String { "client" }

    func run(quick: Bool) throws -> [BenchFigure] {
        let repeats = quick ? 3 : 5
        var figures: [BenchFigure] = []

        let cycles = quick ? 20_000 : 200_000
        let sendAck = try (0..<repeats).map { _ in try clientSideSendAckCycles(cycles) }
        figures.append(BenchFigure(key: "client_send_ack_per_s", value: median(sendAck), unit: "cycles/s",
                                   label: "client send->ack cycles (client encodes the send, decodes the ack)", goal: ">= 1,000,000"))
        let fullLoop = try (0..<repeats).map { _ in try fullLoopSendAckCycles(cycles) }
        figures.append(BenchFigure(key: "client_send_ack_full_loop_per_s", value: median(fullLoop), unit: "cycles/s",
                                   label: "  the same with the server side's decode+encode in the loop"))
        let sendAckFloor = try (0..<repeats).map { _ in try protobufCSendAckCycles(cycles) }
        figures.append(BenchFigure(key: "client_send_ack_protobuf_c_only_per_s", value: median(sendAckFloor), unit: "cycles/s",
                                   label: "  protobuf-c alone on the cycle's frames (C: pack the send's body, unpack the ack's)"))
        let sendAckValues = try (0..<repeats).map { _ in try engineOnlySendAckCycles(cycles) }
        figures.append(BenchFigure(key: "client_send_ack_engine_only_per_s", value: median(sendAckValues), unit: "cycles/s",
                                   label: "client send->ack cycles (engine only: frames as values, no codec)"))

        let lifecycles = quick ? 200_000 : 2_000_000
        let small = (0..<repeats).map { _ in timerLifecycleNanos(armed: 1_000, lifecycles: lifecycles) }
        let large = (0..<repeats).map { _ in timerLifecycleNanos(armed: 100_000, lifecycles: lifecycles) }
        figures.append(BenchFigure(key: "timer_ns_per_message_1k", value: median(small), unit: "ns",
                                   label: "timer arm+fire/cancel per message, 1,000 in flight"))
        figures.append(BenchFigure(key: "timer_ns_per_message_100k", value: median(large), unit: "ns",
                                   label: "timer arm+fire/cancel per message, 100,000 in flight"))
        figures.append(BenchFigure(key: "timer_cost_ratio_100k_vs_1k", value: median(large) / median(small), unit: "x",
                                   label: "per-message timer cost, 100k vs 1k in flight", goal: "<= 1.5"))
        let retransmitSmall = try (0..<repeats).map { _ in try retransmitNanos(inflight: 1_000, rounds: quick ? 20 : 100) }
        let retransmitLarge = try (0..<repeats).map { _ in try retransmitNanos(inflight: 100_000, rounds: 1) }
        figures.append(BenchFigure(key: "retransmit_cost_ratio_100k_vs_1k", value: median(retransmitLarge) / median(retransmitSmall),
                                   unit: "x", label: "engine retransmission (timer+frame) per message, 100k vs 1k in flight"))

        let inflight = quick ? 20_000 : 100_000
        let memory = try (0..<repeats).map { _ in try inflightBytes(inflight) }
        figures.append(BenchFigure(key: "inflight_bytes_per_message", value: median(memory.map(\.total)), unit: "B",
                                   label: "engine bytes per in-flight message beyond its payload", goal: "<= 200"))
        figures.append(BenchFigure(key: "inflight_outbox_bytes_per_message", value: median(memory.map(\.outbox)), unit: "B",
                                   label: "  sending leg: outbox slot, id index, queue, timer"))
        figures.append(BenchFigure(key: "inflight_timeline_bytes_per_message", value: median(memory.map(\.timeline)), unit: "B",
                                   label: "  timeline: record, clock entries, indexes of the pending message"))

        let pushes = quick ? 20_000 : 200_000
        let receive = try (0..<repeats).map { _ in try receivePerSecond(pushes) }
        figures.append(BenchFigure(key: "receive_per_s", value: median(receive), unit: "pushes/s",
                                   label: "pushes handled (decode+dedup+cursor+timeline)", goal: ">= 1,000,000"))
        let receiveFloor = try (0..<repeats).map { _ in try protobufCPushes(pushes) }
        figures.append(BenchFigure(key: "receive_protobuf_c_only_per_s", value: median(receiveFloor), unit: "pushes/s",
                                   label: "  protobuf-c alone on the push frame (C: unpack its body)"))
        let conversations = quick ? 2_000 : 10_000
        let state = try (0..<repeats).map { _ in try receiveStateBytes(conversations) }
        figures.append(BenchFigure(key: "receive_state_bytes_per_conversation", value: median(state), unit: "B",
                                   label: "receive state per conversation (no messages)"))
        return figures
    }

    // MARK: measurements

    private func liveEngine(window: Int = 64, jitter: Double = 0.2) throws -> ClientEngine {
        let config = ClientConfig(nodeID: 1, token: "bench", ackTimeoutBaseMs: 2_000, jitter: jitter, maxAttempts: 1_000,
                                  inflightWindow: window, seed: 7, sentRetention: 0, pollIntervalMs: 0)
        let engine = try ClientEngine(config: config)
        engine.connected(now: 0)
        while engine.pollTransmit() != nil {}
        try engine.handle(.welcome(Welcome(user: "bench", serverTimeMs: 0, limits: ServerLimits(maxInflight: 0))), now: 0)
        while engine.pollTransmit() != nil {}
        while let _ = engine.pollEvent() {}
        return engine
    }

    /// Client-side send->ack cycles: each cycle is `send`, encoding the send frame
    /// (`pollTransmit`), decoding and handling the server's ack, draining events and
    /// re-reading the timer. The server's half (decoding the send, encoding the ack) is
    /// work of another process: its ack frames are recorded by a first, untimed run of an
    /// identical engine (same seed, so the same ids) and replayed to the timed one, and the
    /// timed run checks every send frame against the recorded one.
    private func clientSideSendAckCycles(_ n: Int) throws -> Double {
        var sends = RecordedFrames()
        var acks = RecordedFrames()
        _ = try fullLoopSendAckCycles(n) { sends.append($0); acks.append($1) }

        let engine = try liveEngine()
        let start = monotonicSeconds()
        let mismatches = try replaySendAck(engine, sends: sends, acks: acks)
        let rate = Double(n) / (monotonicSeconds() - start)
        guard mismatches == 0, engine.stats.acks == n, engine.outbox().isEmpty else {
            fatalError("replayed acks did not match the engine's sends")
        }
        return rate
    }

    /// The timed loop of `clientSideSendAckCycles`, apart so that a sampling profiler's report
    /// (`perf record -g`, then `perf report`) shows it on its own, not mixed with the recording run.
    /// Returns how many send frames differed in size from the recorded ones.
    @inline(never)
    private func replaySendAck(_ engine: ClientEngine, sends: RecordedFrames, acks: RecordedFrames) throws -> Int {
        let payload = [UInt8](repeating: 0x61, count: 32)
        var mismatches = 0
        try acks.withFrames { ack in
            for i in 0..<acks.count {
                let now = UInt64(i / 1_000)
                _ = try engine.send(conversation: "bench", payload: payload, now: now)
                // The send frame is read where the engine encoded it, as a host writes it to its socket.
                guard let size = engine.pollTransmit({ $0.count }) else { fatalError("no send") }
                if size != sends.size(i) { mismatches += 1 }
                try engine.handle(frameBytes: ack(i), now: now)
                while engine.pollTransmit({ _ in }) != nil {}
                while let _ = engine.pollEvent() {}
                _ = engine.nextTimeout
            }
        }
        return mismatches
    }

    /// send -> (client encodes) -> server decodes, encodes the ack -> client decodes and
    /// handles it: the client's cycle plus the server side's codec work, in one thread.
    private func fullLoopSendAckCycles(_ n: Int, record: ([UInt8], [UInt8]) -> Void = { _, _ in }) throws -> Double {
        let engine = try liveEngine()
        let server = FrameCodec()
        let payload = [UInt8](repeating: 0x61, count: 32)
        var seq: UInt64 = 0
        let start = monotonicSeconds()
        for i in 0..<n {
            let now = UInt64(i / 1_000)
            _ = try engine.send(conversation: "bench", payload: payload, now: now)
            seq += 1
            guard let (bytes, frame) = try engine.pollTransmit({ ([UInt8]($0), try server.decode($0)) }),
                  case let .send(s) = frame else { fatalError("no send") }
            let ack = try server.encode(.sendAck(SendAck(messageID: s.messageID, conversation: s.conversation,
                                                         seq: seq, serverTimeMs: now)))
            record(bytes, ack)
            try ack.withUnsafeBytes { try engine.handle(frameBytes: $0, now: now) }
            while engine.pollTransmit({ _ in }) != nil {}
            while let _ = engine.pollEvent() {}
            _ = engine.nextTimeout
        }
        return Double(n) / (monotonicSeconds() - start)
    }

    /// What protobuf-c alone costs per send->ack cycle, on the bench's own frames (one recorded
    /// send and its ack): the bound no client cycle can beat while frames go through it.
    private func protobufCSendAckCycles(_ n: Int) throws -> Double {
        var recorded: ([UInt8], [UInt8])?
        _ = try fullLoopSendAckCycles(1) { recorded = ($0, $1) }
        guard let (send, ack) = recorded else { fatalError("no frames recorded") }
        let start = monotonicSeconds()
        let checksum = imrbench_protobuf_c_send_ack(send, send.count, ack, ack.count, UInt64(n))
        let rate = Double(n) / (monotonicSeconds() - start)
        guard checksum != 0 else { fatalError("protobuf-c did not take the bench's frames") }
        return rate
    }

    /// What protobuf-c alone costs per push: one push of `receivePerSecond`'s shape, unpacked.
    private func protobufCPushes(_ n: Int) throws -> Double {
        var rng = SeededGenerator(seed: 11)
        let clock = try VectorClock(entries: (0..<4).map { VectorClock.Entry(node: UInt64(100 + $0), counter: 1_000) })
        let push = try FrameCodec().encode(.push(roomMessage(seq: 4_000, sender: 1, clock: clock, rng: &rng)))
        let start = monotonicSeconds()
        let checksum = imrbench_protobuf_c_push(push, push.count, UInt64(n))
        let rate = Double(n) / (monotonicSeconds() - start)
        guard checksum != 0 else { fatalError("protobuf-c did not take the bench's push") }
        return rate
    }

    /// The engine alone: frames handed over as values, no codec.
    private func engineOnlySendAckCycles(_ n: Int) throws -> Double {
        let engine = try liveEngine()
        let payload = [UInt8](repeating: 0x61, count: 32)
        var seq: UInt64 = 0
        let start = monotonicSeconds()
        for i in 0..<n {
            let now = UInt64(i / 1_000)
            let id = try engine.send(conversation: "bench", payload: payload, now: now)
            seq += 1
            _ = engine.pollTransmitFrame()
            try engine.handle(.sendAck(SendAck(messageID: id, conversation: "bench", seq: seq, serverTimeMs: now)), now: now)
            while engine.pollTransmit() != nil {}
            while let _ = engine.pollEvent() {}
            _ = engine.nextTimeout
        }
        return Double(n) / (monotonicSeconds() - start)
    }

    /// Nanoseconds per timer lifecycle (arm, then fire or cancel) with `armed` timers pending:
    /// time advances 1 ms per step; due timers fire and are re-armed 1-2 s ahead, and a random
    /// pending timer is cancelled and re-armed (an ack and a new send), as in steady traffic.
    private func timerLifecycleNanos(armed: Int, lifecycles: Int) -> Double {
        var bench = TimerWheelBenchmark(count: armed)
        return bench.run(lifecycles: lifecycles)
    }

    /// Nanoseconds per retransmission when `inflight` messages time out together.
    private func retransmitNanos(inflight: Int, rounds: Int) throws -> Double {
        let engine = try liveEngine(window: inflight, jitter: 0.5)
        let payload = [UInt8](repeating: 0x62, count: 16)
        for _ in 0..<inflight { _ = try engine.send(conversation: "r", payload: payload, now: 0) }
        while engine.pollTransmit() != nil {}
        while let _ = engine.pollEvent() {}
        var now: UInt64 = 0
        var retransmitted = 0
        var elapsed = 0.0
        for _ in 0..<rounds {
            let before = engine.stats.retransmissions
            let horizon = now + 100_000
            let start = monotonicSeconds()
            while let t = engine.nextTimeout, t < horizon, engine.stats.retransmissions - before < inflight {
                now = max(now, t)
                engine.handleTimeout(now: now)
                while engine.pollTransmit() != nil {}
            }
            elapsed += monotonicSeconds() - start
            retransmitted += engine.stats.retransmissions - before
        }
        return elapsed * 1e9 / Double(max(1, retransmitted))
    }

    struct InflightMemory {
        /// Everything the engine holds per unacked message, beyond the payload bytes.
        var total: Double
        /// The Timeline's share for the (pending) message beyond its payload bytes: its record,
        /// clock entries and indexes, what any held message costs.
        var timeline: Double
        /// What being in flight costs: outbox slot, id index, queue entry, timer record.
        var outbox: Double { total - timeline }
    }

    /// Heap bytes per unacknowledged message beyond its payload bytes, with a breakdown.
    private func inflightBytes(_ n: Int) throws -> InflightMemory {
        let payloadSize = 16
        let engine = try liveEngine(window: n)
        _ = try engine.send(conversation: "m", payload: [1], now: 0)   // conversation created outside the measurement
        while engine.pollTransmit() != nil {}
        while let _ = engine.pollEvent() {}
        let before = heapBytes()
        let p = [UInt8](repeating: 0x33, count: payloadSize)
        for _ in 0..<n { _ = try engine.send(conversation: "m", payload: p, now: 1) }
        while engine.pollTransmit() != nil {}
        while let _ = engine.pollEvent() {}
        let total = Double(heapBytes() - before) / Double(n) - Double(payloadSize)
        withExtendedLifetime(engine) {}

        // The Timeline alone, for the same messages (a clock of one entry each, as sent).
        var clock = VectorClock()
        var timeline = Timeline()
        _ = timeline.insert(TimelineEntry(messageID: MessageID(high: 0, low: 0), seq: nil, serverTimeMs: nil,
                                          senderUser: "bench", senderNode: 1, clock: clock, payload: p))
        let base = heapBytes()
        for i in 1...n {
            clock.increment(1)
            timeline.insert(TimelineEntry(messageID: MessageID(high: UInt64(i), low: UInt64(i) &* 0x9E37_79B9), seq: nil,
                                          serverTimeMs: nil, senderUser: "bench", senderNode: 1, clock: clock, payload: p))
        }
        let timelineBytes = Double(heapBytes() - base) / Double(n) - Double(payloadSize)
        withExtendedLifetime(timeline) {}
        return InflightMemory(total: total, timeline: timelineBytes)
    }

    /// Pushes of one conversation from 4 senders, pre-encoded, handled one by one.
    private func receivePerSecond(_ n: Int) throws -> Double {
        let engine = try liveEngine()
        let codec = FrameCodec()
        var clocks = [VectorClock](repeating: VectorClock(), count: 4)
        var frames = RecordedFrames()
        var rng = SeededGenerator(seed: 11)
        var shared = VectorClock()
        for seq in 1...UInt64(n) {
            let sender = Int(seq % 4)
            clocks[sender].merge(shared)
            clocks[sender].increment(UInt64(100 + sender))
            shared = clocks[sender]
            frames.append(try codec.encode(.push(roomMessage(seq: seq, sender: sender, clock: clocks[sender], rng: &rng))))
        }
        let start = monotonicSeconds()
        try handlePushes(engine, frames: frames)
        let rate = Double(n) / (monotonicSeconds() - start)
        guard engine.cursor("room") == UInt64(n) else { fatalError("receive bench lost messages") }
        return rate
    }

    /// A message of the receive bench: seq `seq` of conversation "room" from sender `sender`
    /// (user "u<sender>", node 100 + sender), a 32-byte payload.
    private func roomMessage(seq: UInt64, sender: Int, clock: VectorClock, rng: inout SeededGenerator) -> StoredMessage {
        StoredMessage(conversation: "room", seq: seq, serverTimeMs: seq, senderUser: "u\(sender)", senderNode: UInt64(100 + sender),
                      messageID: MessageID.uuidV7(unixMilliseconds: seq, using: &rng), clock: clock,
                      payload: [UInt8](repeating: 0x63, count: 32))
    }

    /// The timed loop of `receivePerSecond`, apart for a profiler's report, as `replaySendAck`.
    @inline(never)
    private func handlePushes(_ engine: ClientEngine, frames: RecordedFrames) throws {
        try frames.withFrames { frame in
            for i in 0..<frames.count {
                try engine.handle(frameBytes: frame(i), now: UInt64(i / 1_000))
                while let _ = engine.pollEvent() {}
            }
        }
    }

    /// Heap bytes per conversation opened by a welcome (no messages).
    private func receiveStateBytes(_ k: Int) throws -> Double {
        let engine = try ClientEngine(config: ClientConfig(nodeID: 1, token: "bench", pollIntervalMs: 0))
        let heads = (0..<k).map { ConversationHead(conversation: "conversation-\($0)", headSeq: 0) }
        let welcome = try FrameCodec().encode(.welcome(Welcome(user: "bench", serverTimeMs: 0, conversations: heads)))
        engine.connected(now: 0)
        while engine.pollTransmit() != nil {}
        let before = heapBytes()
        // Decoded inside the measurement: the conversation names the state keeps are counted.
        try welcome.withUnsafeBytes { try engine.handle(frameBytes: $0, now: 0) }
        while engine.pollTransmit() != nil {}
        while let _ = engine.pollEvent() {}
        let bytes = Double(heapBytes() - before) / Double(k)
        withExtendedLifetime(engine) {}
        return bytes
    }

    /// Bytes allocated by malloc (mallinfo2: uordblks + hblkhd), after malloc_trim.
    /// The Glibc module does not export malloc.h, so both are looked up with dlsym; mallinfo2
    /// returns its struct through the hidden result pointer (SysV x86-64). Elsewhere: resident set.
    private func heapBytes() -> Int {
        #if os(Linux) && arch(x86_64)
        typealias MallocTrim = @convention(c) (Int) -> Int32
        typealias MallInfo2 = @convention(c) (UnsafeMutableRawPointer) -> Void
        if let handle = dlopen(nil, RTLD_NOW), let trim = dlsym(handle, "malloc_trim"), let info = dlsym(handle, "mallinfo2") {
            _ = unsafeBitCast(trim, to: MallocTrim.self)(0)
            // arena, ordblks, smblks, hblks, hblkhd, usmblks, fsmblks, uordblks, fordblks, keepcost
            var fields = [Int](repeating: 0, count: 10)
            fields.withUnsafeMutableBytes { unsafeBitCast(info, to: MallInfo2.self)($0.baseAddress!) }
            return fields[7] + fields[4]
        }
        #endif
        var pages = 0
        if let f = fopen("/proc/self/statm", "r") {
            var size = 0
            _ = withUnsafeMutablePointer(to: &size) { s in withUnsafeMutablePointer(to: &pages) { r in
                withVaList([s, r]) { vfscanf(f, "%ld %ld", $0) }
            } }
            fclose(f)
        }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }
}

/// Frames recorded for a timed replay, back to back in one buffer as a host's stream buffer
/// holds them (one array per frame would add a cold allocation and a reference count per
/// frame to what is timed).
private struct RecordedFrames {
    private var bytes: [UInt8] = []
    /// Frame i is `bytes[bounds[i] ..< bounds[i + 1]]`.
    private var bounds = [0]

    var count: Int { bounds.count - 1 }

    mutating func append(_ frame: [UInt8]) {
        bytes += frame
        bounds.append(bytes.count)
    }

    func size(_ i: Int) -> Int { bounds[i + 1] - bounds[i] }

    /// Calls `body` with a function giving frame i's bytes in place.
    func withFrames<R>(_ body: ((Int) -> UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try bytes.withUnsafeBytes { all in
            try bounds.withUnsafeBufferPointer { b in
                try body { i in UnsafeRawBufferPointer(rebasing: all[b[i] ..< b[i + 1]]) }
            }
        }
    }
}
