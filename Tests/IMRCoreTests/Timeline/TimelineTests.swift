import Testing
@testable import IMRCore

private func build(_ entries: [TimelineEntry], order: HistoryOrder = .causal) -> Timeline {
    var t = Timeline(order: order)
    for e in entries { t.insert(e) }
    return t
}

private func randomHistory(seed: UInt64, maxMessages: Int = 70, pending: Bool = true) -> (CausalHistory, SeededGenerator) {
    var rng = SeededGenerator(seed: seed &* 0x9E37_79B9 &+ 1)
    let h = CausalHistory(seed: seed, nodes: Int.random(in: 1...8, using: &rng),
                          messages: Int.random(in: 1...maxMessages, using: &rng),
                          pending: pending ? Int.random(in: 0...3, using: &rng) : 0,
                          sendBias: Double.random(in: 0.2...0.8, using: &rng))
    return (h, rng)
}

@Suite struct TimelineTests {
    // MARK: History properties

    @Test func historyIsALinearExtensionOrderedByTheKey() {
        for seed in 0..<400 as Range<UInt64> {
            var (h, rng) = randomHistory(seed: seed)
            let t = build(h.messages.shuffled(using: &rng))
            let history = t.history()
            #expect(history.count == h.messages.count)
            #expect(Naive.isLinearExtension(history), "seed \(seed)")
            #expect(history.map(\.messageID) == Naive.keySorted(h.messages), "seed \(seed)")
        }
    }

    @Test func historyIsIdenticalForEveryArrivalPermutation() {
        for seed in 0..<150 as Range<UInt64> {
            var (h, rng) = randomHistory(seed: seed)
            let reference = build(h.messages).history().map(\.messageID)
            for _ in 0..<25 {
                let t = build(h.messages.shuffled(using: &rng))
                #expect(t.history().map(\.messageID) == reference, "seed \(seed)")
            }
        }
    }

    @Test func historyHandlesThousandsOfMessagesInAnyOrder() {
        // Enough messages to split the history index's chunks, in seq order and shuffled.
        var (h, rng) = (CausalHistory(seed: 99, nodes: 12, messages: 3000, pending: 4), SeededGenerator(seed: 5))
        let inOrder = build(h.messages)
        let shuffled = build(h.messages.shuffled(using: &rng))
        let expected = Naive.keySorted(h.messages)
        #expect(inOrder.history().map(\.messageID) == expected)
        #expect(shuffled.history().map(\.messageID) == expected)
        for (i, id) in expected.enumerated() where i % 7 == 0 {
            #expect(shuffled.historyIndex(of: id) == i)
            #expect(shuffled.historyEntry(at: i).messageID == id)
        }
        let live = shuffled.live
        #expect(shuffled.historyLiveIndices().map { live[$0].messageID } == expected)
        // Pages of both views, read one after another, are the views (the C ABI pages this way).
        for pageSize in [1, 63, 64, 500, 3000] {
            let pages = stride(from: 0, to: shuffled.count, by: pageSize).map { $0..<min($0 + pageSize, shuffled.count) }
            #expect(pages.flatMap { shuffled.history(in: $0) } == shuffled.history())
            #expect(pages.flatMap { shuffled.live(in: $0) } == live)
        }
        #expect(shuffled.history(in: 17..<17).isEmpty && shuffled.live(in: shuffled.count..<shuffled.count).isEmpty)
        h.messages.removeAll()
    }

    // MARK: Live view

    @Test func liveIndexIsStableAndDuplicatesAreRefused() {
        for seed in 0..<300 as Range<UInt64> {
            var (h, rng) = randomHistory(seed: seed)
            let arrival = h.messages.shuffled(using: &rng)
            var t = Timeline()
            var shown: [MessageID] = []
            for e in arrival {
                let index = t.insert(e)
                #expect(index == shown.count)
                shown.append(e.messageID)
                #expect(t.live.map(\.messageID) == shown)       // nothing already shown moved
                #expect(t.liveIndex(of: e.messageID) == index)
                // A duplicate (push and sync both deliver it) changes nothing.
                let again = arrival[Int.random(in: 0..<shown.count, using: &rng)]
                #expect(t.insert(again) == nil)
                #expect(t.count == shown.count)
            }
            #expect(arrival.allSatisfy { t.contains($0.messageID) && t.entry($0.messageID) == $0 })
        }
    }

    @Test func arrivalOrderHistoryEqualsLive() {
        for seed in 0..<200 as Range<UInt64> {
            var (h, rng) = randomHistory(seed: seed)
            let t = build(h.messages.shuffled(using: &rng), order: .arrival)
            #expect(t.history() == t.live)
            #expect(t.historyLiveIndices() == Array(0..<t.count))
            for (i, e) in t.live.enumerated() {
                #expect(t.historyIndex(of: e.messageID) == i)
                #expect(t.historyEntry(at: i) == e)
            }
        }
    }

    // MARK: Confirm

    @Test func confirmSequencesPendingMessagesAndRepositionsThem() {
        for seed in 0..<300 as Range<UInt64> {
            var rng = SeededGenerator(seed: seed)
            let h = CausalHistory(seed: seed, nodes: Int.random(in: 1...6, using: &rng),
                                  messages: Int.random(in: 1...50, using: &rng), pending: Int.random(in: 1...5, using: &rng))
            // The device's own messages start pending; the server sequences them later, in order.
            var final = h.messages
            var nextSeq = UInt64(h.messages.count + 1)
            for i in final.indices where final[i].seq == nil {
                final[i].seq = nextSeq; final[i].serverTimeMs = 42; nextSeq += 1
            }
            var t = Timeline()
            let arrival = h.messages.shuffled(using: &rng)
            for e in arrival { t.insert(e) }
            let liveBefore = t.live.map(\.messageID)
            for e in final.shuffled(using: &rng) where h.messages.first(where: { $0.messageID == e.messageID })!.seq == nil {
                let live = t.confirm(e.messageID, seq: e.seq!, serverTimeMs: 42)
                #expect(live == liveBefore.firstIndex(of: e.messageID))
                #expect(t.entry(e.messageID)?.seq == e.seq)
                #expect(Naive.isLinearExtension(t.history()))
            }
            #expect(t.live.map(\.messageID) == liveBefore)                 // confirm moves nothing live
            #expect(t.history() == build(final).history())                  // same as if sequenced on arrival
            for (i, e) in t.history().enumerated() { #expect(t.historyIndex(of: e.messageID) == i) }
            #expect(t.confirm(MessageID(high: 1, low: 1), seq: 1, serverTimeMs: 1) == nil)
        }
    }

    @Test func pendingSortsAfterSequencedMessagesOfTheSameDepth() throws {
        let a = MessageID(high: 9, low: 9), b = MessageID(high: 1, low: 1)
        let clockA = try VectorClock(entries: [.init(node: 1, counter: 1)])
        let clockB = try VectorClock(entries: [.init(node: 2, counter: 1)])
        var t = Timeline()
        // b is pending (own) and has the smaller id; a is sequenced: a first, then b.
        t.insert(TimelineEntry(messageID: b, seq: nil, serverTimeMs: nil, senderUser: "me", senderNode: 2, clock: clockB, payload: []))
        t.insert(TimelineEntry(messageID: a, seq: 5, serverTimeMs: 1, senderUser: "you", senderNode: 1, clock: clockA, payload: []))
        #expect(t.history().map(\.messageID) == [a, b])
        t.confirm(b, seq: 4, serverTimeMs: 2)
        #expect(t.history().map(\.messageID) == [b, a])
        #expect(t.historyIndex(of: b) == 0 && t.historyIndex(of: a) == 1)
        #expect(t.live.map(\.messageID) == [b, a])
    }

    // MARK: Causal context and late replies

    @Test func causalContextIsTheMaximalPredecessorsHeld() {
        for seed in 0..<250 as Range<UInt64> {
            var (h, rng) = randomHistory(seed: seed)
            // Hold a random subset: some predecessors may not have arrived yet.
            let held = h.messages.shuffled(using: &rng).filter { _ in Double.random(in: 0..<1, using: &rng) < 0.8 }
            let t = build(held)
            for target in held {
                let context = t.causalContext(of: target.messageID)
                #expect(Set(context) == Naive.causalContext(of: target, in: held), "seed \(seed)")
                #expect(context.count == Set(context).count)
            }
        }
    }

    @Test func lateReplyFlagMatchesTheDefinition() {
        for seed in 0..<400 as Range<UInt64> {
            var (h, rng) = randomHistory(seed: seed)
            let t = build(h.messages.shuffled(using: &rng))
            let expected = Naive.lateFlags(t.live)
            #expect(t.live.map { t.isLateReply($0.messageID) } == expected, "seed \(seed)")
            #expect(!t.isLateReply(MessageID(high: 0, low: 0)))
            var merged = VectorClock()
            for e in h.messages { merged.merge(e.clock) }
            #expect(t.mergedClock == merged)
        }
    }

    @Test func lateMessageOfOneSenderAndLateReplyToAnOldTopic() throws {
        // Nodes A=1, B=2, C=3. A: a1 (topic 1). A: a2 (topic 2) after B answered a1.
        // C only saw a1 and replies to it after everything else arrived.
        func entry(_ id: UInt64, _ seq: UInt64, _ node: UInt64, _ clock: [UInt64: UInt64]) throws -> TimelineEntry {
            TimelineEntry(messageID: MessageID(high: id, low: 0), seq: seq, serverTimeMs: seq, senderUser: "u\(node)",
                          senderNode: node, clock: try VectorClock(entries: clock.map { .init(node: $0.key, counter: $0.value) }), payload: [])
        }
        let a1 = try entry(1, 1, 1, [1: 1])
        let b1 = try entry(2, 2, 2, [1: 1, 2: 1])
        let a2 = try entry(3, 3, 1, [1: 2, 2: 1])
        let a3 = try entry(4, 4, 1, [1: 3, 2: 1])
        let c1 = try entry(5, 5, 3, [1: 1, 3: 1])
        // Arrival: a1, b1, a3 (a2 delayed), a2, c1.
        var t = Timeline()
        #expect([a1, b1, a3, a2, c1].map { t.insert($0) } == [0, 1, 2, 3, 4])
        #expect(t.live.map(\.messageID) == [a1, b1, a3, a2, c1].map(\.messageID))
        #expect(t.history().map(\.messageID) == [a1, b1, c1, a2, a3].map(\.messageID))
        #expect(Naive.isLinearExtension(t.history()))
        // a2 arrived after its successor a3: late. c1 answered a1 without seeing b1, a2, a3: late.
        #expect([a1, b1, a3, a2, c1].map { t.isLateReply($0.messageID) } == [false, false, false, true, true])
        #expect(t.causalContext(of: c1.messageID) == [a1.messageID])
        #expect(t.causalContext(of: a3.messageID) == [a2.messageID])
        #expect(t.causalContext(of: a2.messageID) == [b1.messageID])
        #expect(t.causalContext(of: a1.messageID) == [])
        #expect(t.causalContext(of: MessageID(high: 77, low: 0)) == [])
        #expect(t.historyIndex(of: c1.messageID) == 2 && t.liveIndex(of: c1.messageID) == 4)
    }

    @Test func arbitraryClocksNeverTrapAndStillOrderDeterministically() throws {
        // Clocks a buggy or hostile peer could send: not causally consistent, the sender
        // missing from its own clock, two messages claiming the same (node, counter),
        // counters at the top of the range.
        for seed in 0..<150 as Range<UInt64> {
            var rng = SeededGenerator(seed: seed)
            var messages: [TimelineEntry] = []
            for i in 0..<Int.random(in: 1...40, using: &rng) {
                var raw: [VectorClock.Entry] = []
                for node in 0..<UInt64(4) where rng.next() % 2 == 0 {
                    let counter = rng.next() % 5 == 0 ? UInt64.max - rng.next() % 2 : rng.next() % 4
                    raw.append(.init(node: node, counter: counter))
                }
                messages.append(TimelineEntry(
                    messageID: MessageID(high: rng.next() % 3, low: UInt64(i)), seq: rng.next() % 4 == 0 ? nil : rng.next() % 50 + 1,
                    serverTimeMs: nil, senderUser: "x", senderNode: rng.next() % 5, clock: try VectorClock(entries: raw), payload: []))
            }
            var a = Timeline(), b = Timeline()
            for m in messages { a.insert(m) }
            for m in messages.shuffled(using: &rng) { b.insert(m) }
            #expect(a.history() == b.history())
            #expect(a.history().map(\.messageID) == Naive.keySorted(messages))
            for m in messages {
                _ = a.causalContext(of: m.messageID)
                _ = a.isLateReply(m.messageID)
                #expect(a.historyIndex(of: m.messageID).map { a.historyEntry(at: $0) } == a.entry(m.messageID))
                a.confirm(m.messageID, seq: rng.next() % 60 + 1, serverTimeMs: 1)
            }
            #expect(a.history().map(\.messageID) == Naive.keySorted(a.live))
        }
    }

    // MARK: History index structure

    /// Keys arriving in order (the common case) and changes of the last few (confirms): an
    /// in-place change is taken only when the key stays between its neighbours, whether they
    /// were appended last or sit in the tree; the others move; ranks and order stay right.
    @Test(arguments: [(64, 64), (2, 3), (4, 5)])
    func historyIndexConfirmsTheKeysAppendedLastInPlaceOnlyBetweenTheirNeighbours(leaf: Int, inner: Int) {
        var rng = SeededGenerator(seed: UInt64(leaf))
        var index = HistoryIndex(leafCapacity: leaf, innerCapacity: inner)
        var book = KeyBook()
        var reference: [Int] = []          // live indices in key order
        var taken = 0, refused = 0
        for live in 0..<600 {
            // Depths rise by 2: a pending key (seq nil) may later take any seq at its depth,
            // or move to the depth between it and a neighbour.
            let key = HistoryKey(depth: CausalDepth(low: UInt64(live) * 2 + 2), seq: nil, messageID: MessageID(high: 1, low: UInt64(live)))
            book.keys[live] = key
            index.insert(key, live: live, keys: book)
            // (Above every key, unless a change below moved one of the last past it.)
            reference.insert(live, at: reference.firstIndex { key < book.keys[$0]! } ?? reference.count)
            guard live % 3 == 0 else { continue }
            // Change one of the last few keys (sometimes to a depth past a neighbour's).
            let at = reference.count - 1 - Int(rng.next() % UInt64(min(reference.count, 6)))
            let old = book.keys[reference[at]]!
            var new = old
            new.seq = rng.next() % 1000
            switch rng.next() % 4 {
            case 0: new.depth = CausalDepth(low: old.depth.low + 3)      // past the next key, if any
            case 1: new.depth = CausalDepth(low: max(old.depth.low, 3) - 3)  // below the previous, if any
            default: break                                               // stays in place
            }
            var order = reference.map { book.keys[$0]! }
            order[at] = new
            let fits = zip(order, order.dropFirst()).allSatisfy { $0 < $1 }
            let replaced = index.replaceInPlace(old, with: new, keys: book)
            // (The tree may refuse a change that would fit; the keys appended last never are.)
            #expect(!replaced || fits, "live \(live), position \(at) of \(reference.count)")
            if replaced {
                book.keys[reference[at]] = new
                taken += 1
            } else {
                refused += 1
                let moved = reference[at]
                let removed = index.remove(old, keys: book)
                #expect(removed)
                book.keys[moved] = new
                index.insert(new, live: moved, keys: book)
                reference.remove(at: at)
                reference.insert(moved, at: reference.firstIndex { new < book.keys[$0]! } ?? reference.count)
            }
            var held: [Int] = []
            index.forEach { held.append($0) }
            #expect(held == reference)
            for r in Set([0, reference.count / 2, reference.count - 2, reference.count - 1]) where r >= 0 {
                #expect(index.live(at: r) == reference[r])
                #expect(index.rank(of: book.keys[reference[r]]!, keys: book) == r)
            }
        }
        #expect(taken > 50 && refused > 50)
        #expect(index.count == reference.count)
    }

    @Test(arguments: [(64, 64), (2, 3), (4, 5), (16, 8)])
    func historyIndexMatchesASortedArrayUnderRandomInsertsAndRemoves(leaf: Int, inner: Int) {
        var rng = SeededGenerator(seed: UInt64(leaf * 100 + inner))
        var index = HistoryIndex(leafCapacity: leaf, innerCapacity: inner)
        var reference: [HistoryKey] = []
        var liveOf: [HistoryKey: Int] = [:]
        // The index reads an item's key through its live index, as from a timeline's records.
        var book = KeyBook()
        var replacedInPlace = 0, movedReplaces = 0
        func check() {
            var order: [Int] = []
            index.forEach { order.append($0) }
            #expect(order == reference.map { liveOf[$0]! })
            #expect(index.count == reference.count)
            for (i, key) in reference.enumerated() where i % 5 == 0 {
                #expect(index.rank(of: key, keys: book) == i)
                #expect(index.live(at: i) == liveOf[key])
            }
            // Pages: every start, with lengths that end inside a leaf, at a leaf's edge or at the end.
            for start in 0...order.count {
                for length in [0, 1, 2, 3, leaf - 1, leaf, leaf + 1, order.count] where start + length <= order.count {
                    var page: [Int] = []
                    index.forEach(in: start..<(start + length)) { page.append($0) }
                    #expect(page == Array(order[start..<(start + length)]), "page \(start)..<\(start + length) of \(order.count)")
                }
            }
        }
        for step in 0..<1600 {
            // Phases: grow, shrink to empty, grow again; mostly ascending keys (as arrival is).
            let growing = step < 700 || (step >= 1100 && step < 1500)
            if reference.isEmpty || (growing && Int.random(in: 0..<10, using: &rng) < 8) || (!growing && Int.random(in: 0..<10, using: &rng) < 1) {
                let base = step % 3 == 0 ? rng.next() % 1_000_000 : UInt64(step) * 200
                let key = HistoryKey(depth: CausalDepth(low: base), seq: rng.next() % 4 == 0 ? nil : rng.next() % 100,
                                     messageID: MessageID(high: rng.next(), low: rng.next()))
                book.keys[step] = key
                index.insert(key, live: step, keys: book)
                liveOf[key] = step
                reference.insert(key, at: reference.firstIndex { key < $0 } ?? reference.count)
            } else if step % 4 == 0 {
                // A changed key (a confirm): in place when the order allows, else moved. A third
                // of them change the greatest key (the message sent last: the fast path), a third
                // one of the last few (the keys appended last, not yet in the tree proper).
                let at = switch rng.next() % 3 {
                case 0: reference.count - 1
                case 1: max(0, reference.count - 1 - Int(rng.next() % 8))
                default: Int.random(in: 0..<reference.count, using: &rng)
                }
                let old = reference[at]
                var key = old
                key.seq = rng.next() % 3 == 0 ? rng.next() % 100 : (rng.next() % 2 == 0 ? old.seq &- 1 : old.seq &+ 1)
                if rng.next() % 5 == 0 { key.depth = CausalDepth(low: rng.next() % 1_000_000) }
                guard reference.firstIndex(of: key) == nil else { continue }
                let live = liveOf[old]!
                if index.replaceInPlace(old, with: key, keys: book) {
                    book.keys[live] = key
                    replacedInPlace += 1
                    reference[at] = key
                    #expect(zip(reference, reference.dropFirst()).allSatisfy { $0 < $1 }, "an in-place replace broke the order")
                } else {
                    movedReplaces += 1
                    let removed = index.remove(old, keys: book)
                    #expect(removed)
                    book.keys[live] = key
                    index.insert(key, live: live, keys: book)
                    reference.remove(at: at)
                    reference.insert(key, at: reference.firstIndex { key < $0 } ?? reference.count)
                }
                liveOf[key] = liveOf[old]
            } else {
                let key = reference.remove(at: Int.random(in: 0..<reference.count, using: &rng))
                let removed = index.remove(key, keys: book), again = index.remove(key, keys: book)
                #expect(removed && !again)
            }
            if step % 89 == 0 || reference.count <= 2 { check() }
        }
        check()
        #expect(replacedInPlace > 10 && movedReplaces > 10)
        let replacedAbsent = index.replaceInPlace(HistoryKey(depth: CausalDepth(low: 7), seq: 3, messageID: MessageID(high: 9, low: 9)),
                                                  with: HistoryKey(depth: CausalDepth(low: 7), seq: 4, messageID: MessageID(high: 9, low: 9)),
                                                  keys: book)
        #expect(!replacedAbsent)
        let absent = HistoryKey(depth: CausalDepth(low: 5), seq: 1, messageID: MessageID(high: 0, low: 0))
        #expect(index.rank(of: absent, keys: book) == nil)
        let removedAbsent = index.remove(absent, keys: book)
        #expect(!removedAbsent)
    }
}

@Suite struct TimelineIndexTests {
    @Test func messageIDTableMatchesADictionary() {
        var rng = SeededGenerator(seed: 21)
        var table = MessageIDTable()
        var reference: [MessageID: Int] = [:]
        var held: [MessageID] = []
        /// The probe run to its end: the value held for `id`, or the vacancy where it would go.
        func find(_ id: MessageID) -> (value: Int?, probe: MessageIDTable.Probe) {
            var probe = table.probe(id)
            while let candidate = table.nextCandidate(&probe) {
                if held[candidate] == id { return (candidate, probe) }
            }
            return (nil, probe)
        }
        for i in 0..<5000 {
            // Some ids share their high word (same millisecond), some repeat.
            let id = i % 7 == 3 && !held.isEmpty ? held.randomElement(using: &rng)!
                : MessageID(high: i % 5 == 0 ? 42 : rng.next(), low: rng.next())
            table.reserveOne()
            let (value, probe) = find(id)
            #expect(value == reference[id])
            if value == nil {
                table.fill(probe, value: held.count)
                reference[id] = held.count
                held.append(id)
            }
            if i == 2500 { table.reserveCapacity(20_000) }
        }
        #expect(table.count == reference.count)
        for (id, value) in reference { #expect(find(id).value == value) }
        #expect(find(MessageID(high: 1, low: 2)).value == nil)
    }

    /// Every (user, node) pair gets one index, whether the per-node hint or the dictionary
    /// answers. A node that changes user (a peer's odd frames) must not inherit the hint's user.
    @Test func senderTableGivesEachPairOneIndexThroughTheHintOrTheDictionary() {
        var rng = SeededGenerator(seed: 5)
        var table = SenderTable()
        var reference: [String: UInt32] = [:]
        let nodes: [UInt64] = (0..<300).map { $0 &* 0x9E37_79B9_7F4A_7C15 }
        for _ in 0..<20_000 {
            let n = Int(rng.next() % UInt64(nodes.count))
            // Mostly the node's own user; now and then another one on the same node.
            let user = rng.next() % 50 == 0 ? "other\(rng.next() % 3)" : "user\(n)"
            let index = table.index(user: user, node: nodes[n], nodeNumber: n)
            let key = "\(user)/\(n)"
            if let known = reference[key] {
                #expect(index == known)
            } else {
                #expect(!reference.values.contains(index))
                reference[key] = index
            }
            #expect(table.user(index) == user && table.node(index) == nodes[n])
        }
        #expect(reference.count > nodes.count)      // some nodes did change user
    }

    @Test func aNodeThatChangesUserKeepsEachMessagesOwnSender() throws {
        var t = Timeline()
        for (i, user) in ["alice", "alice", "mallory", "alice", "mallory"].enumerated() {
            let clock = try VectorClock(entries: [VectorClock.Entry(node: 7, counter: UInt64(i + 1))])
            t.insert(TimelineEntry(messageID: MessageID(high: UInt64(i), low: 1), seq: UInt64(i + 1), serverTimeMs: 0,
                                   senderUser: user, senderNode: 7, clock: clock, payload: []))
        }
        #expect(t.live.map(\.senderUser) == ["alice", "alice", "mallory", "alice", "mallory"])
    }

    @Test func nodeTableMergesLikeAVectorClock() {
        for seed in 0..<200 as Range<UInt64> {
            let h = CausalHistory(seed: seed, nodes: 1 + Int(seed % 9), messages: 40)
            var table = NodeTable()
            var clock = VectorClock()
            var depth = CausalDepth.zero
            for m in h.messages {
                depth.add(table.merge(m.clock))
                clock.merge(m.clock)
                #expect(depth == clock.exactCausalDepth)
            }
            #expect(table.clock == clock)
            for e in clock.entries { #expect(table[e.node] == e.counter) }
            #expect(table[0xDEAD] == 0)
            // Lists: assigned once per node, in order of first use.
            var lists: [UInt64: Int] = [:]
            for node in h.nodes {
                let list = table.list(creating: node)
                #expect(lists[node] == nil && list == lists.count)
                lists[node] = list
                #expect(table.list(creating: node) == list && table.list(of: node) == list)
            }
            #expect(table.list(of: 0xDEAD) == nil)
        }
    }

    @Test func bulkInsertOfLargeBatchesEqualsOneByOne() {
        var rng = SeededGenerator(seed: 8)
        let h = CausalHistory(seed: 8, nodes: 9, messages: 6000, pending: 3)
        let arrival = h.messages.shuffled(using: &rng)
        var one = Timeline(), bulk = Timeline()
        var expected: [Int?] = []
        for e in arrival { expected.append(one.insert(e)) }
        // Small batch, then batches large enough for the sort-and-merge path, with repeats.
        var got: [Int?] = []
        got += bulk.insert(contentsOf: arrival[0..<300])
        got += bulk.insert(contentsOf: arrival[300..<2000])
        got += bulk.insert(contentsOf: arrival[2000...])
        #expect(got == expected)
        #expect(bulk.insert(contentsOf: arrival[100..<1500]) == Array(repeating: nil, count: 1400))
        #expect(bulk.live == one.live)
        #expect(bulk.history() == one.history())
        for (i, e) in one.history().enumerated() where i % 11 == 0 {
            #expect(bulk.historyIndex(of: e.messageID) == i)
            #expect(bulk.historyEntry(at: i) == e)
        }
        // The bulk-built index keeps working incrementally (confirm moves, new inserts).
        for (i, e) in h.messages.filter({ $0.seq == nil }).enumerated() {
            one.confirm(e.messageID, seq: UInt64(10_000 + i), serverTimeMs: 1)
            bulk.confirm(e.messageID, seq: UInt64(10_000 + i), serverTimeMs: 1)
        }
        #expect(bulk.history().map(\.messageID) == one.history().map(\.messageID))
    }

    @Test func historyIndexBuiltFromSortedItemsStaysCorrect() {
        for (leaf, inner, n) in [(64, 64, 5000), (2, 3, 300), (4, 5, 1000), (3, 4, 1)] {
            var rng = SeededGenerator(seed: UInt64(n))
            var reference = (0..<n).map { i in
                HistoryKey(depth: CausalDepth(low: rng.next() % 10_000), seq: UInt64(i), messageID: MessageID(high: rng.next(), low: 0))
            }.sorted()
            var index = HistoryIndex(sorted: reference.enumerated().map { .init(key: $1, live: $0) },
                                     leafCapacity: leaf, innerCapacity: inner)
            var liveOf = Dictionary(uniqueKeysWithValues: reference.enumerated().map { ($1, $0) })
            var book = KeyBook(keys: Dictionary(uniqueKeysWithValues: reference.enumerated().map { ($0, $1) }))
            #expect(book.inOrder(index) == reference)
            for step in 0..<400 {
                if step % 3 == 0 && !reference.isEmpty {
                    let key = reference.remove(at: Int.random(in: 0..<reference.count, using: &rng))
                    let removed = index.remove(key, keys: book)
                    #expect(removed)
                } else {
                    let key = HistoryKey(depth: CausalDepth(low: rng.next() % 10_000), seq: nil, messageID: MessageID(high: rng.next(), low: 1))
                    book.keys[n + step] = key
                    index.insert(key, live: n + step, keys: book)
                    liveOf[key] = n + step
                    reference.insert(key, at: reference.firstIndex { key < $0 } ?? reference.count)
                }
            }
            #expect(book.inOrder(index) == reference)
            for (i, key) in reference.enumerated() where i % 7 == 0 {
                #expect(index.rank(of: key, keys: book) == i && index.live(at: i) == liveOf[key])
            }
        }
    }

    @Test func bulkInsertReservesAndReportsEachIndex() {
        let h = CausalHistory(seed: 5, nodes: 4, messages: 300)
        var a = Timeline(), b = Timeline()
        let first = Array(h.messages.prefix(200))
        b.insert(contentsOf: first)
        #expect(b.insert(contentsOf: h.messages) == Array(repeating: nil, count: 200) + (200..<300).map { Optional($0) })
        a.reserveCapacity(10)
        for m in h.messages { a.insert(m) }
        #expect(a.live == b.live && a.history() == b.history())
    }
}

/// History keys by live index, for history index tests (a timeline reads them from its records).
struct KeyBook: HistoryKeys {
    var keys: [Int: HistoryKey] = [:]

    func key(_ live: Int) -> HistoryKey { keys[live]! }

    /// The keys of `index`'s items in its order.
    func inOrder(_ index: HistoryIndex) -> [HistoryKey] {
        var out: [HistoryKey] = []
        index.forEach { out.append(keys[$0]!) }
        return out
    }
}
