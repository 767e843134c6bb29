import Testing
@testable import IMRCore

/// The codec refills a push's payload and clock arrays in place only when nothing holds the
/// last ones: every array handed out keeps its value.
@Suite struct RecycledArrayTests {
    private func push(_ payload: [UInt8], counter: UInt64, nodes: Int = 1) -> [UInt8] {
        var m = message("c", seq: counter, node: 5, counter: counter,
                        clock: (0..<UInt64(nodes - 1)).map { VectorClock.Entry(node: 10 + $0, counter: counter) })
        m.payload = payload
        return try! FrameCodec().encode(.push(m))
    }

    private func decoded(_ codec: FrameCodec, _ bytes: [UInt8]) throws -> StoredMessage {
        guard case let .push(m) = try codec.decode(bytes) else { throw WireError.missingBody }
        return m
    }

    private func address(_ a: [UInt8]) -> UnsafeRawPointer? { a.withUnsafeBytes { $0.baseAddress } }

    @Test func aPayloadStillHeldKeepsItsBytesWhileLaterPushesDecode() throws {
        let codec = FrameCodec()
        var kept: [StoredMessage] = []
        var expected: [[UInt8]] = []
        var rng = SeededGenerator(seed: 3)
        // Same sizes, growing, shrinking, empty, and over the size kept for recycling.
        for size in [8, 8, 8, 20, 3, 3, 0, 5, 5000, 5000, 7, 7] {
            let payload = (0..<size).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let m = try decoded(codec, push(payload, counter: UInt64(kept.count + 1), nodes: 1 + size % 4))
            #expect(m.payload == payload)
            kept.append(m)
            expected.append(payload)
        }
        #expect(kept.map(\.payload) == expected)
        #expect(kept.map { $0.clock[5] } == (1...UInt64(kept.count)).map { $0 })
        #expect(kept.map(\.clock.count) == [8, 8, 8, 20, 3, 3, 0, 5, 5000, 5000, 7, 7].map { 1 + $0 % 4 })
    }

    @Test func aPayloadLetGoIsRefilledInPlace() throws {
        let codec = FrameCodec()
        let first = try decoded(codec, push([1, 2, 3, 4], counter: 1)).payload
        let firstAddress = address(first)
        // Still held: the next push of the same size gets its own array.
        let second = try decoded(codec, push([5, 6, 7, 8], counter: 2)).payload
        #expect(first == [1, 2, 3, 4] && second == [5, 6, 7, 8])
        #expect(address(second) != firstAddress)
        let secondAddress = address(second)
        _ = consume second
        // An array of the same size, made now, would take the freed memory of an array let go
        // (so the address below proves the codec kept it, not that malloc handed it out again).
        let blocker = [UInt8](repeating: 0, count: 4)
        // Nothing holds it any more: refilled in place, same size or smaller.
        let third = try decoded(codec, push([9, 9, 9, 9], counter: 3)).payload
        #expect(third == [9, 9, 9, 9] && address(third) == secondAddress)
        _ = consume third
        let fourth = try decoded(codec, push([1, 2], counter: 4)).payload
        #expect(fourth == [1, 2] && address(fourth) == secondAddress)
        #expect(first == [1, 2, 3, 4] && blocker == [0, 0, 0, 0])
    }

    @Test func anEngineEventKeepsItsPayloadAndClockAfterTheNextPush() throws {
        let e = try ClientEngine(config: testConfig())
        try e.goLive(now: 0)
        _ = e.drainEvents()
        var held: [ClientEvent] = []
        for seq: UInt64 in 1...4 {
            var m = message("c", seq: seq, node: 5, counter: seq, clock: [.init(node: 6, counter: seq * 10)])
            m.payload = [UInt8](repeating: UInt8(seq), count: 16)
            let bytes = try FrameCodec().encode(.push(m))
            try bytes.withUnsafeBytes { try e.handle(frameBytes: $0, now: seq) }
            held += e.drainEvents()
        }
        let received = held.compactMap { event -> ([UInt8], UInt64)? in
            if case let .messageReceived(_, _, _, _, _, payload, clock, _) = event { return (payload, clock[6]) }
            return nil
        }
        #expect(received.map(\.0) == (1...4).map { [UInt8](repeating: UInt8($0), count: 16) })
        #expect(received.map(\.1) == [10, 20, 30, 40])
        #expect(e.clock("c")[6] == 40 && e.clock("c")[5] == 4)
    }
}
