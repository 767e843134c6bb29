import IMRCore
import IMRSimulation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// A TCP proxy that parses the delimited frames passing through it and drops, duplicates,
/// delays (and so reorders) them, and cuts connections at random — the demo's bad network.
final class FaultProxy: @unchecked Sendable {
    private let group: any EventLoopGroup
    private let targetHost: String
    private let targetPort: Int
    private let lock = NIOLock()
    private var faults: FaultModel
    private var rng: SeededGenerator
    private var serverChannel: (any Channel)?
    private var counters = Counters()

    struct Counters: Sendable {
        var frames = 0
        var dropped = 0
        var duplicated = 0
        var cuts = 0
    }

    init(group: any EventLoopGroup, targetHost: String, targetPort: Int, faults: FaultModel, seed: UInt64) {
        self.group = group
        self.targetHost = targetHost
        self.targetPort = targetPort
        self.faults = faults
        self.rng = SeededGenerator(seed: seed)
    }

    var stats: Counters { lock.withLock { counters } }

    /// Stops injecting faults (connections stay up, frames pass through with base latency).
    func heal() {
        lock.withLock { faults = FaultModel(latencyMs: faults.latencyMs) }
    }

    /// Starts listening on 127.0.0.1 and returns the bound port.
    func start() async throws -> Int {
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { inbound in
                let pair = ProxyPair(proxy: self)
                return inbound.eventLoop.makeCompletedFuture {
                    try inbound.pipeline.syncOperations.addHandler(FrameRelayHandler(pair: pair, side: .client))
                    pair.attachClient(inbound)
                }.flatMap { pair.connectUpstream(from: inbound) }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        serverChannel = channel
        return channel.localAddress?.port ?? 0
    }

    func stop() async {
        try? await serverChannel?.close()
    }

    fileprivate var upstreamHost: String { targetHost }
    fileprivate var upstreamPort: Int { targetPort }

    /// What happens to one frame: its delivery delays (none = dropped) and whether to cut after it.
    fileprivate func fate() -> (delays: [UInt64], cut: Bool) {
        lock.withLock {
            counters.frames += 1
            let delays = faults.deliveries(using: &rng)
            if delays.isEmpty { counters.dropped += 1 }
            if delays.count > 1 { counters.duplicated += 1 }
            let cut = faults.cutsConnection(using: &rng)
            if cut { counters.cuts += 1 }
            return (delays, cut)
        }
    }
}

/// One proxied connection: the client side and the upstream (relay) side, on one event loop.
private final class ProxyPair: @unchecked Sendable {
    enum Side { case client, upstream }
    let proxy: FaultProxy
    private var client: (any Channel)?
    private var upstream: (any Channel)?
    private var closed = false

    init(proxy: FaultProxy) { self.proxy = proxy }

    func attachClient(_ channel: any Channel) { client = channel }

    func connectUpstream(from inbound: any Channel) -> EventLoopFuture<Void> {
        ClientBootstrap(group: inbound.eventLoop)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(FrameRelayHandler(pair: self, side: .upstream))
                }
            }
            .connect(host: proxy.upstreamHost, port: proxy.upstreamPort)
            .map { channel in
                self.upstream = channel
                if self.closed { channel.close(promise: nil) }
            }
            .recover { _ in self.closeBoth() }
    }

    /// Forwards one frame (already delimited) from `side` to the other side, through the faults.
    func forward(_ frame: ByteBuffer, from side: Side, loop: any EventLoop) {
        let fate = proxy.fate()
        for delay in fate.delays {
            let deliver: @Sendable () -> Void = {
                guard !self.closed, let target = side == .client ? self.upstream : self.client else { return }
                target.writeAndFlush(frame, promise: nil)
            }
            if delay == 0 { deliver() } else { loop.scheduleTask(in: .milliseconds(Int64(delay))) { deliver() } }
        }
        if fate.cut { closeBoth() }
    }

    func closeBoth() {
        guard !closed else { return }
        closed = true
        client?.close(promise: nil)
        upstream?.close(promise: nil)
    }
}

/// Splits the incoming stream into frames and hands each to the pair.
private final class FrameRelayHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    private let pair: ProxyPair
    private let side: ProxyPair.Side
    private var splitter = FrameSplitter()

    init(pair: ProxyPair, side: ProxyPair.Side) {
        self.pair = pair
        self.side = side
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        buffer.withUnsafeReadableBytes { splitter.append($0) }
        do {
            while let frame = try splitter.next() {
                var out = context.channel.allocator.buffer(capacity: frame.count + 5)
                var prefix: [UInt8] = []
                Varint.append(UInt64(frame.count), to: &prefix)
                out.writeBytes(prefix)
                out.writeBytes(frame)
                pair.forward(out, from: side, loop: context.eventLoop)
            }
        } catch {
            pair.closeBoth()
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        pair.closeBoth()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        pair.closeBoth()
    }
}
