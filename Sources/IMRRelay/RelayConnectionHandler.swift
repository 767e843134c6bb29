import IMRCore
import NIOCore

/// One TCP connection: splits the delimited byte stream into frames for the engine.
final class RelayConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let core: RelayCore
    private var session: SessionID?
    private var splitter: FrameSplitter
    private let limits: (hello: Int, frame: Int)

    init(core: RelayCore, maxFrameBytes: Int, maxHelloBytes: Int) {
        self.core = core
        limits = (min(maxHelloBytes, maxFrameBytes), maxFrameBytes)
        splitter = FrameSplitter(maxFrameBytes: limits.hello)
    }

    func channelActive(context: ChannelHandlerContext) {
        session = core.open(context.channel)
        if session == nil { context.close(promise: nil) }
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        guard let session else { return }
        buffer.withUnsafeReadableBytes { splitter.append($0) }
        core.receive(&splitter, from: session, limits: limits)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let session { core.closed(session) }
        session = nil
        context.fireChannelInactive()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if let session { core.writabilityChanged(session, writable: context.channel.isWritable) }
        context.fireChannelWritabilityChanged()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        core.logger.debug("connection error", metadata: ["error": "\(error)"])
        context.close(promise: nil)
    }
}
