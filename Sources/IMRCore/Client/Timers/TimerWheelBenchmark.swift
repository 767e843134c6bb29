/// A steady-state workload on the engine's timer wheel, for `imrctl bench` (not API).
@_spi(Benchmarks)
public struct TimerWheelBenchmark {
    private var wheel = TimerWheel()
    private var keys: [TimerWheel.Key] = []
    private var rng = SeededGenerator(seed: 99)
    private var fired: [UInt32] = []
    private var now: UInt64 = 1_000_000

    /// `count` timers armed 1-2 s ahead, as `count` messages in flight with 1-2 s ack timeouts.
    public init(count: Int) {
        wheel.expire(upTo: now, into: &fired)
        keys.reserveCapacity(count)
        for i in 0..<count {
            let key = wheel.makeKey(owner: UInt32(i))
            keys.append(key)
            wheel.arm(key, at: now + 1_000 + rng.next() % 1_000)
        }
    }

    /// Runs until `lifecycles` timers were armed and then fired or cancelled; returns ns per lifecycle.
    /// Each step advances time so that about `count / 1000` timers fall due (fired, re-armed 1-2 s
    /// ahead: retransmissions), and as many again are cancelled and re-armed (acks and new sends).
    public mutating func run(lifecycles: Int) -> Double {
        var done = 0
        let perStep = max(1, keys.count / 1_000)
        let start = Self.clock()
        while done < lifecycles {
            now += 1
            fired.removeAll(keepingCapacity: true)
            wheel.expire(upTo: now, into: &fired)
            for owner in fired {
                wheel.arm(keys[Int(owner)], at: now + 1_000 + rng.next() % 1_000)
            }
            for _ in 0..<perStep {
                let key = keys[Int(rng.next() % UInt64(keys.count))]
                wheel.cancel(key)
                wheel.arm(key, at: now + 1_000 + rng.next() % 1_000)
            }
            _ = wheel.nextDeadline()
            done += fired.count + perStep
        }
        return (Self.clock() - start) * 1e9 / Double(done)
    }

    private static func clock() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
