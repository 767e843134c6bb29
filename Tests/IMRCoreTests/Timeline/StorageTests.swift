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

    @Test func aTimelineRecordIsSixtyFourBytes() {
        #expect(Timeline.recordBytes == 64)
    }

    @Test func recordsKeepFlagsBesideLargeClockOffsets() {
        // Enough messages with 3-entry clocks that clock offsets use all 12 bits, late
        // replies and confirmations set every flag: each message reads back exactly.
        var t = Timeline()
        var expected: [TimelineEntry] = []
        var clocks = [VectorClock](repeating: VectorClock(), count: 3)
        for i in 0..<3000 {
            let node = UInt64(i % 3 + 1)
            clocks[i % 3].increment(node)
            if i % 5 != 0 { clocks[i % 3].merge(clocks[(i + 1) % 3]) }   // some are late replies
            let e = TimelineEntry(messageID: MessageID(high: UInt64(i), low: 1), seq: i % 2 == 0 ? UInt64(i + 1) : nil,
                                  serverTimeMs: i % 2 == 0 ? UInt64(i) : nil, senderUser: "u\(i % 3)", senderNode: node,
                                  clock: clocks[i % 3], payload: [UInt8](repeating: UInt8(i & 0xFF), count: 1 + i % 50))
            t.insert(e)
            expected.append(e)
        }
        for i in stride(from: 1, to: 3000, by: 4) {
            t.confirm(expected[i].messageID, seq: UInt64(10_000 + i), serverTimeMs: 7)
            expected[i].seq = UInt64(10_000 + i)
            expected[i].serverTimeMs = 7
        }
        #expect(t.live == expected)
        #expect((0..<3000).contains { t.isLateReply(expected[$0].messageID) })
    }

    @Test(arguments: 0..<6 as Range<UInt64>)
    func senderMessagesFindTheLatestAtOrBelowABoundInAnyArrivalOrder(seed: UInt64) {
        var rng = SeededGenerator(seed: seed)
        var messages = SenderMessages()
        var held: [(counter: UInt64, live: Int)] = []
        for live in 0..<600 {
            // Mostly the next counter; some late, some early (seeds 0 and 1 stay dense), a few
            // repeated (seeds from 2), and (seeds 4 and 5) wide jumps that leave the dense form.
            let next = (held.map(\.counter).max() ?? 0) + 1
            let r = rng.next() % 100
            var counter = next
            if r < 10 && next > 10 { counter = next - 1 - rng.next() % 10 }
            else if r < 15 { counter = next + rng.next() % 20 }
            else if r < 17 && seed >= 2 && !held.isEmpty { counter = held[Int(rng.next() % UInt64(held.count))].counter }
            else if r < 19 && seed >= 4 { counter = next + 10_000 + rng.next() % 1_000_000 }
            messages.insert(counter: counter, live: live)
            held.append((counter, live))
        }
        for _ in 0..<200 {
            let bound = rng.next() % ((held.map(\.counter).max() ?? 0) + 5)
            var seen: [(UInt64, Int)] = []
            messages.forEachDescending(atMost: bound) { counter, live in
                seen.append((counter, live))
                return seen.count < 3
            }
            let expected = held.filter { $0.counter <= bound }.sorted { $0.counter > $1.counter }.prefix(3)
            #expect(seen.map(\.0) == expected.map(\.counter))
            // Lives of one counter may come in any order among themselves; each is one held there.
            #expect(seen.allSatisfy { s in held.contains { $0.counter == s.0 && $0.live == s.1 } })
        }
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

    @Test func aCopiedSpanStoreKeepsItsRunsWhileTheOriginalGrows() {
        var store = SpanStore<UInt8>(chunkCapacity: 64)
        let first = [UInt8](repeating: 1, count: 10)
        let firstSpan = first.withUnsafeBufferPointer { store.append($0) }
        let copy = store
        // Appends to the original land in the chunk the copy shares (same chunk, next offset),
        // and in new chunks: the copy must see neither.
        let second = [UInt8](repeating: 2, count: 10)
        let secondSpan = second.withUnsafeBufferPointer { store.append($0) }
        for i in 0..<20 { _ = [UInt8](repeating: UInt8(3 + i), count: 15).withUnsafeBufferPointer { store.append($0) } }
        #expect(secondSpan.chunk == firstSpan.chunk)
        #expect(copy.array(firstSpan) == first)
        #expect(store.array(firstSpan) == first)
        #expect(store.array(secondSpan) == second)
        // The copy appends on its own: the original's run at that place is untouched.
        var grown = copy
        let other = [UInt8](repeating: 9, count: 10)
        let otherSpan = other.withUnsafeBufferPointer { grown.append($0) }
        #expect(otherSpan.chunk == secondSpan.chunk && otherSpan.offset == secondSpan.offset)
        #expect(grown.array(otherSpan) == other)
        #expect(store.array(secondSpan) == second)
    }
}
