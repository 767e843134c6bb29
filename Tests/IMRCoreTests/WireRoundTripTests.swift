import Testing
@testable import IMRCore

@Suite struct WireRoundTripTests {
    let codec = FrameCodec()

    @Test func sendFrameRoundTrips() throws {
        var rng = SeededGenerator(seed: 1)
        let id = MessageID.uuidV7(unixMilliseconds: 1_700_000_000_000, using: &rng)
        let clock = try VectorClock(entries: [.init(node: 3, counter: 2), .init(node: 1, counter: 5)])
        let frame = Frame.send(Send(conversation: "général", messageID: id, clock: clock, payload: Array("hello".utf8)))
        let bytes = try codec.encode(frame)
        #expect(try codec.decode(bytes) == frame)
        #expect(clock.entries.map(\.node) == [1, 3])
    }

    @Test func garbageIsATypedError() {
        #expect(throws: WireError.malformed) { try codec.decode([0xFF, 0xFF, 0xFF]) }
        #expect(throws: WireError.missingBody) { try codec.decode([]) }
    }

    @Test func splitterAcceptsOneByteAtATime() throws {
        var stream: [UInt8] = []
        try codec.encodeDelimited(.ping(nonce: 7), appendingTo: &stream)
        try codec.encodeDelimited(.pong(nonce: 8), appendingTo: &stream)
        var splitter = FrameSplitter()
        var frames: [Frame] = []
        for byte in stream {
            splitter.append([byte])
            while let f = try splitter.next() { frames.append(try codec.decode(f)) }
        }
        #expect(frames == [.ping(nonce: 7), .pong(nonce: 8)])
    }
}
