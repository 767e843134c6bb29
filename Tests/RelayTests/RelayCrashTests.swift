import Foundation
import IMRCore
import Testing
@testable import IMRRelay
@testable import imrctl

/// The relay over real TCP, as a separate process: several raw clients send, the relay is
/// SIGKILLed mid-stream and restarted on the same database. No acked message may be missing,
/// the log may have no seq holes, and every client catches up by sync.
@Suite(.serialized) struct RelayCrashTests {
    /// What the client threads saw, shared under a lock.
    final class Ledger: @unchecked Sendable {
        private let lock = NSLock()
        private var acked: [MessageID: UInt64] = [:]
        func ack(_ id: MessageID, _ seq: UInt64) { lock.lock(); acked[id] = seq; lock.unlock() }
        var count: Int { lock.lock(); defer { lock.unlock() }; return acked.count }
        var snapshot: [MessageID: UInt64] { lock.lock(); defer { lock.unlock() }; return acked }
    }

    /// SIGKILL, or SIGTERM (which drains: it stops reading, finishes the commit in flight,
    /// sends its acks and closes) mid-stream.
    @Test(.timeLimit(.minutes(2)), arguments: [false, true])
    func stoppedMidStreamLosesNoAckedMessageAndLeavesNoHoles(graceful: Bool) async throws {
        let dir = NSTemporaryDirectory() + "imr-relay-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let secretFile = dir + "/secret"
        try "relay-test-secret-0123456789abcdef\n".write(toFile: secretFile, atomically: true, encoding: .utf8)
        let authority = try TokenAuthority(secretFile: secretFile)
        let users = ["u0", "u1", "u2", "u3"]
        var minted: [String] = []
        for user in users { minted.append(try await authority.mint(user: user, ttlSeconds: 600)) }
        let tokens = minted
        let perClient = 300
        let args = ["--listen", "127.0.0.1:0", "--db", dir + "/relay.sqlite", "--secret-file", secretFile,
                    "--conversation", "general:" + users.joined(separator: ","), "--rate", "0",
                    "--durability", "normal", "--log-level", "warning"]
        let log = dir + "/relay.log"

        var rng = SeededGenerator(seed: 99)
        let ids: [[MessageID]] = users.map { _ in (0..<perClient).map { _ in MessageID.uuidV7(unixMilliseconds: currentUnixMilliseconds(), using: &rng) } }

        // Phase 1: every client pipelines its sends (window 16) until the relay dies under it.
        var relay = try RelayProcess(arguments: args, logFile: log)
        let ledger = Ledger()
        let done = DispatchGroup()
        for (c, user) in users.enumerated() {
            let token = tokens[c]
            let mine = ids[c]
            let port = relay.port
            done.enter()
            Thread.detachNewThread {
                defer { done.leave() }
                do {
                    let client = try RawClient(port: port)
                    _ = try client.hello(token: token, node: UInt64(c + 1))
                    var next = 0, inFlight = 0
                    while next < mine.count || inFlight > 0 {
                        while inFlight < 16 && next < mine.count {
                            try client.send(.send(Send(conversation: "general", messageID: mine[next], clock: VectorClock(),
                                                       payload: Array("\(user) #\(next)".utf8))))
                            next += 1; inFlight += 1
                        }
                        if case let .sendAck(a) = try client.read() { ledger.ack(a.messageID, a.seq); inFlight -= 1 }
                    }
                } catch {}   // the relay was killed: expected
            }
        }
        let deadline = Date().addingTimeInterval(30)
        while ledger.count < perClient * users.count / 4 && Date() < deadline { usleep(2_000) }
        if graceful {
            #expect(relay.terminate() == 0)
        } else {
            relay.kill9()
        }
        done.wait()
        let ackedBeforeCrash = ledger.snapshot
        #expect(ackedBeforeCrash.count >= perClient * users.count / 4)
        #expect(ackedBeforeCrash.count < perClient * users.count, "the kill must land mid-stream")

        // Phase 2: restart on the same file; every client resends everything it has not seen
        // acked (same ids), and the messages acked before the crash once more.
        relay = try RelayProcess(arguments: args, logFile: log)
        var clients: [RawClient] = []
        for (c, user) in users.enumerated() {
            let client = try RawClient(port: relay.port)
            let welcome = try client.hello(token: tokens[c], node: UInt64(c + 1))
            let head = try #require(welcome.conversations.first { $0.conversation == "general" }).headSeq
            #expect(head >= UInt64(ackedBeforeCrash.values.max() ?? 0), "the head after restart covers every acked seq")
            for (i, id) in ids[c].enumerated() {
                try client.send(.send(Send(conversation: "general", messageID: id, clock: VectorClock(), payload: Array("\(user) #\(i)".utf8))))
                let ack = try client.read { f -> SendAck? in if case let .sendAck(a) = f { return a } else { return nil } }
                #expect(ack.messageID == id)
                if let seq = ackedBeforeCrash[id] {
                    #expect(ack.duplicate, "acked before the crash: still stored")
                    #expect(ack.seq == seq, "acked before the crash: same seq")
                }
            }
            clients.append(client)
        }

        // Every client catches up by sync and sees the same hole-free log with every message once.
        let everyID = Set(ids.joined())
        var logs: [[MessageID]] = []
        for client in clients {
            let (messages, head) = try client.syncAll("general")
            #expect(head == UInt64(everyID.count))
            #expect(messages.map(\.seq) == Array(1...UInt64(everyID.count)), "no seq holes")
            #expect(Set(messages.map(\.messageID)) == everyID)
            for m in messages { if let seq = ackedBeforeCrash[m.messageID] { #expect(m.seq == seq) } }
            logs.append(messages.map(\.messageID))
        }
        #expect(Set(logs.map { $0.map(\.description).joined() }).count == 1, "every client sees the same log")

        // Graceful shutdown on SIGTERM: clients see the connection close, the relay exits 0.
        #expect(relay.terminate() == 0)
        _ = try clients[0].readToEnd()   // returns at EOF; a relay that did not close would time out
    }
}
