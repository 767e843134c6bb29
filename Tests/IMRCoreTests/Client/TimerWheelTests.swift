import Testing
@testable import IMRCore

@Suite struct TimerWheelTests {
    /// Random arms, re-arms, cancels and expiries against a plain dictionary model: every timer
    /// fires exactly at the first expiry at or after its deadline, never before, never twice,
    /// `nextDeadline` is never later than the true earliest deadline, and its memo always
    /// agrees with a fresh search.
    @Test(arguments: 0..<40) func matchesAReferenceModel(seed: UInt64) {
        var rng = SeededGenerator(seed: seed)
        var wheel = TimerWheel()
        var model: [UInt32: UInt64] = [:]   // owner -> deadline
        var keys: [UInt32] = []
        let start = rng.next() % (1 << 40)
        var now = start
        var sink: [UInt32] = []
        wheel.expire(upTo: now, into: &sink)
        for i in 0..<64 { keys.append(wheel.makeKey(owner: UInt32(i))) }
        for _ in 0..<2_000 {
            let k = Int(rng.next() % 64)
            switch rng.next() % 10 {
            case 0...4:
                let spans: [UInt64] = [0, 10, 300, 70_000, 20_000_000, 1 << 35]
                let d = now + rng.next() % (spans[Int(rng.next() % UInt64(spans.count))] + 1)
                wheel.arm(keys[k], at: d)
                model[UInt32(k)] = d
            case 5:
                wheel.cancel(keys[k])
                model[UInt32(k)] = nil
            default:
                if let lower = wheel.nextDeadline(), let truth = model.values.min() {
                    #expect(lower <= truth)
                    #expect(lower >= now || lower == wheel.current)
                } else {
                    #expect(wheel.nextDeadline() == nil && model.isEmpty)
                }
                let jumps: [UInt64] = [1, 50, 400, 100_000, 1 << 26]
                now += rng.next() % jumps[Int(rng.next() % UInt64(jumps.count))]
                if rng.next() % 4 == 0, let t = wheel.nextDeadline() { now = max(now, t) }
                var fired: [UInt32] = []
                wheel.expire(upTo: now, into: &fired)
                let due = Set(model.filter { $0.value <= now }.keys)
                #expect(Set(fired) == due)
                #expect(fired.count == due.count)
                for f in fired { model[f] = nil }
            }
            #expect(wheel.armedCount == model.count)
            // The memoised earliest deadline, kept up to date by arms and cancels, is what a search finds.
            #expect(wheel.nextDeadline() == wheel.searchedNextDeadline())
        }
    }

    @Test func equalDeadlinesFireInArmingOrder() {
        var wheel = TimerWheel()
        let keys = (0..<10).map { wheel.makeKey(owner: UInt32($0)) }
        for k in keys.reversed() where k % 2 == 0 { wheel.arm(k, at: 5_000) }
        for k in keys where k % 2 == 1 { wheel.arm(k, at: 5_000) }
        var fired: [UInt32] = []
        wheel.expire(upTo: 4_999, into: &fired)
        #expect(fired.isEmpty)
        wheel.expire(upTo: 5_000, into: &fired)
        #expect(fired == [8, 6, 4, 2, 0, 1, 3, 5, 7, 9])
        #expect(wheel.nextDeadline() == nil)
    }

    @Test func releasedKeysAreReused() {
        var wheel = TimerWheel()
        let a = wheel.makeKey(owner: 1)
        wheel.arm(a, at: 10)
        wheel.releaseKey(a)
        #expect(wheel.armedCount == 0)
        let b = wheel.makeKey(owner: 2)
        #expect(a == b)
        wheel.arm(b, at: 3)
        var fired: [UInt32] = []
        wheel.expire(upTo: 100, into: &fired)
        #expect(fired == [2])
    }

    /// A wheel is a value: a copy keeps its timers while the original arms, cancels and fires
    /// (its tables and records are shared until one of them changes).
    @Test func aCopyKeepsItsTimersWhileTheOriginalChanges() {
        var wheel = TimerWheel()
        let keys = (0..<4).map { wheel.makeKey(owner: UInt32($0)) }
        for (i, k) in keys.enumerated() { wheel.arm(k, at: UInt64(10 * (i + 1))) }
        var copy = wheel
        wheel.cancel(keys[0])
        wheel.arm(keys[1], at: 500)
        var firedOriginal: [UInt32] = []
        wheel.expire(upTo: 45, into: &firedOriginal)
        #expect(firedOriginal == [2, 3])
        var firedCopy: [UInt32] = []
        copy.expire(upTo: 45, into: &firedCopy)
        #expect(firedCopy == [0, 1, 2, 3])
        #expect(copy.armedCount == 0 && wheel.armedCount == 1)
        #expect(wheel.nextDeadline() == 500 && copy.nextDeadline() == nil)
    }
}
