import Testing
@testable import IMRCore

/// A reference vector clock: a plain dictionary, obviously correct.
private typealias RefClock = [UInt64: UInt64]

private func ref(_ c: VectorClock) -> RefClock {
    var d: RefClock = [:]
    for e in c.entries { d[e.node] = e.counter }
    return d
}

private func clock(_ d: RefClock) -> VectorClock {
    try! VectorClock(entries: d.map { .init(node: $0.key, counter: $0.value) }, maxEntries: .max)
}

private func refCompare(_ a: RefClock, _ b: RefClock) -> CausalOrder {
    var less = false, greater = false
    for n in Set(a.keys).union(b.keys) {
        let x = a[n] ?? 0, y = b[n] ?? 0
        if x < y { less = true }
        if x > y { greater = true }
    }
    switch (less, greater) {
    case (false, false): return .equal
    case (true, false): return .before
    case (false, true): return .after
    case (true, true): return .concurrent
    }
}

/// Random clocks over a small universe of random node ids, so that clocks overlap, nest
/// and are often comparable. `size` bounds the number of entries.
private struct ClockFactory {
    var rng: SeededGenerator
    let universe: [UInt64]

    init(seed: UInt64, universeSize: Int = 12) {
        rng = SeededGenerator(seed: seed)
        var u: Set<UInt64> = []
        while u.count < universeSize { u.insert(rng.next()) }
        universe = Array(u).sorted()
    }

    mutating func make(size: Int? = nil, maxCounter: UInt64 = 4) -> VectorClock {
        let n = size ?? Int.random(in: 0...universe.count, using: &rng)
        var d: RefClock = [:]
        for node in universe.shuffled(using: &rng).prefix(n) {
            d[node] = UInt64.random(in: 1...maxCounter, using: &rng)
        }
        return clock(d)
    }

    /// A clock that is `base` raised at a few nodes (so `base` happened before it, or equals it).
    mutating func raise(_ base: VectorClock) -> VectorClock {
        var c = base
        for _ in 0..<Int.random(in: 0...3, using: &rng) {
            let node = universe.randomElement(using: &rng)!
            for _ in 0..<Int.random(in: 1...2, using: &rng) { c.increment(node) }
        }
        return c
    }
}

@Suite struct VectorClockTests {
    // MARK: Canonical form and limits

    @Test func canonicalFormSortsDropsZerosAndRejectsDuplicates() throws {
        let c = try VectorClock(entries: [.init(node: 9, counter: 1), .init(node: 2, counter: 0), .init(node: 3, counter: 7)])
        #expect(c.entries == [.init(node: 3, counter: 7), .init(node: 9, counter: 1)])
        #expect(c[2] == 0 && c[3] == 7 && c[9] == 1 && c[4] == 0)
        #expect(c.count == 2 && !c.isEmpty)
        #expect(Array(c.nodes) == [3, 9])
        #expect(throws: WireError.invalidClock(.duplicateNode(5))) {
            try VectorClock(entries: [.init(node: 5, counter: 1), .init(node: 1, counter: 1), .init(node: 5, counter: 2)])
        }
        // A zero-counter duplicate carries no information and is not a conflict.
        #expect(try VectorClock(entries: [.init(node: 5, counter: 0), .init(node: 5, counter: 2)]).entries == [.init(node: 5, counter: 2)])
        #expect(throws: WireError.invalidClock(.tooManyEntries(3, limit: 2))) {
            try VectorClock(entries: [.init(node: 1, counter: 1), .init(node: 2, counter: 1), .init(node: 3, counter: 1)], maxEntries: 2)
        }
        #expect(VectorClock().isEmpty && VectorClock().causalDepth == 0)
        #expect(throws: WireError.invalidClock(.tooManyEntries(3, limit: 2))) { try c.merged(with: clock([1: 1])).validate(maxEntries: 2) }
        try c.validate(maxEntries: 2)
    }

    @Test func canonicalFormIsOrderIndependent() throws {
        var rng = SeededGenerator(seed: 7)
        for _ in 0..<300 {
            var raw: [VectorClock.Entry] = []
            var nodes: Set<UInt64> = []
            for _ in 0..<Int.random(in: 0...20, using: &rng) {
                let n = rng.next() % 64
                if nodes.insert(n).inserted { raw.append(.init(node: n, counter: rng.next() % 4)) }
            }
            let a = try VectorClock(entries: raw), b = try VectorClock(entries: raw.shuffled(using: &rng))
            #expect(a == b && a.hashValue == b.hashValue)
            #expect(a.entries.map(\.node) == a.entries.map(\.node).sorted())
            #expect(a.entries.allSatisfy { $0.counter > 0 })
            #expect(ref(a) == Dictionary(uniqueKeysWithValues: raw.filter { $0.counter > 0 }.map { ($0.node, $0.counter) }))
        }
    }

    @Test func incrementInsertsCountsAndSaturates() throws {
        var c = VectorClock()
        #expect(c.increment(5) == 1)
        #expect(c.increment(2) == 1)
        #expect(c.increment(5) == 2)
        #expect(c.entries == [.init(node: 2, counter: 1), .init(node: 5, counter: 2)])
        var top = try VectorClock(entries: [.init(node: 1, counter: .max)])
        #expect(top.increment(1) == .max)
        #expect(top[1] == .max)
    }

    // MARK: Merge laws

    @Test func mergeIsCommutativeAssociativeIdempotentAndEntryWiseMax() {
        for seed in 0..<1500 as Range<UInt64> {
            var f = ClockFactory(seed: seed)
            let a = f.make(), b = f.make(), c = f.make()
            #expect(a.merged(with: b) == b.merged(with: a))
            #expect(a.merged(with: b).merged(with: c) == a.merged(with: b.merged(with: c)))
            #expect(a.merged(with: a) == a)
            #expect(a.merged(with: VectorClock()) == a && VectorClock().merged(with: a) == a)
            var expected = ref(a)
            for (n, v) in ref(b) { expected[n] = max(expected[n] ?? 0, v) }
            #expect(ref(a.merged(with: b)) == expected)
        }
    }

    @Test func mergeOfSmallIntoLargeClocksMatchesTheReference() {
        // Exercises the look-up path (small other), the in-place path (subset) and the
        // grow-from-the-back path (new nodes), against the dictionary reference.
        for seed in 0..<120 as Range<UInt64> {
            var f = ClockFactory(seed: seed, universeSize: 300)
            let big = f.make(size: Int.random(in: 50...300, using: &f.rng), maxCounter: 50)
            let small = f.make(size: Int.random(in: 0...12, using: &f.rng), maxCounter: 50)
            let subset = clock(Dictionary(uniqueKeysWithValues: big.entries.shuffled(using: &f.rng).prefix(5).map { ($0.node, $0.counter + 1) }))
            for other in [small, subset, big] {
                var m = big
                let increase = m.mergeReportingIncrease(other)
                var expected = ref(big)
                for (n, v) in ref(other) { expected[n] = max(expected[n] ?? 0, v) }
                #expect(ref(m) == expected)
                #expect(m.entries.map(\.node) == m.entries.map(\.node).sorted())
                #expect(increase == CausalDepth(low: m.causalDepth - big.causalDepth))
                #expect(other.merged(with: big) == m)
            }
        }
    }

    // MARK: Compare laws

    @Test func compareAgreesWithMergeAndTheReference() {
        for seed in 0..<2000 as Range<UInt64> {
            var f = ClockFactory(seed: seed)
            let a = f.make()
            // Half the pairs are related by construction, so every relation is exercised.
            let b = seed % 2 == 0 ? f.make() : f.raise(a)
            for (x, y) in [(a, b), (b, a)] {
                let order = x.compare(y)
                #expect(order == refCompare(ref(x), ref(y)))
                let m = x.merged(with: y)
                #expect((order == .equal) == (x == y))
                #expect((order == .before) == (m == y && x != y))
                #expect((order == .after) == (m == x && x != y))
                #expect((order == .concurrent) == (m != x && m != y))
                #expect(x.happenedBefore(y) == (order == .before))
                #expect(x.dominatesOrEquals(y) == (order == .after || order == .equal))
                #expect((x.firstRegression(from: y) == nil) == x.dominatesOrEquals(y))
                let mirror: CausalOrder = switch order {
                case .before: .after
                case .after: .before
                case .equal: .equal
                case .concurrent: .concurrent
                }
                #expect(y.compare(x) == mirror)
            }
        }
    }

    @Test func compareOfLargeClocksMatchesTheReference() {
        for seed in 0..<80 as Range<UInt64> {
            var f = ClockFactory(seed: seed, universeSize: 200)
            let a = f.make(size: Int.random(in: 100...200, using: &f.rng), maxCounter: 30)
            for b in [f.raise(a), f.make(size: 150, maxCounter: 30), a, f.make(size: 3)] {
                #expect(a.compare(b) == refCompare(ref(a), ref(b)))
                #expect(b.compare(a) == refCompare(ref(b), ref(a)))
                #expect(a.dominatesOrEquals(b) == [.after, .equal].contains(refCompare(ref(a), ref(b))))
                #expect(b.dominatesOrEquals(a) == [.after, .equal].contains(refCompare(ref(b), ref(a))))
            }
        }
    }

    @Test func causalDepthStrictlyIncreasesAlongHappenedBefore() {
        for seed in 0..<1500 as Range<UInt64> {
            var f = ClockFactory(seed: seed)
            let a = f.make(), b = seed % 3 == 0 ? f.make() : f.raise(a)
            if a.happenedBefore(b) { #expect(a.causalDepth < b.causalDepth && a.exactCausalDepth < b.exactCausalDepth) }
            if b.happenedBefore(a) { #expect(b.causalDepth < a.causalDepth) }
            if a == b { #expect(a.causalDepth == b.causalDepth) }
        }
    }

    @Test func exactDepthDoesNotSaturate() throws {
        let c = try VectorClock(entries: [.init(node: 1, counter: .max), .init(node: 2, counter: 3)])
        #expect(c.causalDepth == .max)
        #expect(c.exactCausalDepth == CausalDepth(high: 1, low: 2))
        let d = try VectorClock(entries: [.init(node: 1, counter: .max), .init(node: 2, counter: 2)])
        #expect(d.happenedBefore(c) && d.exactCausalDepth < c.exactCausalDepth)
    }

    @Test func monotonicSuccessorDetectsAClockGoingBackwards() throws {
        let prev = try VectorClock(entries: [.init(node: 1, counter: 3), .init(node: 2, counter: 5)])
        var next = prev
        next.increment(1)
        #expect(next.isMonotonicSuccessor(of: prev, sender: 1))
        #expect(!prev.isMonotonicSuccessor(of: prev, sender: 1))             // own counter did not move
        let back = try VectorClock(entries: [.init(node: 1, counter: 4), .init(node: 2, counter: 4)])
        #expect(!back.isMonotonicSuccessor(of: prev, sender: 1))             // node 2 went backwards
        #expect(back.firstRegression(from: prev) == .init(node: 2, counter: 4))
        let dropped = try VectorClock(entries: [.init(node: 1, counter: 4)])
        #expect(dropped.firstRegression(from: prev) == .init(node: 2, counter: 0))
    }
}
