import IMRCore
import NIOConcurrencyHelpers

/// Latency and progress counters shared by the demo's devices (each on its own event loop).
final class DemoMetrics: @unchecked Sendable {
    private let lock = NIOLock()
    private var sendTimes: [MessageID: UInt64] = [:]
    private var ackLatencies: [Double] = []
    private var deliveryLatencies: [Double] = []
    private var acked = Set<MessageID>()
    private(set) var sentCount = 0
    private(set) var deliveredCount = 0

    func sent(_ id: MessageID, at t: UInt64) {
        lock.withLock {
            sendTimes[id] = t
            sentCount += 1
        }
    }

    func acked(_ id: MessageID, at t: UInt64) {
        lock.withLock {
            guard acked.insert(id).inserted, let start = sendTimes[id] else { return }
            ackLatencies.append(Double(t &- start))
        }
    }

    /// A message arrived at a device other than its sender.
    func delivered(_ id: MessageID, at t: UInt64) {
        lock.withLock {
            deliveredCount += 1
            if let start = sendTimes[id] { deliveryLatencies.append(Double(t &- start)) }
        }
    }

    var progress: (sent: Int, acked: Int, delivered: Int) {
        lock.withLock { (sentCount, acked.count, deliveredCount) }
    }

    var latencies: (ack: [Double], delivery: [Double]) {
        lock.withLock { (ackLatencies, deliveryLatencies) }
    }
}

/// The p-th percentile (0...100) by nearest rank; 0 for no samples.
func percentile(_ values: [Double], _ p: Double) -> Double {
    guard !values.isEmpty else { return 0 }
    let sorted = values.sorted()
    let rank = Int((p / 100 * Double(sorted.count)).rounded(.up)) - 1
    return sorted[min(max(rank, 0), sorted.count - 1)]
}
