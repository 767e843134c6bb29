import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// `imrctl relay` as a child process; the bound port is read from its stdout.
final class RelayProcess {
    let process = Process()
    let port: Int

    /// The imrctl next to the test bundle (both are products of the same build).
    static var binary: String {
        let candidates = [
            URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("imrctl").path,
            URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
                .appendingPathComponent(".build/debug/imrctl").path,
        ]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) } ?? candidates[1]
    }

    enum Failure: Error { case noPort(String) }

    init(arguments: [String], logFile: String) throws {
        process.executableURL = URL(fileURLWithPath: Self.binary)
        process.arguments = ["relay"] + arguments
        let out = Pipe()
        process.standardOutput = out
        if !FileManager.default.fileExists(atPath: logFile) { _ = FileManager.default.createFile(atPath: logFile, contents: nil) }
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logFile))
        log.seekToEndOfFile()
        process.standardError = log
        try process.run()
        var text = ""
        while !text.contains("\n") {
            let data = out.fileHandleForReading.availableData
            if data.isEmpty { break }
            text += String(decoding: data, as: UTF8.self)
        }
        guard let line = text.split(separator: "\n").first, let colon = line.lastIndex(of: ":"),
              let port = Int(line[line.index(after: colon)...]) else {
            process.terminate()
            throw Failure.noPort(text + (try String(contentsOfFile: logFile, encoding: .utf8)))
        }
        self.port = port
    }

    func kill9() {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// SIGTERM; the exit status once it has exited (nil if it did not within the time).
    func terminate(within seconds: Double = 10) -> Int32? {
        kill(process.processIdentifier, SIGTERM)
        let deadline = Date().addingTimeInterval(seconds)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        if process.isRunning { kill9(); return nil }
        return process.terminationStatus
    }

    deinit { if process.isRunning { kill9() } }
}
