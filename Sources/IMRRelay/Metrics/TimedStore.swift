import CoreMetrics
import Dispatch
import IMRCore

/// A server store that times its group commits and counts the appends each one makes
/// durable, for the relay's metrics; everything else goes straight to the store it wraps.
final class TimedStore: ForwardingServerStore {
    let inner: any ServerStore
    private let metrics: RelayMetrics
    private var appendsInBatch = 0

    init(_ inner: any ServerStore, metrics: RelayMetrics) {
        self.inner = inner
        self.metrics = metrics
    }

    func beginBatch() throws {
        appendsInBatch = 0
        try inner.beginBatch()
    }

    func commitBatch() throws {
        let started = DispatchTime.now().uptimeNanoseconds
        try inner.commitBatch()
        metrics.commitLatency.recordNanoseconds(Int64(clamping: DispatchTime.now().uptimeNanoseconds &- started))
        metrics.commitBatchSize.record(appendsInBatch)
        appendsInBatch = 0
    }

    func append(_ message: NewMessage) throws -> AppendOutcome {
        let outcome = try inner.append(message)
        if case .stored = outcome { appendsInBatch += 1 }
        return outcome
    }
}
