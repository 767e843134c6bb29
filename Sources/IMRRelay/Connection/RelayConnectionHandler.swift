import IMRCore
import Logging
import NIOCore

/// The channel handler of one connection: forwards reads and state changes to its
/// `RelayConnection` and the engine.
final class RelayConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let inbox: RelayInbox
    private let maxFrameBytes: Int
    private let maxHelloBytes: Int
    private let logger: Logger
    private var connection: RelayConnection?

    init(inbox: RelayInbox, maxFrameBytes: Int, maxHelloBytes: Int, logger: Logger) {
        self.inbox = inbox
        self.logger = logger
        self.maxFrameBytes = maxFrameBytes
        self.maxHelloBytes = maxHelloBytes
    }

    func channelActive(context: ChannelHandlerContext) {
        let connection = RelayConnection(channel: context.channel, inbox: inbox, maxFrameBytes: maxFrameBytes,
                                         maxHelloBytes: maxHelloBytes)
        self.connection = connection
        inbox.post(.opened(connection))
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        connection?.received(unwrapInboundIn(data))
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let connection { inbox.post(.closed(connection)) }
        connection = nil
        context.fireChannelInactive()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if let connection { inbox.post(.writability(connection, context.channel.isWritable)) }
        context.fireChannelWritabilityChanged()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        logger.debug("connection error", metadata: ["error": "\(error)"])
        context.close(promise: nil)
    }
}
