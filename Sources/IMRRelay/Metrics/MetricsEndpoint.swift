import NIOCore
import NIOHTTP1
import NIOPosix
import Prometheus

/// A Prometheus scrape endpoint: `GET /metrics` answers the registry's metrics in the text
/// exposition format; anything else is 404. On its own event loop, apart from the relay's.
public final class MetricsEndpoint: @unchecked Sendable {
    public let registry: PrometheusCollectorRegistry
    private let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    private var channel: (any Channel)?

    public init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
    }

    /// Starts listening; returns the bound port (0 picks one).
    public func start(host: String, port: Int) async throws -> Int {
        let registry = self.registry
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(ScrapeHandler(registry: registry))
                }
            }
        let channel = try await bootstrap.bind(host: host, port: port).get()
        self.channel = channel
        return channel.localAddress?.port ?? port
    }

    public func stop() async throws {
        if let channel {
            self.channel = nil
            try? await channel.close()
        }
        try await group.shutdownGracefully()
    }
}

/// Answers one request per head: the metrics for GET /metrics, 404 otherwise.
private final class ScrapeHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let registry: PrometheusCollectorRegistry
    private var head: HTTPRequestHead?

    init(registry: PrometheusCollectorRegistry) { self.registry = registry }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case let .head(request):
            head = request
        case .body:
            break
        case .end:
            guard let request = head else { return }
            head = nil
            let found = request.method == .GET && request.uri.split(separator: "?").first == "/metrics"
            let body = found ? registry.emitToBuffer() : Array("not found\n".utf8)
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: found ? "text/plain; version=0.0.4" : "text/plain")
            headers.add(name: "Content-Length", value: String(body.count))
            let status: HTTPResponseStatus = found ? .ok : .notFound
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: request.version, status: status, headers: headers))),
                          promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: body)))), promise: nil)
            let keepAlive = request.isKeepAlive
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
                if !keepAlive { channel.close(promise: nil) }
            }
        }
    }
}
