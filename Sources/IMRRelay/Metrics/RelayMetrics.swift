import CoreMetrics
import IMRCore

/// What the relay reports to a metrics backend (swift-metrics, so any backend; `imrctl relay
/// --metrics` serves them in Prometheus' text format). Counters follow the engine's
/// cumulative `ServerStats`: each drain adds what changed since the last one.
final class RelayMetrics {
    private let factory: any MetricsFactory
    private let connectionsAuthenticated: Gauge
    private let connectionsUnauthenticated: Gauge
    private let bytesQueued: Gauge
    private let sessionsOpened: Counter
    private let sendsAccepted: Counter
    private let duplicates: Counter
    private let pushes: Counter
    private let pushesDropped: Counter
    private let receipts: Counter
    private let syncs: Counter
    private let framesParked: Counter
    private let protocolViolations: Counter
    private let connectionsRefused: Counter
    private var refusedByCode: [UInt32: Counter] = [:]
    let commitLatency: Timer
    let commitBatchSize: Recorder
    private var last = ServerStats()

    init(factory: any MetricsFactory) {
        self.factory = factory
        connectionsAuthenticated = Gauge(label: "imr_connections", dimensions: [("state", "authenticated")], factory: factory)
        connectionsUnauthenticated = Gauge(label: "imr_connections", dimensions: [("state", "unauthenticated")], factory: factory)
        bytesQueued = Gauge(label: "imr_bytes_queued", dimensions: [], factory: factory)
        sessionsOpened = Counter(label: "imr_sessions_opened_total", dimensions: [], factory: factory)
        sendsAccepted = Counter(label: "imr_sends_accepted_total", dimensions: [], factory: factory)
        duplicates = Counter(label: "imr_sends_duplicate_total", dimensions: [], factory: factory)
        pushes = Counter(label: "imr_pushes_total", dimensions: [], factory: factory)
        pushesDropped = Counter(label: "imr_pushes_dropped_total", dimensions: [], factory: factory)
        receipts = Counter(label: "imr_receipts_total", dimensions: [], factory: factory)
        syncs = Counter(label: "imr_syncs_total", dimensions: [], factory: factory)
        framesParked = Counter(label: "imr_requests_waited_total", dimensions: [], factory: factory)
        protocolViolations = Counter(label: "imr_protocol_violations_total", dimensions: [], factory: factory)
        connectionsRefused = Counter(label: "imr_connections_refused_total", dimensions: [], factory: factory)
        commitLatency = Timer(label: "imr_store_commit_seconds", dimensions: [], preferredDisplayUnit: .seconds, factory: factory)
        commitBatchSize = Recorder(label: "imr_store_commit_batch_size", dimensions: [], aggregate: true, factory: factory)
    }

    /// After a drain: the engine's counters since the last one, and the gauges now.
    func update(_ stats: ServerStats, unauthenticated: Int, bytesQueued queued: Int) {
        connectionsAuthenticated.record(stats.sessionsAuthenticated)
        connectionsUnauthenticated.record(unauthenticated)
        bytesQueued.record(queued)
        func add(_ counter: Counter, _ now: Int, _ before: Int) { if now > before { counter.increment(by: now - before) } }
        add(sessionsOpened, stats.sessionsOpened, last.sessionsOpened)
        add(sendsAccepted, stats.accepted, last.accepted)
        add(duplicates, stats.duplicates, last.duplicates)
        add(pushes, stats.pushesQueued, last.pushesQueued)
        add(pushesDropped, stats.pushesDropped, last.pushesDropped)
        add(receipts, stats.receiptsQueued, last.receiptsQueued)
        add(syncs, stats.syncRequests, last.syncRequests)
        add(framesParked, stats.framesParked, last.framesParked)
        add(protocolViolations, stats.protocolViolations, last.protocolViolations)
        last = stats
    }

    /// A send refused with `code` (from the engine's events).
    func sendRefused(_ code: RejectCode) {
        let counter = refusedByCode[code.rawValue] ?? {
            let made = Counter(label: "imr_sends_refused_total", dimensions: [("code", Self.name(of: code))], factory: factory)
            refusedByCode[code.rawValue] = made
            return made
        }()
        counter.increment()
    }

    func connectionRefused() { connectionsRefused.increment() }

    static func name(of code: RejectCode) -> String {
        switch code {
        case .notMember: "not_member"
        case .unknownConversation: "unknown_conversation"
        case .payloadTooLarge: "payload_too_large"
        case .idConflict: "id_conflict"
        case .rateLimited: "rate_limited"
        case .invalid: "invalid"
        case .serverBusy: "server_busy"
        default: "code_\(code.rawValue)"
        }
    }
}
