import Foundation
import IMRCore
#if canImport(Glibc)
import Glibc
#endif

/// A blocking TCP client that speaks delimited frames: the simplest possible peer of the
/// relay, with none of the client engine's logic (tests see exactly what the server does).
final class RawClient {
    enum Failure: Error { case connect(Int32), closed, timeout, io(Int32) }

    private let fd: Int32
    private let codec = FrameCodec()
    private var splitter = FrameSplitter()

    init(port: Int, timeoutSeconds: Int = 5) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure.io(errno) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else { let e = errno; close(fd); throw Failure.connect(e) }
        var tv = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    }

    deinit { close(fd) }

    func send(_ frame: Frame) throws {
        var bytes: [UInt8] = []
        try codec.encodeDelimited(frame, appendingTo: &bytes)
        try sendRaw(bytes)
    }

    func sendRaw(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw Failure.io(errno)
            }
            offset += n
        }
    }

    /// The next frame; throws `closed` at EOF and `timeout` when nothing comes in time.
    func read() throws -> Frame {
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            if let bytes = try splitter.next() { return try codec.decode(bytes) }
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n == 0 { throw Failure.closed }
            if n < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN || errno == EWOULDBLOCK { throw Failure.timeout }
                if errno == ECONNRESET { throw Failure.closed }
                throw Failure.io(errno)
            }
            splitter.append(chunk[0..<n])
        }
    }

    /// Reads until `match` returns a value, skipping other frames (handed to `other`).
    func read<T>(until match: (Frame) throws -> T?, other: (Frame) -> Void = { _ in }) throws -> T {
        while true {
            let f = try read()
            if let v = try match(f) { return v }
            other(f)
        }
    }

    /// Raw bytes until the peer closes (for a peer that does not speak frames: HTTP).
    func readAllBytes() throws -> [UInt8] {
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n == 0 { return out }
            if n < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN || errno == EWOULDBLOCK { throw Failure.timeout }
                throw Failure.io(errno)
            }
            out += chunk[0..<n]
        }
    }

    /// Reads until EOF; returns the frames seen.
    func readToEnd() throws -> [Frame] {
        var frames: [Frame] = []
        while true {
            do { frames.append(try read()) } catch Failure.closed { return frames }
        }
    }

    func hello(token: String, node: UInt64) throws -> Welcome {
        try send(.hello(Hello(token: token, deviceNode: node)))
        return try read { f -> Welcome? in
            if case let .welcome(w) = f { return w }
            if case let .error(e) = f { throw ErrorFrameReceived(e) }
            return nil
        }
    }

    /// Syncs a conversation from `after` until has-more is false.
    func syncAll(_ conversation: String, after: UInt64 = 0, limit: UInt32 = 100) throws -> (messages: [StoredMessage], head: UInt64) {
        var cursor = after
        var all: [StoredMessage] = []
        while true {
            try send(.syncRequest(SyncRequest(conversation: conversation, afterSeq: cursor, limit: limit)))
            let r = try read { f -> SyncResponse? in if case let .syncResponse(r) = f { return r } else { return nil } }
            all += r.messages
            cursor = r.messages.last?.seq ?? cursor
            if !r.hasMore { return (all, r.headSeq) }
        }
    }
}

/// An error frame that arrived where a welcome was expected.
struct ErrorFrameReceived: Error, CustomStringConvertible {
    let frame: ErrorFrame
    init(_ frame: ErrorFrame) { self.frame = frame }
    var description: String { "error frame \(frame.code.rawValue): \(frame.detail)" }
}

extension Array where Element == Frame {
    /// The codes of the error frames among these frames.
    var errorCodes: [ErrorCode] { compactMap { if case let .error(e) = $0 { return e.code } else { return nil } } }
}
