/// Where a message sorts in the history view: (causal depth, seq, message id).
///
/// Depth is the exact sum of the message's clock, so A happened before B implies
/// key(A) < key(B): sorting by the key alone is a linear extension of happened-before.
/// Concurrent messages fall back to seq (a pending own message, not yet sequenced, sorts
/// after every sequenced message of the same depth) and then to the message id, which is
/// unique; every device holding the same messages therefore builds the same order.
public struct HistoryKey: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var depth: CausalDepth
    /// The server's seq; `UInt64.max` while pending (seq is never that high).
    public var seq: UInt64
    public var messageID: MessageID

    public init(depth: CausalDepth, seq: UInt64?, messageID: MessageID) {
        self.depth = depth
        self.seq = seq ?? .max
        self.messageID = messageID
    }

    public init(_ entry: TimelineEntry) {
        self.init(depth: entry.clock.exactCausalDepth, seq: entry.seq, messageID: entry.messageID)
    }

    @inline(__always)
    public static func < (a: HistoryKey, b: HistoryKey) -> Bool {
        if a.depth.high != b.depth.high { return a.depth.high < b.depth.high }
        if a.depth.low != b.depth.low { return a.depth.low < b.depth.low }
        if a.seq != b.seq { return a.seq < b.seq }
        if a.messageID.high != b.messageID.high { return a.messageID.high < b.messageID.high }
        return a.messageID.low < b.messageID.low
    }

    public var description: String {
        "(\(depth), \(seq == .max ? "pending" : String(seq)), \(messageID))"
    }
}
