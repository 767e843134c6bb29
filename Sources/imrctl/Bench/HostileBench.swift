import Foundation
import IMRCore
import IMRRelay
import Logging
#if canImport(Glibc)
import Glibc
#endif

/// What a hostile client costs a well-behaved one: the worst ping round trip of a client that
/// pings every 5 ms while another user floods an in-process relay with one request kind at a
/// time, next to the same figure with no flood, all in the same run. The relay's budgets
/// (outbound bytes, request bucket, hello size, connection caps) should throttle each flood;
/// the figures show what the flood leaves the prober.
struct HostileBench: BenchSuite {
    let name = "Hostile"

    /// The flood kinds, in the order they run; the raw value names their figures.
    enum Flood: String, CaseIterable, Sendable {
        case syncUnread = "sync_unread"
        case headProbe = "head_probe"
        case ping
        case delivered
        case create
        case members
        case oversizeSend = "oversize_send"
        case preAuth = "pre_auth"

        var label: String {
            switch self {
            case .syncUnread: "256-message syncs, unread"
            case .headProbe: "head probes, unread"
            case .ping: "pings, unread"
            case .delivered: "256-watermark delivered frames"
            case .create: "creates of 1,000 members"
            case .members: "refused member changes"
            case .oversizeSend: "sends over the payload limit"
            case .preAuth: "connections that never say hello"
            }
        }

        /// Flooders that never read meet the outbound byte budget; the others discard their
        /// replies so that only the request bucket holds them back.
        var readsReplies: Bool {
            switch self {
            case .syncUnread, .headProbe, .ping: false
            default: true
            }
        }
    }

    static let room = "room"
    static let probeInterval = 0.005
    /// Pause after each flood, so that the relay is done with its connections before the next.
    static let settle = 0.25

    func run(quick: Bool) throws -> [BenchFigure] {
        let window = quick ? 0.5 : 2.0
        let dir = NSTemporaryDirectory() + "imr-bench-hostile-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (relay, _) = try startBenchRelay(databasePath: "\(dir)/relay.sqlite", conversation: Self.room,
                                             members: ["alice", "bob", "mallory"], label: "imr.bench.hostile")
        // Declared after the directory's clean-up, so it runs first: the store is closed before its files go.
        defer { _ = try? runBlocking { try await relay.stop() } }
        try Self.fillRoom(port: relay.port)

        let baseline = try Self.probe(port: relay.port, seconds: window)
        var figures = [
            BenchFigure(key: "hostile_ping_worst_ms_baseline", value: baseline.worst, unit: "ms",
                        label: "hostile: worst ping round trip, no flood", goal: "< 50 ms"),
            BenchFigure(key: "hostile_ping_p99_ms_baseline", value: baseline.p99, unit: "ms",
                        label: "hostile: ping round trip p99, no flood"),
        ]
        var rssPeak = Self.residentMiB()
        for flood in Flood.allCases {
            let run = try Self.measure(flood, port: relay.port, seconds: window)
            rssPeak = max(rssPeak, run.residentMiB)
            let kind = flood.rawValue
            figures += [
                BenchFigure(key: "hostile_ping_worst_ms_\(kind)", value: run.probe.worst, unit: "ms",
                            label: "hostile: worst ping round trip, flood of \(flood.label)", goal: "< 50 ms"),
                BenchFigure(key: "hostile_ping_p99_ms_\(kind)", value: run.probe.p99, unit: "ms",
                            label: "hostile: ping round trip p99, flood of \(flood.label)"),
                BenchFigure(key: "hostile_ping_ratio_\(kind)", value: run.probe.worst / baseline.worst, unit: "x",
                            label: "hostile: worst ping, \(kind) flood / no flood"),
                BenchFigure(key: "hostile_frames_\(kind)", value: Double(run.frames), unit: flood == .preAuth ? "conns" : "frames",
                            label: flood == .preAuth ? "hostile: pre_auth connections opened" : "hostile: frames the \(kind) flooder sent"),
                BenchFigure(key: "hostile_closes_\(kind)", value: Double(run.closes), unit: flood == .preAuth ? "conns" : "closes",
                            label: flood == .preAuth ? "hostile: pre_auth connects that failed" : "hostile: \(kind) flooder connections the relay ended"),
            ]
        }
        figures.append(BenchFigure(key: "hostile_relay_rss_mb_peak", value: rssPeak, unit: "MiB",
                                   label: "hostile: process resident memory, highest at a flood's end"))
        return figures
    }

    // MARK: One flood

    struct FloodRun {
        var probe: ProbeResult
        var frames: Int
        var closes: Int
        var residentMiB: Double
    }

    /// Floods from a thread of its own while the prober runs its window, then stops and joins
    /// the flooder. Resident memory is read before the flood lets go of what it holds.
    static func measure(_ flood: Flood, port: Int, seconds: Double) throws -> FloodRun {
        let stop = StopFlag()
        let counts = FloodCounts()
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            (counts.frames, counts.closes) = flood == .preAuth
                ? floodConnections(port: port, until: stop)
                : floodRequests(flood, port: port, until: stop)
            done.signal()
        }
        let probed = Result { try probe(port: port, seconds: seconds) }
        let resident = residentMiB()
        stop.raise()
        guard done.wait(timeout: .now() + 10) == .success else { throw SuiteError("the \(flood.rawValue) flooder did not stop") }
        Thread.sleep(forTimeInterval: settle)
        return FloodRun(probe: try probed.get(), frames: counts.frames, closes: counts.closes, residentMiB: resident)
    }

    /// Sends `flood`'s frames as mallory as fast as the connection takes them, reconnecting
    /// whenever the relay ends the connection. Returns frames sent and connections lost.
    static func floodRequests(_ flood: Flood, port: Int, until stop: StopFlag) -> (Int, Int) {
        var frames = 0, closes = 0
        var source = FloodFrames(flood)
        while !stop.isSet {
            do {
                let client = try BlockingFrameClient.connect(port: port, readTimeout: 1, writeTimeout: 0.05)
                _ = try client.hello(user: "mallory", node: 3)
                while !stop.isSet {
                    // A write blocked by the relay's backpressure waits for it to read again or for the window to end.
                    try client.sendRaw(try source.next(), keepWaiting: { !stop.isSet })
                    frames += 1
                    if flood.readsReplies { try client.discardArrived() }
                }
            } catch BlockingFrameClient.Failure.timeout where stop.isSet {
                break
            } catch {
                closes += 1
            }
        }
        return (frames, closes)
    }

    /// Opens connections as fast as it can, each sending the start of a frame and no hello.
    /// Half stop inside a 1 MiB length prefix and are held open, up to `keepOpen` of them (more
    /// than the relay's cap of connections before hello; it must time them out). Half send the
    /// whole prefix and some of the body (over the hello size: refused at once) and are dropped.
    static func floodConnections(port: Int, until stop: StopFlag) -> (Int, Int) {
        let keepOpen = 1_200
        var prefix: [UInt8] = []
        Varint.append(1 << 20, to: &prefix)
        let partialPrefix = Array(prefix.dropLast())
        let prefixAndBody = prefix + [UInt8](repeating: 0x5A, count: 4 << 10)
        var held: [BlockingFrameClient] = []
        var opened = 0, failed = 0
        while !stop.isSet {
            do {
                let client = try BlockingFrameClient.connect(port: port, readTimeout: 0.05, writeTimeout: 0.05, resetOnClose: true)
                let hold = opened % 2 == 0
                try client.sendRaw(hold ? partialPrefix : prefixAndBody)
                opened += 1
                if hold {
                    held.append(client)
                    if held.count > keepOpen { held.removeFirst() }
                }
            } catch {
                failed += 1
            }
        }
        return (opened, failed)
    }

    // MARK: The prober

    struct ProbeResult {
        var worst: Double
        var p99: Double
    }

    /// Pings as alice every `probeInterval` for `seconds`, each ping waiting for its pong.
    /// A late pong delays the next ping rather than bunching the following ones.
    static func probe(port: Int, seconds: Double) throws -> ProbeResult {
        let client = try BlockingFrameClient.connect(port: port, readTimeout: 1, writeTimeout: 1)
        _ = try client.hello(user: "alice", node: 1)
        var roundTrips: [Double] = []
        var nonce: UInt64 = 0
        let end = monotonicSeconds() + seconds
        var due = monotonicSeconds()
        while monotonicSeconds() < end {
            nonce += 1
            let sent = monotonicSeconds()
            try client.send(.ping(nonce: nonce))
            try awaitPong(nonce, from: client, giveUpAt: sent + 10)
            roundTrips.append((monotonicSeconds() - sent) * 1000)
            due += probeInterval
            let pause = due - monotonicSeconds()
            if pause > 0 { Thread.sleep(forTimeInterval: pause) } else { due = monotonicSeconds() }
        }
        let sorted = roundTrips.sorted()
        guard let worst = sorted.last else { throw SuiteError("the prober got no pong") }
        // Nearest rank: the smallest round trip that 99% of them do not exceed.
        let rank = (sorted.count * 99 + 99) / 100
        return ProbeResult(worst: worst, p99: sorted[rank - 1])
    }

    /// Reads until the pong of `nonce`, passing over receipts and anything else the relay sends.
    static func awaitPong(_ nonce: UInt64, from client: BlockingFrameClient, giveUpAt deadline: Double) throws {
        while true {
            do {
                if case .pong(nonce) = try client.read() { return }
            } catch BlockingFrameClient.Failure.timeout where monotonicSeconds() < deadline {
                continue
            }
        }
    }

    // MARK: The relay

    /// Forty 200 KiB messages from bob, so that a sync of the room costs the store real reads
    /// and fills the outbound budget fast.
    static func fillRoom(port: Int) throws {
        let client = try BlockingFrameClient.connect(port: port, readTimeout: 5, writeTimeout: 5)
        _ = try client.hello(user: "bob", node: 2)
        var rng = SeededGenerator(seed: 7)
        let payload = [UInt8](repeating: 0x6D, count: 200 << 10)
        for _ in 0..<40 {
            let id = MessageID.uuidV7(unixMilliseconds: currentUnixMilliseconds(), using: &rng)
            try client.send(.send(Send(conversation: room, messageID: id, clock: VectorClock(), payload: payload)))
            while true {
                let frame = try client.read()
                if case let .sendAck(ack) = frame, ack.messageID == id { break }
                if case let .sendReject(reject) = frame { throw SuiteError("fill refused: code \(reject.code.rawValue) \(reject.detail)") }
            }
        }
    }

    /// VmRSS of this process (the relay included), in MiB; 0 where /proc is missing.
    static func residentMiB() -> Double {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
              let kib = Double(line.split(separator: " ").dropFirst().first ?? "") else { return 0 }
        return kib / 1024
    }

    // MARK: Plumbing

    /// A flooder's counts: written by its thread before it signals, read after the join.
    final class FloodCounts: @unchecked Sendable {
        var frames = 0
        var closes = 0
    }

    /// Tells a flooder thread that the prober's window has ended.
    final class StopFlag: @unchecked Sendable {
        private let lock = NSLock()
        private var raised = false
        var isSet: Bool { lock.withLock { raised } }
        func raise() { lock.withLock { raised = true } }
    }

    struct SuiteError: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }
}

/// The frames of one request flood, as bytes ready to write; encoded once where they never change.
private struct FloodFrames {
    private let flood: HostileBench.Flood
    private let codec = FrameCodec()
    private var fixed: [UInt8] = []
    private var count: UInt64 = 0
    private let members = (0..<1_000).map { "member-\($0)" }

    init(_ flood: HostileBench.Flood) {
        self.flood = flood
        let room = HostileBench.room
        switch flood {
        case .syncUnread:
            fixed = Self.delimited(.syncRequest(SyncRequest(conversation: room, afterSeq: 0, limit: 256)), codec)
        case .headProbe:
            fixed = Self.delimited(.syncRequest(SyncRequest(conversation: room, afterSeq: 0, limit: 0)), codec)
        case .delivered:
            let cap = WireLimits.default.maxWatermarksPerFrame
            let marks = (0..<cap).map { Watermark(conversation: room, deliveredSeq: UInt64($0 % 40 + 1)) }
            fixed = Self.delimited(.delivered(Delivered(watermarks: marks)), codec)
        case .oversizeSend:
            // Only a codec with a raised payload limit will encode what the relay must refuse.
            let limit = WireLimits.default.maxPayloadBytes
            let lenient = FrameCodec(limits: WireLimits(maxPayloadBytes: 2 * limit))
            var rng = SeededGenerator(seed: 3)
            let send = Send(conversation: room, messageID: .uuidV7(unixMilliseconds: currentUnixMilliseconds(), using: &rng),
                            clock: VectorClock(), payload: [UInt8](repeating: 0x4F, count: limit + (64 << 10)))
            fixed = Self.delimited(.send(send), lenient)
        case .ping, .create, .members, .preAuth:
            break
        }
    }

    mutating func next() throws -> [UInt8] {
        count += 1
        let frame: Frame
        switch flood {
        case .ping:
            frame = .ping(nonce: count)
        case .create:
            frame = .createConversation(CreateConversation(requestID: count, conversation: "flood-\(count)", members: members))
        case .members:
            // The room has no owner, so mallory is refused either way.
            frame = count % 2 == 0
                ? .addMember(MemberChange(requestID: count, conversation: HostileBench.room, user: "eve"))
                : .removeMember(MemberChange(requestID: count, conversation: HostileBench.room, user: "bob"))
        default:
            return fixed
        }
        var bytes: [UInt8] = []
        try codec.encodeDelimited(frame, appendingTo: &bytes)
        return bytes
    }

    private static func delimited(_ frame: Frame, _ codec: FrameCodec) -> [UInt8] {
        var bytes: [UInt8] = []
        // The frames are fixed and within the codec's limits: encoding cannot fail.
        try! codec.encodeDelimited(frame, appendingTo: &bytes)
        return bytes
    }
}
