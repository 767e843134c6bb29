import Foundation
import IMRCore

/// A hostile client that writes a flood without reading a byte. The write runs on a thread of
/// its own because it blocks as soon as the relay stops reading, which is what a careful relay
/// does to such a client; the answers are read on the caller's thread meanwhile (`sendRaw`
/// touches only the socket, `read` only the splitter and codec).
final class SilentFlooder: @unchecked Sendable {
    private let client: RawClient
    private let written = DispatchSemaphore(value: 0)

    init(port: Int, user: String) throws {
        client = try RawClient(port: port, timeoutSeconds: 2)
        _ = try client.hello(token: user, node: 0xF100D)
    }

    /// Starts writing `bytes` in one go.
    func write(_ bytes: [UInt8]) {
        Thread.detachNewThread { [self] in
            _ = try? client.sendRaw(bytes)   // fails once the relay closes the connection
            written.signal()
        }
    }

    func waitUntilWritten(seconds: Double) -> Bool { written.wait(timeout: .now() + seconds) == .success }

    /// Reads the answers at last: until `count` have come, the relay closed the connection,
    /// two seconds passed in silence, or `seconds` in all.
    func drain(upTo count: Int, within seconds: Double) -> (frames: [Frame], closed: Bool) {
        HostileClientTests.drain(client, upTo: count, within: seconds)
    }
}
