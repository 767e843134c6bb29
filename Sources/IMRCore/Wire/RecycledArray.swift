/// An array a codec hands out frame after frame (a push's payload, its clock's entries) and
/// refills in place once every holder of the last one has let it go: a host that drains its
/// events before the next frame decodes pushes with no allocation for them (cheapest when the
/// size repeats, as a clock's does within a conversation). While anything still holds the last
/// array, the next one is a new array, as without recycling. Only small arrays are kept, so a
/// large payload is not held past its frame.
struct RecycledArray<Element> {
    private var held: [Element] = []

    /// Elements beyond which a copy is a new array that is not kept (about 4 KiB).
    private static var largestCount: Int { 4096 / MemoryLayout<Element>.stride }

    /// An array with a copy of `source`.
    mutating func copy(of source: UnsafeBufferPointer<Element>) -> [Element] {
        if source.count == held.count {
            // Overwritten in place when `held` is no longer shared (copied first otherwise).
            held.withUnsafeMutableBufferPointer { _ = $0.update(fromContentsOf: source) }
        } else if source.count > Self.largestCount {
            held = []
            return Array(source)
        } else if source.count <= held.capacity {
            // Resized in place when not shared (the standard library's generic path: about
            // as costly as a new array, but the memory stays the same, warm in cache).
            held.removeAll(keepingCapacity: true)
            held.append(contentsOf: source)
        } else {
            held = Array(source)
        }
        return held
    }
}
