/// A vector clock's canonical entries (sorted by node, no zero counter), borrowed for the
/// length of one call: what the timeline reads of a message's clock, without holding (and
/// so retaining) the clock's storage. Made by `VectorClock.withView(_:)`.
struct VectorClockView {
    let entries: UnsafeBufferPointer<VectorClock.Entry>

    /// The counter of `node`; 0 when the clock has no entry for it.
    subscript(node: UInt64) -> UInt64 {
        let i = VectorClock.lowerBound(entries, node)
        return i < entries.count && entries[i].node == node ? entries[i].counter : 0
    }

    /// The exact sum of the entries, without saturation.
    var exactCausalDepth: CausalDepth {
        var d = CausalDepth.zero
        for e in entries { d.add(e.counter) }
        return d
    }
}
