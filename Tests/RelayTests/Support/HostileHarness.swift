import Foundation
import IMRCore
import Testing

/// The harness every hostile-client finding shares: the relay child process, the attack
/// window with its memory and ping checks, and hand-built frames.
extension HostileClientTests {
    /// A temporary directory for one test's relay log and database, removed with it.
    final class Scratch {
        let path = NSTemporaryDirectory() + "imr-hostile-\(UUID().uuidString)"
        var log: String { path + "/relay.log" }
        var db: String { path + "/relay.sqlite" }
        init() throws { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) }
        deinit { try? FileManager.default.removeItem(atPath: path) }
    }

    /// Every relay here listens on loopback, takes the token as the user name, has no send rate
    /// limit (a flood must reach the engine) and has a conversation for the fresh client.
    static func startRelay(_ scratch: Scratch, _ arguments: [String]) throws -> RelayProcess {
        try RelayProcess(arguments: ["--listen", "127.0.0.1:0", "--insecure-user-tokens", "--rate", "0",
                                     "--conversation", "lobby:fresh", "--log-level", "warning",
                                     // A durable commit waits for the disk on the relay's loop: not what is measured here.
                                     "--durability", "normal"] + arguments,
                         logFile: scratch.log)
    }

    /// Runs `attack` while a probe pings, then checks what every finding shares: the relay's
    /// resident memory grew by at most `memoryBound` over what it held just before (its peak
    /// counts, not only what is left at the end), no probe round trip after warm-up took 50 ms
    /// or more, and a fresh client is served.
    static func underAttack(_ relay: RelayProcess, _ name: String, memoryBound: Int = 64 << 20,
                            attack: () throws -> Void) throws {
        let pid = relay.process.processIdentifier
        let probe = try PingProbe(port: relay.port)
        probe.waitForWarmUp()
        let peakWasReset = ProcessMemory.resetPeak(of: pid)
        let before = try #require(ProcessMemory.residentBytes(of: pid))
        var attackError: (any Error)?
        do { try attack() } catch { attackError = error }
        probe.waitForMore(5)
        let samples = probe.stop()
        // Without the reset the peak would include the test's own set-up: then only what is left counts.
        let left = ProcessMemory.residentBytes(of: pid) ?? 0
        let peak = peakWasReset ? max(ProcessMemory.peakResidentBytes(of: pid) ?? 0, left) : left
        let growth = peak - before
        print("HostileClient \(name): RSS \(mebibytes(before)) -> peak \(mebibytes(peak)) (+\(mebibytes(growth)), bound \(mebibytes(memoryBound))); "
              + "probe worst \(milliseconds(samples.worstMs)), median \(milliseconds(samples.medianMs)) over \(samples.measuredMs.count) pings"
              + (samples.failure.map { "; probe failed: \($0)" } ?? ""))
        #expect(relay.process.isRunning, "the relay died under \(name)")
        #expect(growth <= memoryBound, "resident memory grew by \(mebibytes(growth)) under \(name)")
        #expect(samples.failure == nil, "the probe stopped: \(samples.failure ?? "")")
        #expect(samples.measuredMs.count >= 3, "the probe got only \(samples.measuredMs.count) pongs through the attack")
        #expect(samples.worstMs < 50, "worst probe round trip \(milliseconds(samples.worstMs)) under \(name)")
        try expectFreshClientServed(relay.port)
        if let attackError { throw attackError }
    }

    /// A client that connects after the attack authenticates, sends and gets its ack.
    static func expectFreshClientServed(_ port: Int) throws {
        let fresh = try RawClient(port: port)
        _ = try fresh.hello(token: "fresh", node: 0xF5E5)
        let id = newMessageID()
        try fresh.send(.send(Send(conversation: "lobby", messageID: id, clock: VectorClock(), payload: Array("still served".utf8))))
        #expect(try verdict(on: fresh, for: id).isAck, "a fresh client's send was not acked")
    }

    static func mebibytes(_ bytes: Int) -> String { String(format: "%.1f MiB", Double(bytes) / 1_048_576) }
    static func milliseconds(_ ms: Double) -> String { String(format: "%.1f ms", ms) }

    // MARK: Frames

    static func newMessageID() -> MessageID {
        var rng = SystemRandomNumberGenerator()
        return MessageID.uuidV7(unixMilliseconds: UInt64(Date().timeIntervalSince1970 * 1000), using: &rng)
    }

    /// Identifiers compare by bytes here: Swift's == equates canonically equivalent strings.
    static func sameBytes(_ a: String, _ b: String) -> Bool { a.utf8.elementsEqual(b.utf8) }

    /// A delimited create naming `conversation`, which the encoder refuses when it is not NFC
    /// (a hostile peer's bytes): encoded with an ASCII stand-in of the same length, whose bytes
    /// are then swapped for the name's.
    static func rawCreate(requestID: UInt64, conversation: String, members: [String]) throws -> [UInt8] {
        let target = Array(conversation.utf8)
        let standIn = String(repeating: "Z", count: target.count)
        var bytes: [UInt8] = []
        try FrameCodec().encodeDelimited(.createConversation(CreateConversation(requestID: requestID, conversation: standIn,
                                                                                 members: members)), appendingTo: &bytes)
        let pattern = Array(standIn.utf8)
        guard let at = (0...(bytes.count - pattern.count)).first(where: { Array(bytes[$0..<$0 + pattern.count]) == pattern }) else {
            return bytes
        }
        bytes.replaceSubrange(at..<at + pattern.count, with: target)
        return bytes
    }

    /// A delimited hello whose token is exactly `token` (the codec refuses to write a bad one).
    static func rawHello(token: [UInt8]) -> [UInt8] {
        var hello: [UInt8] = [0x0A]                      // token, field 1, length-delimited
        Varint.append(UInt64(token.count), to: &hello)
        hello += token
        hello += [0x10, UInt8(Frame.protocolVersion)]    // protocol_version, field 2
        hello += [0x19, 1, 0, 0, 0, 0, 0, 0, 0]          // device_node 1, field 3, fixed64
        var frame: [UInt8] = [0x08, UInt8(Frame.wireVersion), 0x52]   // version; hello is field 10
        Varint.append(UInt64(hello.count), to: &frame)
        frame += hello
        var out: [UInt8] = []
        Varint.append(UInt64(frame.count), to: &out)
        return out + frame
    }

    /// A delimited delivered frame of `marks` (the codec refuses to write more than its cap).
    static func rawDelivered(_ marks: [Watermark]) -> [UInt8] {
        var body: [UInt8] = []
        for mark in marks {
            var w: [UInt8] = [0x0A]                      // conversation, field 1
            Varint.append(UInt64(mark.conversation.utf8.count), to: &w)
            w += Array(mark.conversation.utf8)
            w.append(0x10)                               // delivered_seq, field 2
            Varint.append(mark.deliveredSeq, to: &w)
            body.append(0x0A)                            // watermarks, field 1 of delivered
            Varint.append(UInt64(w.count), to: &body)
            body += w
        }
        var frame: [UInt8] = [0x08, UInt8(Frame.wireVersion), 0x82, 0x01]   // version; delivered is field 16
        Varint.append(UInt64(body.count), to: &frame)
        frame += body
        var out: [UInt8] = []
        Varint.append(UInt64(frame.count), to: &out)
        return out + frame
    }

    /// The first frame `match` accepts (others are skipped).
    static func first(on client: RawClient, _ match: (Frame) -> Bool) throws -> Frame {
        try client.read { f -> Frame? in match(f) ? f : nil }
    }

    /// Asks for the first page of `conversation`: the sync response, or the error frame in its place.
    static func syncAnswer(on client: RawClient, _ conversation: String) throws -> Frame {
        try client.send(.syncRequest(SyncRequest(conversation: conversation, afterSeq: 0, limit: 100)))
        return try first(on: client) { if case .syncResponse = $0 { true } else if case .error = $0 { true } else { false } }
    }

    static func errorCode(_ frame: Frame) -> ErrorCode? {
        if case let .error(e) = frame { return e.code }
        return nil
    }

    /// The relay's answer to one send: its ack, its reject, or an error frame in their place.
    struct Verdict {
        let frame: Frame
        var isAck: Bool { if case .sendAck = frame { true } else { false } }
        var rejectCode: RejectCode? { if case let .sendReject(r) = frame { r.code } else { nil } }
    }

    static func verdict(on client: RawClient, for id: MessageID) throws -> Verdict {
        Verdict(frame: try first(on: client) { f in
            switch f {
            case let .sendAck(a): a.messageID == id
            case let .sendReject(r): r.messageID == id
            case .error: true
            default: false
            }
        })
    }

    static func conversationResult(on client: RawClient, request: UInt64) throws -> ConversationResult {
        try client.read { f -> ConversationResult? in
            if case let .conversationResult(r) = f, r.requestID == request { return r }
            if case let .error(e) = f { throw ErrorFrameReceived(e) }
            return nil
        }
    }

    // MARK: Connections

    /// The frames a connection gets until the relay closes it. `closed` is false when it was
    /// still open after a read timeout's worth of silence (make the client with a short one).
    static func framesUntilClose(_ client: RawClient) -> (frames: [Frame], closed: Bool, seconds: Double) {
        let start = Date()
        var frames: [Frame] = []
        while true {
            do {
                frames.append(try client.read())
            } catch RawClient.Failure.closed {
                return (frames, true, Date().timeIntervalSince(start))
            } catch {
                return (frames, false, Date().timeIntervalSince(start))
            }
        }
    }

    /// Reads until `count` frames that `counts` accepts have come, the relay closed the
    /// connection, the client's read timeout passed in silence, or `seconds` have passed.
    static func drain(_ client: RawClient, upTo count: Int, within seconds: Double = 5,
                      counting counts: (Frame) -> Bool = { _ in true }) -> (frames: [Frame], closed: Bool) {
        let deadline = Date().addingTimeInterval(seconds)
        var frames: [Frame] = []
        while frames.count < count && Date() < deadline {
            do {
                let f = try client.read()
                if counts(f) { frames.append(f) }
            } catch RawClient.Failure.closed {
                return (frames, true)
            } catch {
                return (frames, false)
            }
        }
        return (frames, false)
    }

    /// Waits (up to three seconds) until process `pid` holds at most `count` sockets.
    static func waitUntilSockets(of pid: Int32, atMost count: Int) {
        let deadline = Date().addingTimeInterval(3)
        while (openSockets(of: pid) ?? 0) > count && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
    }

    /// How many sockets process `pid` holds (listener and connections); nil once it has exited.
    static func openSockets(of pid: Int32) -> Int? {
        let dir = "/proc/\(pid)/fd"
        guard let fds = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return nil }
        return fds.filter { ((try? FileManager.default.destinationOfSymbolicLink(atPath: dir + "/" + $0)) ?? "").hasPrefix("socket:") }.count
    }
}
