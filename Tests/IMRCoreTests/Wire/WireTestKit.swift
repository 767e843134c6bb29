import Foundation
@testable import IMRCore

/// Paths, files and external tools for the wire tests. Everything is namespaced here because
/// every part of the project shares the IMRCoreTests module.
enum WireTestKit {
    /// The repository root, found from this file's path (Tests/IMRCoreTests/Wire/…).
    static let root: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    static var vectors: URL { root.appendingPathComponent("Tests/Vectors") }
    static var malformed: URL { vectors.appendingPathComponent("malformed") }
    static var malformedStream: URL { vectors.appendingPathComponent("malformed-stream") }

    /// The names (without extension) of the `.bin` files in `folder`, sorted.
    static func vectorNames(in folder: URL) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: folder.path)
            .filter { $0.hasSuffix(".bin") }
            .map { String($0.dropLast(4)) }
            .sorted()
    }

    static func bytes(_ url: URL) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: url))
    }

    static func text(_ url: URL) throws -> String {
        String(decoding: try Data(contentsOf: url), as: UTF8.self)
    }

    /// Every golden vector: name and its `.bin` bytes.
    static func goldenVectors() throws -> [(name: String, bytes: [UInt8])] {
        try vectorNames(in: vectors).map { ($0, try bytes(vectors.appendingPathComponent($0 + ".bin"))) }
    }

    struct ToolResult {
        var status: Int32
        var stdout: Data
        var stderr: String
        var stdoutText: String { String(decoding: stdout, as: UTF8.self) }
    }

    struct ToolMissing: Error, CustomStringConvertible {
        var tool: String
        var description: String { "\(tool) is not installed: run `make deps` (or `make test`, which installs it)" }
    }

    /// The absolute path of `tool` on PATH, or nil.
    static func which(_ tool: String) -> String? {
        if tool.hasPrefix("/") { return FileManager.default.isExecutableFile(atPath: tool) ? tool : nil }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for dir in path.split(separator: ":") {
            let candidate = "\(dir)/\(tool)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// Runs `tool` with `arguments` in the repository root, feeding `stdin`.
    static func run(_ tool: String, _ arguments: [String], stdin: Data? = nil) throws -> ToolResult {
        guard let executable = which(tool) else { throw ToolMissing(tool: tool) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.currentDirectoryURL = root
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        let input = Pipe()
        process.standardInput = input
        try process.run()
        // Drain both pipes concurrently so neither fills up and blocks the tool.
        let group = DispatchGroup()
        nonisolated(unsafe) var errData = Data()
        DispatchQueue.global().async(group: group) { errData = err.fileHandleForReading.readDataToEndOfFile() }
        if let stdin { DispatchQueue.global().async(group: group) {
            input.fileHandleForWriting.write(stdin)
            try? input.fileHandleForWriting.close()
        } } else {
            try? input.fileHandleForWriting.close()
        }
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        process.waitUntilExit()
        return ToolResult(status: process.terminationStatus, stdout: outData, stderr: String(decoding: errData, as: UTF8.self))
    }

    /// The Python that has Debian's python3-protobuf: IMR_PYTHON, else /usr/bin/python3.
    static var python: String {
        ProcessInfo.processInfo.environment["IMR_PYTHON"] ?? "/usr/bin/python3"
    }

    /// A stable, language-neutral name of a wire error, as written in `Tests/Vectors/malformed*/NAME.error`.
    static func errorName(_ error: WireError) -> String {
        switch error {
        case .malformed: return "malformed"
        case let .frameTooLarge(n, limit): return "frameTooLarge(\(n), limit: \(limit))"
        case .missingBody: return "missingBody"
        case let .unsupportedVersion(v): return "unsupportedVersion(\(v))"
        case let .missingField(f): return "missingField(\(f))"
        case let .invalidMessageID(length): return "invalidMessageID(length: \(length))"
        case let .invalidIdentifier(field, problem):
            let p: String
            switch problem {
            case .empty: p = "empty"
            case let .tooLong(n, limit): p = "tooLong(\(n), limit: \(limit))"
            case .notUTF8: p = "notUTF8"
            case .containsNUL: p = "containsNUL"
            case .notNFC: p = "notNFC"
            }
            return "invalidIdentifier(\(field), \(p))"
        case let .payloadTooLarge(n, limit): return "payloadTooLarge(\(n), limit: \(limit))"
        case let .invalidClock(.duplicateNode(node)): return "invalidClock(duplicateNode(\(node)))"
        case let .invalidClock(.tooManyEntries(n, limit)): return "invalidClock(tooManyEntries(\(n), limit: \(limit)))"
        case let .invalidClock(.mismatchedLists(nodes, counters)): return "invalidClock(mismatchedLists(nodes: \(nodes), counters: \(counters)))"
        case .invalidClock(.entryMessages): return "invalidClock(entryMessages)"
        case let .tooManyItems(field, n, limit): return "tooManyItems(\(field), \(n), limit: \(limit))"
        case .malformedLength: return "malformedLength"
        case .streamFailed: return "streamFailed"
        }
    }
}
