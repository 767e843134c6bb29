/// One sender's messages in a timeline, by the sender's own counter (its entry in the
/// message's clock), for the causal-context lookup.
///
/// A sender's counters in one conversation run 1, 2, 3, … (its device increments its own
/// entry per message there), so they are kept dense: the live index of counter `base + i`
/// at position i, 4 bytes a message, with holes for counters not held (yet). Counters far
/// apart (a gap wider than what is held, or a peer's odd clocks) or repeated switch the
/// sender to a sorted list of (counter, live) pairs, which any order of counters fits.
struct SenderMessages: Sendable {
    private static let hole = UInt32.max

    private struct Pair: Sendable {
        var counter: UInt64
        var live: UInt32
    }

    private enum Storage: Sendable {
        case dense(base: UInt64, lives: [UInt32])
        case sparse([Pair])
    }

    private var storage = Storage.dense(base: 0, lives: [])

    /// Records the message at live index `live` (below 2^32 - 1) with own counter `counter`.
    mutating func insert(counter: UInt64, live: Int) {
        let live = UInt32(live)
        switch storage {
        case .dense(let base, var lives):
            if lives.isEmpty {
                storage = .dense(base: counter, lives: [live])
                return
            }
            // Room for the gap a late or early counter opens: up to what is held, at least 64.
            let slack = UInt64(max(64, lives.count))
            if counter >= base {
                let offset = counter - base
                if offset < UInt64(lives.count) {
                    if lives[Int(offset)] == Self.hole {
                        storage = .sparse([])       // release the buffer while it changes (no copy)
                        lives[Int(offset)] = live
                        storage = .dense(base: base, lives: lives)
                        return
                    }
                } else if offset - UInt64(lives.count) <= slack {
                    storage = .sparse([])
                    // The next counter (nearly always): no holes to open.
                    if offset > UInt64(lives.count) {
                        lives.append(contentsOf: repeatElement(Self.hole, count: Int(offset) - lives.count))
                    }
                    lives.append(live)
                    storage = .dense(base: base, lives: lives)
                    return
                }
            } else if base - counter <= slack {
                storage = .sparse([])
                lives.insert(contentsOf: repeatElement(Self.hole, count: Int(base - counter) - 1), at: 0)
                lives.insert(live, at: 0)
                storage = .dense(base: counter, lives: lives)
                return
            }
            // A repeated counter or a wide jump: pairs from here on.
            var pairs: [Pair] = []
            pairs.reserveCapacity(lives.count + 1)
            for (i, l) in lives.enumerated() where l != Self.hole { pairs.append(Pair(counter: base + UInt64(i), live: l)) }
            storage = .sparse(pairs)
            insert(counter: counter, live: Int(live))
        case .sparse(var pairs):
            storage = .sparse([])
            // Nearly always in order: append.
            if let last = pairs.last, last.counter > counter {
                pairs.insert(Pair(counter: counter, live: live), at: Self.upperBound(pairs, counter))
            } else {
                pairs.append(Pair(counter: counter, live: live))
            }
            storage = .sparse(pairs)
        }
    }

    /// The held message with the greatest counter (the last inserted of equal ones); nil when none.
    var latest: (counter: UInt64, live: Int)? {
        switch storage {
        case .dense(let base, let lives):
            // The last element is never a hole: holes are only opened below a held counter.
            guard let last = lives.last else { return nil }
            return (base + UInt64(lives.count - 1), Int(last))
        case .sparse(let pairs):
            guard let last = pairs.last else { return nil }
            return (last.counter, Int(last.live))
        }
    }

    /// Calls `body` with the held messages whose counter is at most `bound`, greatest counter
    /// first, until it returns false.
    func forEachDescending(atMost bound: UInt64, _ body: (_ counter: UInt64, _ live: Int) -> Bool) {
        switch storage {
        case .dense(let base, let lives):
            guard bound >= base, !lives.isEmpty else { return }
            var i = Int(min(bound - base, UInt64(lives.count - 1)))
            while i >= 0 {
                if lives[i] != Self.hole && !body(base + UInt64(i), Int(lives[i])) { return }
                i -= 1
            }
        case .sparse(let pairs):
            var at = Self.upperBound(pairs, bound)
            while at > 0 {
                at -= 1
                if !body(pairs[at].counter, Int(pairs[at].live)) { return }
            }
        }
    }

    /// The first pair whose counter is > `counter`.
    private static func upperBound(_ pairs: [Pair], _ counter: UInt64) -> Int {
        pairs.withUnsafeBufferPointer { p in
            var lo = 0, hi = p.count
            while lo < hi {
                let mid = (lo + hi) &>> 1
                if p[mid].counter <= counter { lo = mid + 1 } else { hi = mid }
            }
            return lo
        }
    }
}
