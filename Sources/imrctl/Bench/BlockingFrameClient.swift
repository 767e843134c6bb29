import Foundation
import IMRCore
#if canImport(Glibc)
import Glibc
#endif

/// A blocking loopback TCP client speaking the delimited framing (a varint length, then
/// the frame): the benches' load clients, probers and flooders. Every blocking call is bounded
/// by a socket timeout, so a stalled relay cannot hang a bench.
final class BlockingFrameClient {
    enum Failure: Error, CustomStringConvertible {
        case connect(Int32), closed, timeout, io(Int32), refused(String)

        var description: String {
            switch self {
            case let .connect(e): "connect failed: \(String(cString: strerror(e)))"
            case .closed: "connection closed"
            case .timeout: "timed out"
            case let .io(e): "socket error: \(String(cString: strerror(e)))"
            case let .refused(detail): "refused: \(detail)"
            }
        }
    }

    private let fd: Int32
    private let codec = FrameCodec()
    private var splitter = FrameSplitter()
    private var chunk = [UInt8](repeating: 0, count: 64 << 10)

    private init(fd: Int32) { self.fd = fd }

    deinit { close(fd) }

    /// Connects to 127.0.0.1:`port`. `writeTimeout` bounds the connect and each blocked
    /// write, `readTimeout` each read. `resetOnClose` drops the connection with a reset
    /// instead of a close handshake (no TIME_WAIT left behind by connection floods).
    static func connect(port: Int, readTimeout: Double = 2, writeTimeout: Double = 2,
                        resetOnClose: Bool = false) throws -> BlockingFrameClient {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure.io(errno) }
        // Owned from here: the deinit closes it on every failure below.
        let client = BlockingFrameClient(fd: fd)
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        // On Linux the send timeout also bounds a blocking connect.
        client.setTimeout(SO_RCVTIMEO, readTimeout)
        client.setTimeout(SO_SNDTIMEO, writeTimeout)
        if resetOnClose {
            var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
            setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
        }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else { throw Failure.connect(errno) }
        return client
    }

    private func setTimeout(_ option: Int32, _ seconds: Double) {
        let whole = Int(seconds)
        var tv = timeval(tv_sec: whole, tv_usec: Int((seconds - Double(whole)) * 1e6))
        setsockopt(fd, SOL_SOCKET, option, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    func send(_ frame: Frame) throws {
        try send([frame])
    }

    /// Several frames in one write.
    func send(_ frames: [Frame]) throws {
        var bytes: [UInt8] = []
        for frame in frames { try codec.encodeDelimited(frame, appendingTo: &bytes) }
        try sendRaw(bytes)
    }

    /// Writes all of `bytes`. A write that stays blocked past the write timeout throws
    /// `timeout` unless `keepWaiting` says to go on; the stream is then mid-frame, so
    /// after a timeout the connection is only good for closing.
    func sendRaw(_ bytes: [UInt8], keepWaiting: () -> Bool = { false }) throws {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n >= 0 { offset += n; continue }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: if !keepWaiting() { throw Failure.timeout }
            case EPIPE, ECONNRESET: throw Failure.closed
            case let e: throw Failure.io(e)
            }
        }
    }

    /// The next frame; throws `closed` at the end of the stream and `timeout` when
    /// nothing complete arrives within the read timeout.
    func read() throws -> Frame {
        while true {
            if let bytes = try splitter.next() { return try codec.decode(bytes) }
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n == 0 { throw Failure.closed }
            if n < 0 {
                switch errno {
                case EINTR: continue
                case EAGAIN, EWOULDBLOCK: throw Failure.timeout
                case ECONNRESET: throw Failure.closed
                case let e: throw Failure.io(e)
                }
            }
            splitter.append(chunk[0..<n])
        }
    }

    /// Throws away whatever has arrived, without waiting: a flooder that reads its
    /// replies only so that it keeps being served. The bytes skip the frame splitter, so
    /// `read` is no use after this. Throws `closed` at the end of the stream.
    func discardArrived() throws {
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            if n > 0 { continue }
            if n == 0 { throw Failure.closed }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: return
            case ECONNRESET: throw Failure.closed
            case let e: throw Failure.io(e)
            }
        }
    }

    /// Authenticates; with the bench's verifier the token is the user name.
    func hello(user: String, node: UInt64) throws -> Welcome {
        try send(.hello(Hello(token: user, deviceNode: node)))
        while true {
            switch try read() {
            case let .welcome(welcome): return welcome
            case let .error(error): throw Failure.refused("error \(error.code.rawValue): \(error.detail)")
            default: continue
            }
        }
    }
}
