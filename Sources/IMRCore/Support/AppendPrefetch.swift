/// How far ahead of an append its write prefetch reaches (`PagedArray`, `SpanStore`): appends
/// run through fresh memory, and a line requested this far ahead is in cache when the append
/// reaches it. 512 bytes measured faster than 256 on both the send and the push path.
enum AppendPrefetch {
    static var distanceBytes: Int { 512 }

    /// The distance in elements of `T` (at least one).
    @inline(__always)
    static func distance<T>(in _: T.Type) -> Int { max(1, distanceBytes / max(1, MemoryLayout<T>.stride)) }
}
