import Testing
@testable import IMRCore

/// The timeline's storage: paged records and packed runs read back exactly as written.
@Suite struct TimelineStorageTests {
    @Test func pagedArrayHoldsWhatWasAppendedAcrossPages() {
        var paged = PagedArray<UInt64>()
        var reference: [UInt64] = []
        for i in 0..<3000 as Range<UInt64> {
            paged.append(i &* 0x9E37_79B9)
            reference.append(i &* 0x9E37_79B9)
            if i % 7 == 0 {
                // Writes in place, on earlier pages too.
                let at = Int(i / 2)
                paged[at] &+= 1
                reference[at] &+= 1
            }
        }
        #expect(paged.count == reference.count)
        #expect((0..<reference.count).allSatisfy { paged[$0] == reference[$0] })
        var visited: [UInt64] = []
        paged.forEach(in: 5..<2517) { visited.append($0) }
        #expect(visited == Array(reference[5..<2517]))
        var copy = paged
        copy[0] = 99
        copy.append(7)
        #expect(paged[0] == reference[0] && paged.count == reference.count)   // a value: the copy's writes stay in the copy
        #expect(copy[0] == 99 && copy.count == reference.count + 1 && copy[1500] == reference[1500])
    }

    @Test func pagedArrayOfReferenceCountedValuesCopiesOnWrite() {
        var names = PagedArray<String>()
        for i in 0..<2100 { names.append("name \(i) " + String(repeating: "x", count: i % 40)) }
        var other = names
        other[2050] = "changed"
        #expect(names[2050].hasPrefix("name 2050") && other[2050] == "changed")
        #expect((0..<2100).allSatisfy { $0 == 2050 || names[$0] == other[$0] })
    }

    @Test func spanStoreKeepsEveryRunContiguousAndIntact() {
        var rng = SeededGenerator(seed: 5)
        var store = SpanStore<UInt8>(chunkCapacity: 64)
        var runs: [(SpanStore<UInt8>.Span, [UInt8])] = []
        for i in 0..<2000 {
            // Mostly short runs, some empty, some longer than a quarter chunk (own chunks),
            // some that do not fit the current chunk's tail.
            let length = i % 97 == 0 ? 0 : i % 13 == 0 ? 17 + Int(rng.next() % 200) : 1 + Int(rng.next() % 16)
            let run = (0..<length).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            let span = run.withUnsafeBufferPointer { store.append($0) }
            #expect(Int(span.count) == length)
            runs.append((span, run))
        }
        for (span, run) in runs { #expect(store.array(span) == run) }
        let lengths = runs.map { r in store.withRun(r.0) { $0.count } }
        #expect(lengths == runs.map(\.1.count))
    }
}
