@testable import IMRCore

/// A random, causally consistent conversation for property tests: nodes send (stamping
/// their knowledge, own entry incremented) and receive each other's messages after random
/// delays and in random order, merging clocks as a real client does. Seqs follow the
/// server's order (sends are sequenced as they happen), so seq respects causality.
struct CausalHistory {
    /// Every message, in seq order; the `pending` own messages of `nodes[0]` come last,
    /// with seq nil (sent by this device, not yet sequenced, seen by nobody else).
    var messages: [TimelineEntry]
    var nodes: [UInt64]

    init(seed: UInt64, nodes nodeCount: Int, messages messageCount: Int, pending: Int = 0, sendBias: Double = 0.5) {
        var rng = SeededGenerator(seed: seed)
        var ids: Set<UInt64> = []
        while ids.count < nodeCount { ids.insert(rng.next()) }
        nodes = Array(ids).shuffled(using: &rng)
        var knowledge = [VectorClock](repeating: VectorClock(), count: nodeCount)
        var undelivered: [(message: Int, to: Int)] = []
        messages = []
        var nowMs: UInt64 = 1_700_000_000_000

        func send(_ n: Int, sequenced: Bool, rng: inout SeededGenerator) {
            knowledge[n].increment(nodes[n])
            nowMs += UInt64.random(in: 0...3, using: &rng)     // equal ms: ids tie on time
            let seq = sequenced ? UInt64(messages.count + 1) : nil
            messages.append(TimelineEntry(
                messageID: .uuidV7(unixMilliseconds: nowMs, using: &rng), seq: seq,
                serverTimeMs: seq.map { _ in nowMs }, senderUser: "user\(n % 3)", senderNode: nodes[n],
                clock: knowledge[n], payload: [UInt8(truncatingIfNeeded: messages.count)]))
            if sequenced {
                for r in 0..<nodeCount where r != n { undelivered.append((messages.count - 1, r)) }
            }
        }

        while messages.count < messageCount {
            if undelivered.isEmpty || Double.random(in: 0..<1, using: &rng) < sendBias {
                send(Int.random(in: 0..<nodeCount, using: &rng), sequenced: true, rng: &rng)
            } else {
                let d = undelivered.remove(at: Int.random(in: 0..<undelivered.count, using: &rng))
                knowledge[d.to].merge(messages[d.message].clock)
            }
        }
        for _ in 0..<pending { send(0, sequenced: false, rng: &rng) }
    }
}

/// Reference definitions, quadratic and obviously correct.
enum Naive {
    /// A linear extension of happened-before: no later message happened before an earlier one.
    static func isLinearExtension(_ order: [TimelineEntry]) -> Bool {
        for i in order.indices {
            for j in order.indices where j > i {
                if order[j].clock.happenedBefore(order[i].clock) { return false }
            }
        }
        return true
    }

    static func keySorted(_ entries: [TimelineEntry]) -> [MessageID] {
        entries.sorted { HistoryKey($0) < HistoryKey($1) }.map(\.messageID)
    }

    /// The maximal messages among the held ones that happened before `target`.
    static func causalContext(of target: TimelineEntry, in held: [TimelineEntry]) -> Set<MessageID> {
        let before = held.filter { $0.clock.happenedBefore(target.clock) }
        return Set(before.filter { c in !before.contains { c.clock.happenedBefore($0.clock) } }.map(\.messageID))
    }

    /// Late: some message shown before it (in arrival order) does not precede-or-equal it.
    static func lateFlags(_ live: [TimelineEntry]) -> [Bool] {
        live.indices.map { i in
            live[..<i].contains { !live[i].clock.dominatesOrEquals($0.clock) }
        }
    }
}
