import Foundation
import Testing
@testable import IMRRelay
@testable import imrctl

/// `imrctl chat` against `imrctl relay`, both as child processes.
@Suite(.serialized) struct ChatProcessTests {
    /// Runs `imrctl chat` with `input` on stdin until it exits; returns its stdout and status.
    func chat(_ arguments: [String], input: String) throws -> (String, Int32) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: RelayProcess.binary)
        process.arguments = ["chat"] + arguments
        let stdin = Pipe(), stdout = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = FileHandle.nullDevice
        try process.run()
        stdin.fileHandleForWriting.write(Data(input.utf8))
        try stdin.fileHandleForWriting.close()
        let data = stdout.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (String(decoding: data, as: UTF8.self), process.terminationStatus)
    }

    @Test(.timeLimit(.minutes(1)))
    func linesAreSentWithTheirStateAndTheOtherSideCatchesUp() async throws {
        let dir = NSTemporaryDirectory() + "imr-chat-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let secretFile = dir + "/secret"
        try "chat-test-secret-0123456789abcdef\n".write(toFile: secretFile, atomically: true, encoding: .utf8)
        let authority = try TokenAuthority(secretFile: secretFile)
        let aliceToken = try await authority.mint(user: "alice", ttlSeconds: 60)
        let bobToken = try await authority.mint(user: "bob", ttlSeconds: 60)
        let relay = try RelayProcess(arguments: ["--listen", "127.0.0.1:0", "--db", dir + "/relay.sqlite", "--secret-file", secretFile,
                                                 "--conversation", "general:alice,bob", "--log-level", "warning"],
                                     logFile: dir + "/relay.log")
        let server = "127.0.0.1:\(relay.port)"

        let (alice, aliceStatus) = try chat(["--server", server, "--user", "alice", "--token", aliceToken],
                                            input: "hello bob\nhow are you?\n")
        #expect(aliceStatus == 0)
        #expect(alice.contains("[1] sending: hello bob"))
        #expect(alice.contains("[1] sent (#1)"))
        #expect(alice.contains("[2] sent (#2)"))

        let (bob, bobStatus) = try chat(["--server", server, "--user", "bob", "--token", bobToken],
                                        input: "")
        #expect(bobStatus == 0)
        #expect(bob.contains("#1 alice: hello bob"))
        #expect(bob.contains("#2 alice: how are you?"))

        let (eve, eveStatus) = try chat(["--server", server, "--user", "eve", "--token", "forged"], input: "")
        #expect(eveStatus != 0)
        #expect(eve.contains("refused"))
        #expect(relay.terminate() == 0)
    }
}
