import Dispatch
import IMRCore
import IMRRelay
import Logging

/// Runs async work to completion from synchronous code (bench suites are synchronous).
func runBlocking<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) throws -> T {
    let outcome = BlockingOutcome<T>()
    let done = DispatchSemaphore(value: 0)
    Task {
        do { outcome.result = .success(try await body()) } catch { outcome.result = .failure(error) }
        done.signal()
    }
    done.wait()
    return try outcome.result!.get()
}

/// Written before a semaphore is signalled and read after it is waited on.
private final class BlockingOutcome<T: Sendable>: @unchecked Sendable { var result: Result<T, any Error>? }

/// An in-process relay for the benches: SQLite at `databasePath` (synchronous=NORMAL), tokens
/// that are the user names, no send rate limit, one conversation. Returns it started, with its port.
func startBenchRelay(databasePath: String, conversation: String, members: [String], label: String) throws -> (relay: Relay, port: Int) {
    var options = RelayOptions(databasePath: databasePath, verifier: InsecureUserNameVerifier())
    options.durability = .processCrash
    options.server.rateLimit = nil
    options.conversations = [(conversation, members)]
    var logger = Logger(label: label)
    logger.logLevel = .error
    let relay = Relay(options: options, logger: logger)
    let port = try runBlocking { try await relay.start(host: "127.0.0.1", port: 0) }
    return (relay, port)
}
