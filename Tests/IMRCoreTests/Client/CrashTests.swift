import Foundation
import Testing
@testable import IMRCore

/// SIGKILLs a child process (`imrctl client-crash-child`) that sends on a durable store, at
/// random points, and checks that reopening the store loses nothing `send` returned.
@Suite struct CrashTests {
    /// `imrctl` next to the test bundle (both are products of the same `swift build`), or `$IMRCTL`.
    static func imrctlPath() -> String? {
        if let explicit = ProcessInfo.processInfo.environment["IMRCTL"] { return explicit }
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        var dir = exe.deletingLastPathComponent()
        // On macOS the test binary sits inside an .xctest bundle.
        while dir.path.contains(".xctest") { dir = dir.deletingLastPathComponent() }
        let candidate = dir.appendingPathComponent("imrctl").path
        return FileManager.default.isExecutableFile(atPath: candidate) ? candidate : nil
    }

    /// Collects a pipe's bytes on a background thread, so the child never blocks on a full pipe.
    final class Collector: @unchecked Sendable {
        private let lock = NSLock()
        private var data = Data()
        private let done = DispatchSemaphore(value: 0)

        init(_ handle: FileHandle) {
            Thread.detachNewThread { [self] in
                while true {
                    let chunk = handle.availableData
                    if chunk.isEmpty { break }
                    lock.lock(); data.append(chunk); lock.unlock()
                }
                done.signal()
            }
        }

        var count: Int { lock.lock(); defer { lock.unlock() }; return data.count }

        func finish() -> Data {
            done.wait()
            lock.lock(); defer { lock.unlock() }
            return data
        }
    }

    @Test func sigkillAtRandomPointsLosesNothingSendReturned() throws {
        guard let imrctl = Self.imrctlPath() else {
            Issue.record("imrctl not found next to the test binary (run `swift build` first, or set IMRCTL)")
            return
        }
        let dir = TemporaryDirectory()
        let store = dir.file("crash.sqlite")
        var rng = SeededGenerator(seed: 2024)
        var printed: [MessageID] = []
        var kills = 0
        for run in 0..<24 {
            let child = Process()
            child.executableURL = URL(fileURLWithPath: imrctl)
            child.arguments = ["client-crash-child", "--store", store, "--seed", String(run + 1)]
            let pipe = Pipe()
            child.standardOutput = pipe
            child.standardError = FileHandle.nullDevice
            try child.run()
            let output = Collector(pipe.fileHandleForReading)
            // Let it get going (the first runs also create the file), then kill it at a random moment.
            let start = Date()
            while output.count == 0 && child.isRunning && Date().timeIntervalSince(start) < 10 { usleep(1_000) }
            usleep(useconds_t(rng.next() % 150_000))
            if child.isRunning {
                kill(child.processIdentifier, SIGKILL)
                kills += 1
            }
            child.waitUntilExit()
            let text = String(decoding: output.finish(), as: UTF8.self)
            // Only complete lines: the id was printed after `send` returned.
            let lines = text.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
            for line in lines {
                guard let id = Self.parse(String(line)) else {
                    Issue.record("unexpected output line \(line)")
                    continue
                }
                printed.append(id)
            }

            // Reopen and check everything printed so far, by every run.
            let engine = try ClientEngine(config: ClientConfig(nodeID: 42, token: "check", storePath: store))
            let pending = Set(engine.outbox().filter { $0.state == .sending }.map(\.id))
            var held: [MessageID: UInt64?] = [:]
            for c in engine.conversations {
                for e in engine.timeline(c)?.live ?? [] { held[e.messageID] = e.seq }
            }
            var missing = 0
            for id in printed {
                guard let seq = held[id] else { missing += 1; continue }
                // Unacked messages must still be in the outbox to be resent.
                if seq == nil && !pending.contains(id) { missing += 1 }
            }
            #expect(missing == 0, "run \(run): \(missing) of \(printed.count) returned ids lost")
        }
        #expect(kills >= 20)
        #expect(printed.count > 100)
    }

    static func parse(_ s: String) -> MessageID? {
        let hex = s.filter { $0 != "-" }
        guard hex.count == 32 else { return nil }
        var bytes: [UInt8] = []
        var i = hex.startIndex
        while i < hex.endIndex {
            let j = hex.index(i, offsetBy: 2)
            guard let b = UInt8(hex[i..<j], radix: 16) else { return nil }
            bytes.append(b)
            i = j
        }
        return MessageID(bytes: bytes)
    }
}
