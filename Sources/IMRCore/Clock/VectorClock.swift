/// How two vector clocks relate.
public enum CausalOrder: Sendable, Equatable {
    case before      // every entry <= the other's, and they differ: happened before
    case after
    case equal
    case concurrent
}

/// A sparse vector clock of one conversation: node -> counter, only for devices that
/// have sent there. Stored sorted by node, which is also the canonical wire form, so
/// merge and compare are a single linear walk.
///
/// Invariants (kept by every initialiser and mutation): entries sorted by node, strictly
/// increasing (no duplicate node), no zero counter. Two clocks are equal exactly when they
/// describe the same knowledge, so `==` and `hashValue` are the causal ones.
///
/// Cost: `compare` and `dominatesOrEquals` never allocate; `merge` does not either when the
/// other clock's nodes are a subset of this one's (the steady state of a conversation), and
/// a merge that adds nodes grows the array in place (amortised, like `append`). Clocks over
/// the same nodes (the common case) compare in one branch-free pass. Against a much
/// smaller clock, `merge` and `dominatesOrEquals` look its entries up (O(k log n)) instead
/// of walking both.
///
/// Limits: `init(entries:maxEntries:)` bounds a clock that comes from the wire. `merge` and
/// `increment` cannot fail; a caller that must keep a merged clock under a limit checks
/// `count` (or `validate(maxEntries:)`) after merging. Counters saturate at `UInt64.max`
/// rather than wrap, so a clock never goes backwards.
public struct VectorClock: Hashable, Sendable, CustomStringConvertible {
    public struct Entry: Hashable, Sendable, BitwiseCopyable {
        public var node: UInt64
        public var counter: UInt64
        public init(node: UInt64, counter: UInt64) {
            self.node = node
            self.counter = counter
        }
    }

    /// Sorted by node, no duplicates, no zero counters.
    public private(set) var entries: [Entry]

    public init() { entries = [] }

    /// Builds a canonical clock; throws on a duplicate node or more than `maxEntries`.
    /// Zero counters carry no information and are dropped.
    public init(entries raw: [Entry], maxEntries: Int = WireLimits.default.maxClockEntries) throws(WireError) {
        guard raw.count <= maxEntries else { throw .invalidClock(.tooManyEntries(raw.count, limit: maxEntries)) }
        var sorted = raw
        if !Self.isCanonical(sorted) {
            sorted.removeAll { $0.counter == 0 }
            sorted.sort { $0.node < $1.node }
            var i = 1
            while i < sorted.count {
                if sorted[i].node == sorted[i - 1].node { throw .invalidClock(.duplicateNode(sorted[i].node)) }
                i += 1
            }
        }
        entries = sorted
    }

    /// Trusted construction from entries already canonical (for stores that wrote them).
    init(canonicalEntries: [Entry]) {
        assert(Self.isCanonical(canonicalEntries))
        entries = canonicalEntries
    }

    /// Sorted strictly by node and free of zero counters.
    private static func isCanonical(_ e: [Entry]) -> Bool {
        e.withUnsafeBufferPointer { p in
            guard let first = p.first else { return true }
            if first.counter == 0 { return false }
            var i = 1
            while i < p.count {
                if p[i - 1].node >= p[i].node || p[i].counter == 0 { return false }
                i += 1
            }
            return true
        }
    }

    /// Throws when this clock has more than `maxEntries` entries (for example after merges).
    public func validate(maxEntries: Int = WireLimits.default.maxClockEntries) throws(WireError) {
        guard entries.count <= maxEntries else { throw .invalidClock(.tooManyEntries(entries.count, limit: maxEntries)) }
    }

    public var isEmpty: Bool { entries.isEmpty }
    public var count: Int { entries.count }

    /// The counter of `node`; 0 when the clock has no entry for it.
    public subscript(node: UInt64) -> UInt64 {
        withView { $0[node] }
    }

    /// `body` reads this clock through a view of its entries (valid only during the call).
    @inline(__always)
    func withView<R>(_ body: (VectorClockView) -> R) -> R {
        entries.withUnsafeBufferPointer { body(VectorClockView(entries: $0)) }
    }

    /// `withView(_:)` through a mutating access that changes nothing: a clock stored in a
    /// class is then read in place, where a borrow of it costs a retain and a release of its
    /// storage (two atomic operations). The storage must be uniquely held, or it is copied.
    @inline(__always)
    mutating func withViewInPlace<R>(_ body: (VectorClockView) -> R) -> R {
        entries.withUnsafeMutableBufferPointer { body(VectorClockView(entries: UnsafeBufferPointer($0))) }
    }

    /// The nodes this clock names, in canonical (ascending) order.
    public var nodes: some Collection<UInt64> { entries.lazy.map(\.node) }

    /// The first index at or after `start` whose node is >= `node`. Branch-free (the
    /// comparisons of a search are unpredictable; a conditional move is not).
    @inline(__always)
    static func lowerBound(_ p: UnsafeBufferPointer<Entry>, _ node: UInt64, from start: Int = 0) -> Int {
        var base = start, length = p.count - start
        if length <= 0 { return start }
        while length > 1 {
            let half = length &>> 1
            base = p[base &+ half].node < node ? base &+ half : base
            length -= half
        }
        return base &+ (p[base].node < node ? 1 : 0)
    }

    /// Increments `node`'s entry (inserting it at 1) and returns the new counter.
    /// Saturates at `UInt64.max` (a clock never wraps backwards).
    @discardableResult
    public mutating func increment(_ node: UInt64) -> UInt64 {
        let i = entries.withUnsafeBufferPointer { Self.lowerBound($0, node) }
        if i < entries.count && entries[i].node == node {
            if entries[i].counter != .max { entries[i].counter += 1 }
            return entries[i].counter
        }
        entries.insert(Entry(node: node, counter: 1), at: i)
        return 1
    }

    // MARK: Merge

    /// Entry-wise maximum.
    public mutating func merge(_ other: VectorClock) {
        _ = mergeReportingIncrease(other)
    }

    public func merged(with other: VectorClock) -> VectorClock {
        var copy = self
        copy.merge(other)
        return copy
    }

    /// Entry-wise maximum; returns by how much the causal depth grew (exactly, as a
    /// 128-bit quantity split in two words), so a caller learns whether `other` told it
    /// anything new without a second walk. `(0, 0)` means `other` was already known.
    @discardableResult
    public mutating func mergeReportingIncrease(_ other: VectorClock) -> CausalDepth {
        let m = other.entries.count
        if m == 0 { return .zero }
        let n = entries.count
        if n == 0 { entries = other.entries; return other.exactCausalDepth }

        var increase = CausalDepth.zero
        var missing = 0
        // Pass 1, in place: raise the counters of the nodes both clocks name and count the
        // nodes only `other` names. Small `other`: look each entry up; else walk both.
        let lookup = m <= 8 || m &* Self.log2(n) < n
        other.entries.withUnsafeBufferPointer { b in
            entries.withUnsafeMutableBufferPointer { a in
                if lookup {
                    var lo = 0
                    for e in b {
                        lo = Self.lowerBound(UnsafeBufferPointer(a), e.node, from: lo)
                        if lo < n && a[lo].node == e.node {
                            if e.counter > a[lo].counter {
                                increase.add(e.counter - a[lo].counter)
                                a[lo].counter = e.counter
                            }
                        } else {
                            missing += 1
                        }
                    }
                } else {
                    var i = 0, j = 0
                    // Fast path: the same nodes in step (branch-free maximum).
                    let common = min(n, m)
                    while i < common && a[i].node == b[i].node {
                        let ac = a[i].counter, mx = max(ac, b[i].counter)
                        increase.add(mx &- ac)
                        a[i].counter = mx
                        i += 1
                    }
                    j = i
                    while i < n && j < m {
                        let an = a[i].node, bn = b[j].node
                        if an == bn {
                            let bc = b[j].counter
                            if bc > a[i].counter {
                                increase.add(bc - a[i].counter)
                                a[i].counter = bc
                            }
                            i += 1; j += 1
                        } else if an < bn {
                            i += 1
                        } else {
                            missing += 1; j += 1
                        }
                    }
                    missing += m - j
                }
            }
        }
        if missing == 0 { return increase }

        // Pass 2: grow by the missing nodes and merge from the back, in place. The shared
        // nodes already hold the maximum, so on a tie this clock's entry wins.
        entries.append(contentsOf: repeatElement(Entry(node: 0, counter: 0), count: missing))
        other.entries.withUnsafeBufferPointer { b in
            entries.withUnsafeMutableBufferPointer { a in
                var i = n - 1, j = m - 1, k = n + missing - 1
                while j >= 0 {
                    if i >= 0 && a[i].node >= b[j].node {
                        if a[i].node == b[j].node { j -= 1 }
                        a[k] = a[i]; i -= 1
                    } else {
                        a[k] = b[j]; increase.add(b[j].counter); j -= 1
                    }
                    k -= 1
                }
            }
        }
        return increase
    }

    @inline(__always)
    private static func log2(_ n: Int) -> Int { Int.bitWidth - n.leadingZeroBitCount }

    // MARK: Compare

    /// Compares entry-wise: `.before` means self happened before `other`.
    public func compare(_ other: VectorClock) -> CausalOrder {
        entries.withUnsafeBufferPointer { a in
            other.entries.withUnsafeBufferPointer { b in Self.compare(a, b) }
        }
    }

    /// `compare(_:)` of two clocks' entries in canonical order (read in place from a store).
    static func compare(_ a: UnsafeBufferPointer<Entry>, _ b: UnsafeBufferPointer<Entry>) -> CausalOrder {
        let n = a.count, m = b.count
        // A clock naming a node the other lacks is greater there (the other is 0). With more
        // entries, a clock names at least one node the other lacks.
        var less = n < m, greater = n > m
        var i = 0
        // Fast path: the same node sequence (the steady state of a conversation). The
        // counter comparisons are unpredictable: accumulate them without branching.
        var lt: UInt8 = less ? 1 : 0, gt: UInt8 = greater ? 1 : 0
        let common = min(n, m)
        while i < common {
            let x = a[i], y = b[i]
            if x.node != y.node { break }
            lt |= x.counter < y.counter ? 1 : 0
            gt |= x.counter > y.counter ? 1 : 0
            i += 1
            if lt & gt != 0 { return .concurrent }
        }
        less = lt != 0; greater = gt != 0
        if i == n && i == m { return order(less: less, greater: greater) }
        // General walk from the first divergence (the flags so far stay true facts).
        var j = i
        while i < n && j < m {
            let an = a[i].node, bn = b[j].node
            if an == bn {
                let x = a[i].counter, y = b[j].counter
                if x < y { less = true } else if x > y { greater = true }
                i += 1; j += 1
            } else if an < bn {
                greater = true; i += 1      // other lacks this node
            } else {
                less = true; j += 1
            }
            if less && greater { return .concurrent }
        }
        if i < n { greater = true }
        if j < m { less = true }
        return order(less: less, greater: greater)
    }

    @inline(__always)
    private static func order(less: Bool, greater: Bool) -> CausalOrder {
        switch (less, greater) {
        case (false, false): return .equal
        case (true, false): return .before
        case (false, true): return .after
        case (true, true): return .concurrent
        }
    }

    public func happenedBefore(_ other: VectorClock) -> Bool { compare(other) == .before }

    /// True when every entry of `other` is <= this clock's: `other` happened before this
    /// clock or equals it (this clock "has seen" everything `other` has). Allocation-free;
    /// a small `other` is looked up entry by entry.
    public func dominatesOrEquals(_ other: VectorClock) -> Bool {
        let n = entries.count, m = other.entries.count
        if m > n { return false }      // other names a node this clock lacks
        if m == 0 { return true }
        return entries.withUnsafeBufferPointer { a in
            other.entries.withUnsafeBufferPointer { b in
                if m <= 8 || m &* Self.log2(n) < n {
                    var lo = 0
                    for e in b {
                        lo = Self.lowerBound(a, e.node, from: lo)
                        if lo == n || a[lo].node != e.node || a[lo].counter < e.counter { return false }
                    }
                    return true
                }
                var i = 0
                for e in b {
                    while i < n && a[i].node < e.node { i += 1 }
                    if i == n || a[i].node != e.node || a[i].counter < e.counter { return false }
                    i += 1
                }
                return true
            }
        }
    }

    /// Whether this clock may be the clock of `sender`'s next message after one stamped
    /// `previous`: it knows everything `previous` knew, and `sender`'s own counter moved
    /// forward. A clock that goes backwards for any node fails this check.
    public func isMonotonicSuccessor(of previous: VectorClock, sender: UInt64) -> Bool {
        self[sender] > previous[sender] && dominatesOrEquals(previous)
    }

    /// The first entry of `previous` for which this clock is lower (it "went backwards"
    /// there), or nil when this clock dominates or equals `previous`.
    public func firstRegression(from previous: VectorClock) -> Entry? {
        for e in previous.entries where self[e.node] < e.counter {
            return Entry(node: e.node, counter: self[e.node])
        }
        return nil
    }

    // MARK: Depth

    /// The sum of the entries (saturating): A before B implies depth(A) < depth(B) (as long
    /// as the sum does not saturate; `exactCausalDepth` never does).
    public var causalDepth: UInt64 {
        let d = exactCausalDepth
        return d.high == 0 ? d.low : .max
    }

    /// The exact sum of the entries, without saturation.
    public var exactCausalDepth: CausalDepth {
        withView(\.exactCausalDepth)
    }

    public var description: String {
        "{" + entries.map { "\(String($0.node, radix: 16)):\($0.counter)" }.joined(separator: ",") + "}"
    }
}

/// The exact causal depth of a clock (the sum of its counters), 128 bits wide so that it
/// never saturates: A happened before B implies depth(A) < depth(B), always.
public struct CausalDepth: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var high: UInt64
    public var low: UInt64

    public init(high: UInt64 = 0, low: UInt64) {
        self.high = high
        self.low = low
    }

    public static let zero = CausalDepth(high: 0, low: 0)

    @inline(__always)
    public mutating func add(_ value: UInt64) {
        let (s, carry) = low.addingReportingOverflow(value)
        low = s
        if carry { high &+= 1 }
    }

    @inline(__always)
    public mutating func add(_ value: CausalDepth) {
        add(value.low)
        high &+= value.high
    }

    @inline(__always)
    public static func < (lhs: CausalDepth, rhs: CausalDepth) -> Bool {
        lhs.high != rhs.high ? lhs.high < rhs.high : lhs.low < rhs.low
    }

    public var description: String { high == 0 ? "\(low)" : "\(high)·2^64+\(low)" }
}
