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
public struct VectorClock: Hashable, Sendable, CustomStringConvertible {
    public struct Entry: Hashable, Sendable {
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
        var sorted = raw.filter { $0.counter != 0 }
        if !Self.isStrictlySorted(sorted) {
            sorted.sort { $0.node < $1.node }
            for i in sorted.indices.dropFirst() where sorted[i].node == sorted[i - 1].node {
                throw .invalidClock(.duplicateNode(sorted[i].node))
            }
        }
        entries = sorted
    }

    /// Trusted construction from entries already canonical (for stores that wrote them).
    init(canonicalEntries: [Entry]) { entries = canonicalEntries }

    private static func isStrictlySorted(_ e: [Entry]) -> Bool {
        var i = 1
        while i < e.count {
            if e[i - 1].node >= e[i].node { return false }
            i += 1
        }
        return true
    }

    public var isEmpty: Bool { entries.isEmpty }
    public var count: Int { entries.count }

    public subscript(node: UInt64) -> UInt64 {
        guard let i = index(of: node) else { return 0 }
        return entries[i].counter
    }

    private func index(of node: UInt64) -> Int? {
        var lo = 0, hi = entries.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if entries[mid].node < node { lo = mid + 1 } else { hi = mid }
        }
        return lo < entries.count && entries[lo].node == node ? lo : nil
    }

    /// Increments `node`'s entry (inserting it at 1) and returns the new counter.
    @discardableResult
    public mutating func increment(_ node: UInt64) -> UInt64 {
        var lo = 0, hi = entries.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if entries[mid].node < node { lo = mid + 1 } else { hi = mid }
        }
        if lo < entries.count && entries[lo].node == node {
            entries[lo].counter &+= 1
            return entries[lo].counter
        }
        entries.insert(Entry(node: node, counter: 1), at: lo)
        return 1
    }

    /// Entry-wise maximum.
    public mutating func merge(_ other: VectorClock) {
        if other.entries.isEmpty { return }
        if entries.isEmpty { entries = other.entries; return }
        var out: [Entry] = []
        out.reserveCapacity(max(entries.count, other.entries.count))
        var i = 0, j = 0
        let a = entries, b = other.entries
        while i < a.count && j < b.count {
            if a[i].node == b[j].node {
                out.append(Entry(node: a[i].node, counter: max(a[i].counter, b[j].counter)))
                i += 1; j += 1
            } else if a[i].node < b[j].node {
                out.append(a[i]); i += 1
            } else {
                out.append(b[j]); j += 1
            }
        }
        if i < a.count { out.append(contentsOf: a[i...]) }
        if j < b.count { out.append(contentsOf: b[j...]) }
        entries = out
    }

    public func merged(with other: VectorClock) -> VectorClock {
        var copy = self
        copy.merge(other)
        return copy
    }

    /// Compares entry-wise: `.before` means self happened before `other`.
    public func compare(_ other: VectorClock) -> CausalOrder {
        var less = false, greater = false
        var i = 0, j = 0
        let a = entries, b = other.entries
        while i < a.count || j < b.count {
            if j == b.count || (i < a.count && a[i].node < b[j].node) {
                greater = true; i += 1          // other lacks this node: it is 0 there
            } else if i == a.count || b[j].node < a[i].node {
                less = true; j += 1
            } else {
                if a[i].counter < b[j].counter { less = true } else if a[i].counter > b[j].counter { greater = true }
                i += 1; j += 1
            }
            if less && greater { return .concurrent }
        }
        switch (less, greater) {
        case (false, false): return .equal
        case (true, false): return .before
        case (false, true): return .after
        case (true, true): return .concurrent
        }
    }

    public func happenedBefore(_ other: VectorClock) -> Bool { compare(other) == .before }

    /// The sum of the entries (saturating): A before B implies depth(A) < depth(B).
    public var causalDepth: UInt64 {
        var sum: UInt64 = 0
        for e in entries {
            let (s, overflow) = sum.addingReportingOverflow(e.counter)
            sum = overflow ? .max : s
        }
        return sum
    }

    public var description: String {
        "{" + entries.map { "\(String($0.node, radix: 16)):\($0.counter)" }.joined(separator: ",") + "}"
    }
}
