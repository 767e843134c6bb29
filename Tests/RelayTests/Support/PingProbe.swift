import Foundation
import IMRCore

/// A well-behaved client beside an attack: it authenticates, then sends a ping every ~10 ms
/// over its own connection and times each round trip to the matching pong. All of a relay's
/// connections share one event loop, so a hostile frame that holds the loop shows up here as
/// a slow round trip.
final class PingProbe: @unchecked Sendable {
    /// What the probe measured.
    struct Samples: Sendable {
        /// Round trips in milliseconds, in the order they were taken.
        var roundTripsMs: [Double]
        /// Why the probe stopped before it was told to (a lost connection, a pong that never came).
        var failure: String?

        /// The first round trips warm up a new connection; they say nothing about the attack.
        static let warmUp = 3

        var measuredMs: ArraySlice<Double> { roundTripsMs.dropFirst(Self.warmUp) }
        var worstMs: Double { measuredMs.max() ?? 0 }
        var medianMs: Double {
            let sorted = measuredMs.sorted()
            return sorted.isEmpty ? 0 : sorted[sorted.count / 2]
        }
    }

    enum Failure: Error { case couldNotStart(String) }

    private let lock = NSLock()
    private var roundTrips: [Double] = []
    private var failure: String?
    private var startFailure: String?
    private var stopRequested = false
    private let finished = DispatchSemaphore(value: 0)

    /// Connects and authenticates as `user`; returns once the probe is pinging.
    init(port: Int, user: String = "probe", intervalMs: Int = 10) throws {
        let ready = DispatchSemaphore(value: 0)
        Thread.detachNewThread { [self] in run(port: port, user: user, intervalMs: intervalMs, ready: ready) }
        ready.wait()
        if let startFailure = locked({ startFailure }) { throw Failure.couldNotStart(startFailure) }
    }

    /// Blocks until the warm-up round trips are done (or `seconds` have passed).
    func waitForWarmUp(seconds: Double = 5) {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline, locked({ roundTrips.count <= Samples.warmUp && failure == nil }) { usleep(2_000) }
    }

    /// Blocks until `count` more round trips are done (or `seconds` have passed): the relay's
    /// answers just after an attack count too.
    func waitForMore(_ count: Int, seconds: Double = 5) {
        let target = locked { roundTrips.count } + count
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline, locked({ roundTrips.count < target && failure == nil }) { usleep(2_000) }
    }

    /// Stops pinging; the samples taken so far.
    func stop() -> Samples {
        locked { stopRequested = true }
        finished.wait()
        return locked { Samples(roundTripsMs: roundTrips, failure: failure) }
    }

    private func run(port: Int, user: String, intervalMs: Int, ready: DispatchSemaphore) {
        defer { finished.signal() }
        let client: RawClient
        do {
            client = try RawClient(port: port, timeoutSeconds: 5)
            _ = try client.hello(token: user, node: 0x9E0BE)
            // The first round trip is taken before `init` returns, so that a probe that cannot
            // get a pong fails at once rather than after the attack.
            try roundTrip(client, nonce: 0)
        } catch {
            locked { startFailure = "\(error)" }
            ready.signal()
            return
        }
        ready.signal()
        var nonce: UInt64 = 0
        while !locked({ stopRequested }) {
            usleep(UInt32(intervalMs * 1000))
            nonce += 1
            do {
                try roundTrip(client, nonce: nonce)
            } catch {
                locked { failure = "ping \(nonce): \(error)" }
                return
            }
        }
    }

    /// One ping and its pong (anything else the relay sends meanwhile is skipped), timed.
    private func roundTrip(_ client: RawClient, nonce: UInt64) throws {
        let start = DispatchTime.now().uptimeNanoseconds
        defer {
            let ms = Double(DispatchTime.now().uptimeNanoseconds - start) / 1_000_000
            locked { roundTrips.append(ms) }
        }
        try client.send(.ping(nonce: nonce))
        _ = try client.read { f -> Bool? in
            if case let .pong(n) = f, n == nonce { return true }
            return nil
        }
    }

    private func locked<T>(_ body: () -> T) -> T {
        lock.lock()
        defer { lock.unlock() }
        return body()
    }
}
