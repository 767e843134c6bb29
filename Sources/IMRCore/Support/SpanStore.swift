/// Variable-length runs of plain values (payload bytes, clock entries) packed back to back in
/// large chunks, each run contiguous and addressed by a `Span`. Append-only: a timeline keeps
/// every message, so nothing is ever freed or moved. Compared with one array per run, a run
/// costs no allocation, no reference count and no 32-byte array header.
///
/// A run that does not fit in the current chunk starts a new one (the old chunk's tail stays
/// unused: at most a quarter of a chunk, since longer runs get a chunk of their own).
struct SpanStore<Element: Sendable>: Sendable {
    struct Span: Sendable {
        var chunk: UInt32
        var offset: UInt32
        var count: UInt32
    }

    private var chunks: [[Element]] = []
    /// The shared chunk short runs are appended to (-1: none yet).
    private var current = -1
    /// Elements per shared chunk.
    let chunkCapacity: Int

    init(chunkCapacity: Int) {
        precondition(chunkCapacity >= 4 && chunkCapacity <= Int(UInt32.max))
        self.chunkCapacity = chunkCapacity
    }

    static var empty: Span { Span(chunk: 0, offset: 0, count: 0) }

    /// Copies `run` in and returns where it lives.
    mutating func append(_ run: UnsafeBufferPointer<Element>) -> Span {
        let n = run.count
        if n == 0 { return Self.empty }
        precondition(n <= Int(UInt32.max) && chunks.count < Int(UInt32.max), "span store full")
        if n > chunkCapacity / 4 {
            // A long run gets a chunk of its own, sized exactly; the shared chunk stays current.
            chunks.append(Array(run))
            return Span(chunk: UInt32(chunks.count - 1), offset: 0, count: UInt32(n))
        }
        if current < 0 || chunks[current].count + n > chunkCapacity {
            chunks.append(Self.newChunk(chunkCapacity))
            current = chunks.count - 1
        }
        let c = current
        let offset = chunks[c].count
        chunks[c].append(contentsOf: run)
        return Span(chunk: UInt32(c), offset: UInt32(offset), count: UInt32(n))
    }

    /// Calls `body` with the run at `span`, in place.
    @inline(__always)
    func withRun<R, E: Error>(_ span: Span, _ body: (UnsafeBufferPointer<Element>) throws(E) -> R) throws(E) -> R {
        if span.count == 0 { return try body(UnsafeBufferPointer(start: nil, count: 0)) }
        return try chunks[Int(span.chunk)].withUnsafeBufferPointer { (p) throws(E) -> R in
            try body(UnsafeBufferPointer(rebasing: p[Int(span.offset)..<Int(span.offset) + Int(span.count)]))
        }
    }

    /// A copy of the run at `span`.
    func array(_ span: Span) -> [Element] { withRun(span) { Array($0) } }

    private static func newChunk(_ capacity: Int) -> [Element] {
        var chunk: [Element] = []
        chunk.reserveCapacity(capacity)
        return chunk
    }
}
