import CCacheHints

/// Variable-length runs of plain values (payload bytes, clock entries) packed back to back in
/// large chunks, each run contiguous and addressed by a `Span`. Append-only: a timeline keeps
/// every message, so nothing is ever freed or moved. Compared with one array per run, a run
/// costs no allocation, no reference count and no 32-byte array header.
///
/// The chunks are raw memory behind one object (as `PagedArray`'s pages): reading a run
/// retains nothing, where an array of arrays retains the inner array on every read. A value
/// type: the chunks are copied on write.
///
/// A run that does not fit in the current chunk starts a new one (the old chunk's tail stays
/// unused: at most a quarter of a chunk, since longer runs get a chunk of their own).
struct SpanStore<Element: BitwiseCopyable>: @unchecked Sendable {
    struct Span: Sendable {
        var chunk: UInt32
        var offset: UInt32
        var count: UInt32
    }

    private struct Chunk {
        var base: UnsafeMutablePointer<Element>
        var capacity: Int
        var count: Int
    }

    /// The chunks, shared by copies until one of them writes.
    private final class Chunks {
        var table: UnsafeMutablePointer<Chunk>
        var tableCapacity = 4
        var count = 0

        init() { table = .allocate(capacity: tableCapacity) }

        deinit {
            for i in 0..<count { table[i].base.deallocate() }
            table.deallocate()
        }

        /// Adds an empty chunk of `capacity` elements and returns its index.
        func add(capacity: Int) -> Int {
            if count == tableCapacity {
                let bigger = UnsafeMutablePointer<Chunk>.allocate(capacity: tableCapacity * 2)
                bigger.moveInitialize(from: table, count: count)
                table.deallocate()
                table = bigger
                tableCapacity *= 2
            }
            (table + count).initialize(to: Chunk(base: .allocate(capacity: capacity), capacity: capacity, count: 0))
            count += 1
            return count - 1
        }

        func copy() -> Chunks {
            let new = Chunks()
            for i in 0..<count {
                let c = table[i]
                let j = new.add(capacity: c.capacity)
                new.table[j].base.initialize(from: c.base, count: c.count)
                new.table[j].count = c.count
            }
            return new
        }
    }

    private var chunks = Chunks()
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
        guard n > 0, let source = run.baseAddress else { return Self.empty }
        precondition(n <= Int(UInt32.max) && chunks.count < Int(UInt32.max), "span store full")
        if !isKnownUniquelyReferenced(&chunks) { chunks = chunks.copy() }
        let c: Int
        if n > chunkCapacity / 4 {
            // A long run gets a chunk of its own, sized exactly; the shared chunk stays current.
            c = chunks.add(capacity: n)
        } else {
            if current < 0 || chunks.table[current].count + n > chunkCapacity {
                current = chunks.add(capacity: chunkCapacity)
            }
            c = current
        }
        let offset = chunks.table[c].count
        (chunks.table[c].base + offset).initialize(from: source, count: n)
        chunks.table[c].count = offset + n
        // Runs are appended through fresh memory: start loading the line ahead of this one.
        let ahead = offset + n + AppendPrefetch.distance(in: Element.self)
        if ahead < chunks.table[c].capacity { imr_prefetch_for_write(chunks.table[c].base + ahead) }
        return Span(chunk: UInt32(c), offset: UInt32(offset), count: UInt32(n))
    }

    /// Calls `body` with the run at `span`, in place.
    @inline(__always)
    func withRun<R, E: Error>(_ span: Span, _ body: (UnsafeBufferPointer<Element>) throws(E) -> R) throws(E) -> R {
        if span.count == 0 { return try body(UnsafeBufferPointer(start: nil, count: 0)) }
        precondition(Int(span.chunk) < chunks.count, "span out of range")
        let c = chunks.table[Int(span.chunk)]
        precondition(Int(span.offset) + Int(span.count) <= c.count, "span out of range")
        // `self` is borrowed for the call, so its chunks outlive `body`.
        return try body(UnsafeBufferPointer(start: c.base + Int(span.offset), count: Int(span.count)))
    }

    /// A copy of the run at `span`.
    func array(_ span: Span) -> [Element] { withRun(span) { Array($0) } }
}
