import Foundation

/// A private PostgreSQL for tests (Debian's `postgresql`, installed by the Makefile): initdb
/// into a temporary folder, run as an unprivileged user when the tests run as root, on a free
/// port of 127.0.0.1; `stop()` ends it and removes the folder.
final class PostgresServer {
    enum Failure: Error, CustomStringConvertible {
        case missing(String)
        case failed(String, String)
        case notReady(String)
        var description: String {
            switch self {
            case let .missing(tool): "PostgreSQL's \(tool) is not installed (Debian: postgresql)"
            case let .failed(what, output): "\(what) failed: \(output)"
            case let .notReady(log): "PostgreSQL did not start: \(log)"
            }
        }
    }

    let port: Int
    let directory: String
    private let process: Process
    private let binaries: String

    /// Debian keeps the server's programs out of PATH, one folder per major version.
    static func binaries() -> String? {
        let root = "/usr/lib/postgresql"
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).compactMap(Int.init).sorted()
        if let newest = versions.last { return "\(root)/\(newest)/bin" }
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") where
            FileManager.default.isExecutableFile(atPath: "\(dir)/initdb") { return String(dir) }
        return nil
    }

    init() throws {
        guard let binaries = Self.binaries() else { throw Failure.missing("initdb") }
        self.binaries = binaries
        directory = NSTemporaryDirectory() + "imr-postgres-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        if getuid() == 0 {
            // PostgreSQL refuses to run as root.
            try Self.run("/bin/chown", ["nobody:nogroup", directory])
        }
        try Self.run(asUnprivileged: "\(binaries)/initdb",
                     ["-D", directory + "/data", "-U", "imr", "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync"])
        let (fd, free) = boundLoopbackSocket()
        close(fd)
        port = free
        process = Process()
        let (executable, arguments) = Self.unprivileged("\(binaries)/postgres", [
            "-D", directory + "/data", "-p", String(port), "-k", directory, "-c", "listen_addresses=127.0.0.1",
            "-c", "fsync=off", "-c", "max_connections=50",
        ])
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let log = FileHandle(forWritingAtPath: "/dev/null")
        process.standardOutput = log
        process.standardError = log
        try process.run()
        let deadline = Date().addingTimeInterval(20)
        while (try? Self.run("\(binaries)/pg_isready", ["-q", "-h", "127.0.0.1", "-p", String(port)])) == nil {
            guard Date() < deadline, process.isRunning else { stop(); throw Failure.notReady("port \(port)") }
            usleep(50_000)
        }
    }

    /// A new empty database; its URL for `PostgresServerStore(url:)`.
    func makeDatabase(_ name: String) throws -> String {
        try Self.run(asUnprivileged: "\(binaries)/psql",
                     ["-h", "127.0.0.1", "-p", String(port), "-U", "imr", "-d", "postgres", "-q", "-c", "CREATE DATABASE \(name)"])
        return "postgres://imr@127.0.0.1:\(port)/\(name)"
    }

    func stop() {
        if process.isRunning {
            // Fast shutdown, whoever is still connected (a signal to `runuser` would not reach it).
            try? Self.run(asUnprivileged: "\(binaries)/pg_ctl", ["-D", directory + "/data", "-m", "fast", "-w", "stop"])
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(atPath: directory)
    }

    deinit { stop() }

    // MARK: Helpers

    private static func unprivileged(_ executable: String, _ arguments: [String]) -> (String, [String]) {
        getuid() == 0 ? ("/usr/sbin/runuser", ["-u", "nobody", "--", executable] + arguments) : (executable, arguments)
    }

    private static func run(asUnprivileged executable: String, _ arguments: [String]) throws {
        let (path, args) = unprivileged(executable, arguments)
        try run(path, args)
    }

    private static func run(_ executable: String, _ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: "/")
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw Failure.failed(([executable] + arguments).joined(separator: " "), output)
        }
    }
}
