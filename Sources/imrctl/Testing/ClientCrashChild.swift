import ArgumentParser
import IMRCore
#if canImport(Glibc)
import Glibc
#endif

/// The child of the client crash test (hidden): opens a durable client store and sends in a
/// loop, printing each id `send` returned, while a fake server acks about half of the sends
/// (so outbox rows are updated and deleted too). The test SIGKILLs it at random points and
/// checks that every printed id survived.
struct ClientCrashChild: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "client-crash-child",
        abstract: "Crash-test child: send in a loop on a durable client store, printing each id.",
        shouldDisplay: false
    )

    @Option(help: "The SQLite file of the client store.")
    var store: String

    @Option(help: "Seed of the id generator and of the fake server's choices.")
    var seed: UInt64 = 1

    @Option(help: "Stop after this many sends.")
    var count: Int = 1_000_000

    func run() throws {
        var config = ClientConfig(nodeID: 42, token: "crash", seed: seed)
        config.storePath = store
        config.deliveredFlushMs = 0
        let engine = try ClientEngine(config: config)
        var rng = SeededGenerator(seed: seed ^ 0x5EED)
        var now: UInt64 = 1_000
        engine.connected(now: now)
        drain(engine, now: now, rng: &rng)
        try engine.handle(.welcome(Welcome(user: "crash", serverTimeMs: now)), now: now)
        drain(engine, now: now, rng: &rng)
        for i in 0..<count {
            now += 1
            let payload = (0..<(1 + Int(rng.next() % 64))).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            let id = try engine.send(conversation: "c\(i % 3)", payload: payload, now: now)
            print(id)
            fflush(nil)   // all streams: the line is out before the next send
            drain(engine, now: now, rng: &rng)
        }
    }

    /// Plays the server: acks about half of the sends with the conversation's next seq.
    private func drain(_ engine: ClientEngine, now: UInt64, rng: inout SeededGenerator) {
        var acks: [SendAck] = []
        let codec = FrameCodec()
        while let bytes = engine.pollTransmit() {
            guard case let .send(s)? = try? codec.decode(bytes), rng.next() % 2 == 0 else { continue }
            acks.append(SendAck(messageID: s.messageID, conversation: s.conversation, seq: 0, serverTimeMs: now))
        }
        for var ack in acks {
            ack.seq = engine.cursor(ack.conversation) + 1
            try? engine.handle(.sendAck(ack), now: now)
        }
        while engine.pollEvent() != nil {}
    }
}
