import Foundation
import IMRCore

/// Ordering figures (issue 4): vector clock compare/merge cost at 10, 100 and 1,000 active
/// senders; timeline insert rate; time to order a history of 1,000,000 messages from 1,000
/// senders (goal <= 2 s), with the memory it takes.
///
/// Clocks are realistic: every message carries its sender's knowledge (its own entry
/// incremented, merged with the clocks of the messages it had received, with random
/// delivery lag so that concurrent messages abound). In a conversation where all 1,000
/// senders read each other, every clock names all 1,000 nodes: 16 KB per message, 16 GB for
/// a million messages. The 1M history therefore models 1,000 senders as 50 communities of
/// 20 that talk among themselves inside one conversation (one seq space, one timeline):
/// clocks of at most 20 entries. The dense case is measured separately at 100,000 messages.
struct OrderingBench: BenchSuite {
    let name = "ordering"

    func run(quick: Bool) throws -> [BenchFigure] {
        var figures: [BenchFigure] = []
        for senders in [10, 100, 1000] {
            figures += clockFigures(senders: senders, quick: quick)
        }
        figures += insertFigures(quick: quick)
        figures += historyFigures(quick: quick)
        figures += denseHistoryFigures(quick: quick)
        return figures
    }

    // MARK: Clock compare and merge

    /// A pool of message clocks of one conversation with `senders` active senders, all of
    /// whom have sent and been heard (dense clocks, the steady state), with lagging delivery
    /// so that the pool mixes before, after and concurrent pairs.
    private func clockPool(senders: Int, size: Int, seed: UInt64) -> [VectorClock] {
        let messages = DenseConversation.messages(count: 3 * senders + size, senders: senders,
                                                  maxLag: max(3, senders / 10), seed: seed)
        return messages.suffix(size).map(\.clock)
    }

    private func clockFigures(senders: Int, quick: Bool) -> [BenchFigure] {
        let pool = clockPool(senders: senders, size: 256, seed: UInt64(senders))
        let ops = quick ? max(2_000, 2_000_000 / senders) : max(20_000, 40_000_000 / senders)
        let repeats = quick ? 3 : 9

        var relations = [CausalOrder: Int]()
        for i in 0..<pool.count { relations[pool[i].compare(pool[(i * 7 + 3) % pool.count]), default: 0] += 1 }

        var compareRuns: [Double] = [], mergeRuns: [Double] = [], mergedRuns: [Double] = []
        var sink = 0
        for _ in 0..<repeats {
            let t0 = monotonicSeconds()
            var i = 0, j = 1
            for _ in 0..<ops {
                switch pool[i].compare(pool[j]) {
                case .before: sink &+= 1
                case .after: sink &+= 2
                case .equal: sink &+= 3
                case .concurrent: sink &+= 4
                }
                i += 1; if i == pool.count { i = 0 }
                j += 3; if j >= pool.count { j -= pool.count }
            }
            compareRuns.append((monotonicSeconds() - t0) / Double(ops) * 1e9)

            // A receiver absorbing message clocks into its knowledge: in place.
            var knowledge = pool[0]
            let t1 = monotonicSeconds()
            i = 0
            for _ in 0..<ops {
                knowledge.merge(pool[i])
                i += 1; if i == pool.count { i = 0 }
            }
            mergeRuns.append((monotonicSeconds() - t1) / Double(ops) * 1e9)
            sink &+= knowledge.count

            // merged(with:) always produces a new clock: one allocation.
            let t2 = monotonicSeconds()
            i = 0; j = 5
            for _ in 0..<ops {
                sink &+= pool[i].merged(with: pool[j]).count
                i += 1; if i == pool.count { i = 0 }
                j += 1; if j == pool.count { j = 0 }
            }
            mergedRuns.append((monotonicSeconds() - t2) / Double(ops) * 1e9)
        }
        blackHole(sink)
        let mix = [CausalOrder.before, .after, .concurrent, .equal].map { "\(relations[$0] ?? 0)" }.joined(separator: "/")
        return [
            BenchFigure(key: "clock_compare_ns_\(senders)", value: median(compareRuns), unit: "ns/op",
                        label: "clock compare, \(senders) senders (before/after/conc/eq \(mix))"),
            BenchFigure(key: "clock_merge_ns_\(senders)", value: median(mergeRuns), unit: "ns/op",
                        label: "clock merge in place, \(senders) senders"),
            BenchFigure(key: "clock_merged_alloc_ns_\(senders)", value: median(mergedRuns), unit: "ns/op",
                        label: "clock merged(with:) (allocating), \(senders) senders"),
        ]
    }

    // MARK: Timeline insert rate

    private func insertFigures(quick: Bool) -> [BenchFigure] {
        // A busy group of 20 members: 200,000 messages, dense 20-entry clocks, arriving in
        // seq order with one in ten swapped with its neighbour (push reordering).
        let count = quick ? 20_000 : 200_000
        let messages = Community.conversation(messages: count, communities: 1, size: 20, seed: 20)
        var arrival = messages
        var rng = SeededGenerator(seed: 3)
        for i in stride(from: 1, to: arrival.count, by: 1) where rng.next() % 10 == 0 { arrival.swapAt(i - 1, i) }
        var runs: [Double] = []
        for _ in 0..<(quick ? 3 : 7) {
            let t0 = monotonicSeconds()
            var t = Timeline()
            for e in arrival { t.insert(e) }
            runs.append(Double(arrival.count) / (monotonicSeconds() - t0))
            blackHole(t.count)
        }
        return [BenchFigure(key: "timeline_insert_per_s", value: median(runs), unit: "msg/s",
                            label: "timeline insert, 20 senders, \(count / 1000)k msgs (history kept)")]
    }

    // MARK: 1M history

    private func historyFigures(quick: Bool) -> [BenchFigure] {
        let count = quick ? 100_000 : 1_000_000
        let label = quick ? "100k" : "1m"
        let rssBefore = residentBytes()
        let messages = Community.conversation(messages: count, communities: 50, size: 20, seed: 1000)
        let rssMessages = residentBytes() - rssBefore
        var clockEntries = 0
        for m in messages { clockEntries += m.clock.count }
        let senders = Set(messages.lazy.map(\.senderNode)).count

        // Ordered: insert everything one by one in seq order (a device syncing from scratch,
        // no capacity reserved), then read history().
        var orderRuns: [Double] = [], cpuRuns: [Double] = [], insertRuns: [Double] = [], readRuns: [Double] = []
        var timelineBytes = 0.0
        var pageRuns: [Double] = []
        for run in 0..<(quick ? 3 : 5) {
            let rss0 = residentBytes()
            let c0 = threadCPUSeconds()
            let t0 = monotonicSeconds()
            var t = Timeline()
            for e in messages { t.insert(e) }
            let t1 = monotonicSeconds()
            let history = t.history()
            let t2 = monotonicSeconds()
            cpuRuns.append(threadCPUSeconds() - c0)
            if run == 0 { timelineBytes = residentBytes() - rss0 }
            orderRuns.append(t2 - t0); insertRuns.append(t1 - t0); readRuns.append(t2 - t1)
            blackHole(history.count)
            // A screenful of the history at a random place (a UI scrolling, the C ABI's pages).
            let pages = 10_000, pageSize = 50
            var pageRNG = SeededGenerator(seed: UInt64(run))
            var shown = 0
            let p0 = monotonicSeconds()
            for _ in 0..<pages {
                let start = Int(pageRNG.next() % UInt64(t.count - pageSize))
                shown &+= t.history(in: start..<(start + pageSize)).count
            }
            pageRuns.append((monotonicSeconds() - p0) / Double(pages) * 1e6)
            blackHole(shown)
        }

        // Bulk: insert(contentsOf:) reserves the indexes' room first (a restart's reload).
        var bulkRuns: [Double] = []
        for _ in 0..<(quick ? 1 : 3) {
            let t0 = monotonicSeconds()
            var t = Timeline()
            t.insert(contentsOf: messages)
            let history = t.history()
            bulkRuns.append(monotonicSeconds() - t0)
            blackHole(history.count)
        }

        // Shuffled arrival (worst case for locality).
        var shuffled = messages
        var rng = SeededGenerator(seed: 9)
        shuffled.shuffle(using: &rng)
        var shuffledRuns: [Double] = []
        for _ in 0..<(quick ? 1 : 3) {
            let t0 = monotonicSeconds()
            var t = Timeline()
            for e in shuffled { t.insert(e) }
            let history = t.history()
            shuffledRuns.append(monotonicSeconds() - t0)
            blackHole(history.count)
        }

        // Reference: one comparison sort of the same messages by the history key.
        var sortRuns: [Double] = []
        for _ in 0..<(quick ? 1 : 3) {
            let t0 = monotonicSeconds()
            var keyed = messages.indices.map { (HistoryKey(messages[$0]), $0) }
            keyed.sort { $0.0 < $1.0 }
            sortRuns.append(monotonicSeconds() - t0)
            blackHole(keyed.count)
        }

        let mb = 1024.0 * 1024.0
        return [
            BenchFigure(key: "history_order_\(label)_s", value: median(orderRuns), unit: "s",
                        label: "order \(label) msgs from \(senders) senders (insert each + history())", goal: "<= 2 s"),
            BenchFigure(key: "history_order_\(label)_cpu_s", value: median(cpuRuns), unit: "s",
                        label: "  the same, CPU time of the thread"),
            BenchFigure(key: "history_order_\(label)_insert_s", value: median(insertRuns), unit: "s",
                        label: "  of which: \(label) timeline inserts"),
            BenchFigure(key: "history_order_\(label)_read_s", value: median(readRuns), unit: "s",
                        label: "  of which: history() copy"),
            BenchFigure(key: "history_page_\(label)_us", value: median(pageRuns), unit: "us",
                        label: "one page of 50 history entries at a random place of the \(label) timeline"),
            BenchFigure(key: "history_order_\(label)_bulk_s", value: median(bulkRuns), unit: "s",
                        label: "order \(label) msgs, insert(contentsOf:) + history()"),
            BenchFigure(key: "history_order_\(label)_shuffled_s", value: median(shuffledRuns), unit: "s",
                        label: "order \(label) msgs, random arrival order"),
            BenchFigure(key: "history_sort_\(label)_s", value: median(sortRuns), unit: "s",
                        label: "reference: one sort of \(label) msgs by history key"),
            BenchFigure(key: "history_\(label)_clock_entries_avg", value: Double(clockEntries) / Double(count), unit: "entries",
                        label: "mean clock size in the \(label) history"),
            BenchFigure(key: "history_\(label)_messages_mb", value: rssMessages / mb, unit: "MB",
                        label: "RSS of the \(label) messages (entries + clocks)"),
            BenchFigure(key: "history_\(label)_timeline_mb", value: timelineBytes / mb, unit: "MB",
                        label: "RSS added by a timeline of them + its history() copy"),
        ]
    }

    // MARK: Dense clocks

    /// 1,000 senders who all hear each other: every clock names every node.
    private func denseHistoryFigures(quick: Bool) -> [BenchFigure] {
        let count = quick ? 10_000 : 100_000
        let messages = DenseConversation.messages(count: count, senders: 1000, seed: 77)
        var entries = 0
        for m in messages { entries += m.clock.count }
        var runs: [Double] = []
        for _ in 0..<(quick ? 1 : 3) {
            let t0 = monotonicSeconds()
            var t = Timeline()
            for e in messages { t.insert(e) }
            let history = t.history()
            runs.append(monotonicSeconds() - t0)
            blackHole(history.count)
        }
        let label = "\(count / 1000)k"
        return [
            BenchFigure(key: "history_order_\(label)_dense1000_s", value: median(runs), unit: "s",
                        label: "order \(label) msgs, 1000 senders, dense clocks (mean \(entries / count) entries)"),
        ]
    }
}

// MARK: - Message generators

/// Members of a community who send, each stamping its knowledge; a member catches up on
/// the community's messages before sending, except the last few (random lag), so that
/// messages sent close together are concurrent.
private struct Community {
    let nodes: [UInt64]
    let maxLag: Int
    var knowledge: [VectorClock]
    var seenUpTo: [Int]
    var clocks: [VectorClock] = []

    init(senders: Int, firstNode: UInt64, maxLag: Int) {
        // Random-looking, distinct node ids (a 64-bit odd multiplier is a bijection).
        nodes = (0..<UInt64(senders)).map { ($0 + firstNode) &* 0x9E37_79B9_7F4A_7C15 }
        self.maxLag = maxLag
        knowledge = Array(repeating: VectorClock(), count: senders)
        seenUpTo = Array(repeating: 0, count: senders)
    }

    /// One member sends; returns its node and the message's clock.
    mutating func send(rng: inout SeededGenerator) -> (node: UInt64, clock: VectorClock) {
        let m = Int.random(in: 0..<nodes.count, using: &rng)
        let lag = Int.random(in: 0...maxLag, using: &rng)
        let upTo = max(seenUpTo[m], clocks.count - lag)
        for i in seenUpTo[m]..<upTo { knowledge[m].merge(clocks[i]) }
        seenUpTo[m] = upTo
        knowledge[m].increment(nodes[m])
        clocks.append(knowledge[m])
        return (nodes[m], knowledge[m])
    }

    /// `messages` messages of one conversation whose senders form `communities` groups of
    /// `size`, in seq order.
    static func conversation(messages: Int, communities: Int, size: Int, seed: UInt64) -> [TimelineEntry] {
        var groups = (0..<communities).map { Community(senders: size, firstNode: UInt64($0 * size + 1), maxLag: 3) }
        var rng = SeededGenerator(seed: seed)
        var out: [TimelineEntry] = []
        out.reserveCapacity(messages)
        var ms: UInt64 = 1_700_000_000_000
        for seq in 1...UInt64(messages) {
            let g = Int.random(in: 0..<communities, using: &rng)
            let (sender, clock) = groups[g].send(rng: &rng)
            ms += rng.next() % 3
            out.append(TimelineEntry(messageID: .uuidV7(unixMilliseconds: ms, using: &rng), seq: seq, serverTimeMs: ms,
                                     senderUser: "u\(sender % 1000)", senderNode: sender, clock: clock, payload: []))
        }
        groups.removeAll()      // the per-community clock logs are no longer needed
        return out
    }
}

/// Dense clocks without simulating every delivery: a message's clock is the conversation's
/// global counts as of a recent instant (random lag, never earlier than what its sender
/// already knew), with the sender's own entry current. Causally consistent by construction.
private enum DenseConversation {
    static func messages(count: Int, senders: Int, maxLag: Int = 40, seed: UInt64) -> [TimelineEntry] {
        var rng = SeededGenerator(seed: seed)
        let nodes = (0..<UInt64(senders)).map { ($0 + 1) &* 0x9E37_79B9_7F4A_7C15 }
        let order = nodes.indices.sorted { nodes[$0] < nodes[$1] }      // canonical order
        var rank = [Int](repeating: 0, count: senders)
        for (r, i) in order.enumerated() { rank[i] = r }
        var global = [UInt64](repeating: 0, count: senders)              // counts by canonical rank
        var senderOf: [Int] = []                                          // by message index
        var knownAt = [Int](repeating: 0, count: senders)                 // message count seen by each sender
        var out: [TimelineEntry] = []
        out.reserveCapacity(count)
        var ms: UInt64 = 1_700_000_000_000
        // The first `senders` messages are one per node, so that every node has sent.
        for seq in 1...UInt64(count) {
            let s = seq <= UInt64(senders) ? Int(seq - 1) : Int.random(in: 0..<senders, using: &rng)
            let lag = Int.random(in: 0...maxLag, using: &rng)
            let seen = max(knownAt[s], out.count - lag)
            knownAt[s] = seen
            // Counts as of `seen` messages: subtract the ones sent after.
            var counts = global
            for i in seen..<out.count { counts[rank[senderOf[i]]] -= 1 }
            global[rank[s]] += 1
            counts[rank[s]] = global[rank[s]]
            var entries: [VectorClock.Entry] = []
            entries.reserveCapacity(senders)
            for r in 0..<senders where counts[r] > 0 { entries.append(.init(node: nodes[order[r]], counter: counts[r])) }
            let clock = try! VectorClock(entries: entries)
            senderOf.append(s)
            ms += rng.next() % 3
            out.append(TimelineEntry(messageID: .uuidV7(unixMilliseconds: ms, using: &rng), seq: seq, serverTimeMs: ms,
                                     senderUser: "u\(s)", senderNode: nodes[s], clock: clock, payload: []))
        }
        return out
    }
}

/// CPU time consumed by the calling thread, in seconds (unaffected by other processes
/// competing for the cores, unlike wall time).
private func threadCPUSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

/// Resident set size of this process, in bytes (Linux; 0 elsewhere).
private func residentBytes() -> Double {
    guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
    let fields = text.split(separator: " ")
    guard fields.count > 1, let pages = Double(fields[1]) else { return 0 }
    return pages * Double(sysconf(Int32(_SC_PAGESIZE)))
}

@inline(never)
private func blackHole<T>(_ value: T) {
    withExtendedLifetime(value) {}
}
