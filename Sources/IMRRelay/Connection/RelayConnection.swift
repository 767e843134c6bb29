import IMRCore
import NIOCore

/// One TCP connection, seen from two threads. Its channel's event loop reads, splits the byte
/// stream into frames and writes; the engine thread owns the session. Each group of fields
/// below is touched by one of the two only, and they talk by posting inputs to the engine
/// (`RelayInbox`) and tasks to the loop; that is what makes `@unchecked Sendable` true.
final class RelayConnection: @unchecked Sendable {
    let channel: any Channel
    private let inbox: RelayInbox

    // MARK: Loop side (the channel's event loop)

    private var splitter: FrameSplitter
    private let maxFrameBytes: Int
    /// Before the engine has accepted its hello, a connection hands over one frame (the hello)
    /// and reads no further: nothing larger than a hello is buffered for an unknown peer.
    private var awaitingVerdict = false
    private var authenticated = false
    /// The engine parked this session's requests: stop reading so TCP pushes back.
    private var pausedByEngine = false
    private var failed = false

    // MARK: Engine side (the engine thread)

    var session: SessionID?
    /// Bytes handed to the channel and not yet written to its socket (`ServerEngine.setBacklog`).
    var backlog = 0
    /// Whether the loop has been told that the hello was accepted.
    var verdictSent = false
    /// Whether the loop has been told to stop reading.
    var readsPaused = false
    /// Frames of the current flush, written together by one task on the channel's loop.
    var staged: [ByteBuffer] = []
    var stagedBytes = 0
    var closeAfterStaged = false

    init(channel: any Channel, inbox: RelayInbox, maxFrameBytes: Int, maxHelloBytes: Int) {
        self.channel = channel
        self.inbox = inbox
        self.maxFrameBytes = maxFrameBytes
        splitter = FrameSplitter(maxFrameBytes: min(maxHelloBytes, maxFrameBytes))
    }

    var loop: any EventLoop { channel.eventLoop }

    // MARK: Loop side

    func received(_ buffer: ByteBuffer) {
        guard !failed else { return }
        buffer.withUnsafeReadableBytes { splitter.append($0) }
        splitBuffered()
    }

    /// Hands every complete frame to the engine, in one input.
    private func splitBuffered() {
        var frames: [[UInt8]] = []
        do {
            while !awaitingVerdict, let frame = try splitter.next() {
                frames.append(frame)
                if !authenticated {
                    awaitingVerdict = true
                    updateReading()
                }
            }
        } catch {
            failed = true
            if !frames.isEmpty { inbox.post(.frames(self, frames)) }
            inbox.post(.streamError(self, error))
            return
        }
        if !frames.isEmpty { inbox.post(.frames(self, frames)) }
    }

    /// The engine accepted the hello: frames up to the full limit, and reading again.
    func helloAccepted() {
        loop.preconditionInEventLoop()
        authenticated = true
        awaitingVerdict = false
        splitter.maxFrameBytes = maxFrameBytes
        updateReading()
        splitBuffered()
    }

    func setPausedByEngine(_ paused: Bool) {
        loop.preconditionInEventLoop()
        pausedByEngine = paused
        updateReading()
    }

    private func updateReading() {
        channel.setOption(ChannelOptions.autoRead, value: !awaitingVerdict && !pausedByEngine).whenFailure { _ in }
    }

    /// Writes one flush's frames; then reports them written, or closes the connection.
    func write(_ buffers: [ByteBuffer], bytes: Int, thenClose: Bool) {
        loop.preconditionInEventLoop()
        for buffer in buffers { channel.write(buffer, promise: nil) }
        // Writes complete in order: the empty write's completion means all before it are out.
        let flushed = channel.writeAndFlush(channel.allocator.buffer(capacity: 0))
        if thenClose {
            flushed.whenComplete { [channel] _ in channel.close(promise: nil) }
        } else if bytes > 0 {
            flushed.whenComplete { [self] _ in inbox.post(.written(self, bytes)) }
        }
    }
}
