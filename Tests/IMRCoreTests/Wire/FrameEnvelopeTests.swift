import CProtobufC
import IMRWireC
import Testing
@testable import IMRCore

/// The codec packs and parses the `Frame` envelope itself around protobuf-c's work on the body
/// (`FrameEnvelope`). These tests hold it to protobuf-c's handling of the whole frame: the
/// same bytes out for every frame, and for any input the same frame or the same error.
@Suite struct FrameEnvelopeTests {
    @Test func packingGivesProtobufCsBytesForEveryKindOfFrame() throws {
        let codec = FrameCodec()
        var rng = FuzzRandom(seed: 0xE1_0E1)
        var kinds = Set<String>()
        for _ in 0..<3_000 {
            let frame = RandomFrameTests.randomFrame(&rng)
            kinds.insert(String(describing: frame).prefix { $0 != "(" }.description)
            let whole = try codec.packWhole(frame)
            let encoded = try codec.encode(frame)
            #expect(encoded == whole, "\(frame)")
            var delimited: [UInt8] = []
            try codec.encodeDelimited(frame, appendingTo: &delimited)
            #expect(Array(delimited.suffix(whole.count)) == whole)
        }
        // Every body of the oneof was packed (the generator covers them all).
        #expect(kinds.count >= 17, "\(kinds.sorted())")
        // A 2-byte body tag and a multi-byte length (field 16 and up; a body over 127 bytes).
        let big = Frame.push(StoredMessage(conversation: "c", seq: 1, serverTimeMs: 2, senderUser: "u", senderNode: 3,
                                           messageID: MessageID(high: 1, low: 2), clock: VectorClock(),
                                           payload: [UInt8](repeating: 7, count: 300)))
        #expect(try codec.encode(big) == codec.packWhole(big))
        let delivered = Frame.delivered(Delivered(watermarks: [Watermark(conversation: "c", deliveredSeq: 9)]))
        #expect(try codec.encode(delivered) == codec.packWhole(delivered))
    }

    @Test func parsingAgreesWithProtobufCOnValidAndMutatedInput() throws {
        let (corpus, _) = try RandomInputTests.corpus()
        var rng = FuzzRandom(seed: 0xE1_0E2)
        let codecs = [FrameCodec(), FrameCodec(limits: RandomInputTests.tightLimits)]
        var framesSeen = 0
        var disagreements: [String] = []
        for i in 0..<40_000 {
            let input: [UInt8]
            switch i % 4 {
            case 0: input = try codecs[0].encode(RandomFrameTests.randomFrame(&rng))
            case 1: input = rng.pick(corpus)
            default: input = RandomInputTests.mutant(of: corpus, using: &rng)
            }
            let codec = codecs[i % 8 == 7 ? 1 : 0]
            // What the codec writes always has the envelope's usual shape: the envelope's own parse runs.
            if i % 4 == 0 && !Self.takesEnvelopePath(input, codec) { disagreements.append("\(input): not parsed by the envelope") }
            let fast = input.withUnsafeBytes { bytes in Result { () throws(WireError) in try codec.decode(bytes) } }
            let whole = input.withUnsafeBytes { bytes in Result { () throws(WireError) in try codec.decodeWhole(bytes) } }
            if case .success = whole { framesSeen += 1 }
            if fast != whole && disagreements.count < 10 {
                disagreements.append("\(input): envelope \(fast), whole frame \(whole)")
            }
        }
        #expect(disagreements.isEmpty, "\(disagreements.joined(separator: "\n"))")
        #expect(framesSeen > 10_000)
    }

    /// Whether `FrameEnvelope` parses `input` itself (rather than leaving it to protobuf-c).
    static func takesEnvelopePath(_ input: [UInt8], _ codec: FrameCodec) -> Bool {
        defer { codec.arena.reset() }
        var allocator = codec.arena.protobufAllocator
        return input.withUnsafeBytes { bytes in
            codec.envelope.unpack(bytes, allocator: &allocator, arena: codec.arena) != nil
        }
    }

    @Test func anEnvelopeOfAnotherShapeIsLeftToProtobufC() throws {
        let codec = FrameCodec()
        let ack = try codec.encode(.sendAck(SendAck(messageID: MessageID(high: 5, low: 6), conversation: "c", seq: 4, serverTimeMs: 1)))
        #expect(Array(ack.prefix(3)) == [0x08, 0x01, 13 << 3 | 2])
        let body = Array(ack.dropFirst(4))
        // Version after the body, an unknown field after it, the body twice (merged), no version,
        // a non-minimal length: protobuf-c's answer in every case, frame or error.
        let reordered = [13 << 3 | 2, UInt8(body.count)] + body + [0x08, 0x01]
        let trailing = ack + [0xF8, 0x07, 0x01]              // field 127, varint 1
        let twice = ack + [13 << 3 | 2, UInt8(body.count)] + body
        let unversioned = [13 << 3 | 2, UInt8(body.count)] + body
        let paddedLength = [0x08, 0x01, 13 << 3 | 2, UInt8(body.count) | 0x80, 0x00] + body
        #expect(Self.takesEnvelopePath(ack, codec) && Self.takesEnvelopePath(paddedLength, codec))
        #expect(![reordered, trailing, twice, unversioned].contains { Self.takesEnvelopePath($0, codec) })
        for input in [reordered, trailing, twice, unversioned, paddedLength] {
            let fast = input.withUnsafeBytes { bytes in Result { () throws(WireError) in try codec.decode(bytes) } }
            let whole = input.withUnsafeBytes { bytes in Result { () throws(WireError) in try codec.decodeWhole(bytes) } }
            #expect(fast == whole, "\(input)")
        }
        let decoded = try codec.decode(reordered)
        guard case let .sendAck(a) = decoded else { Issue.record("\(decoded)"); return }
        #expect(a.seq == 4 && a.conversation == "c")
        #expect(throws: WireError.missingBody) { try codec.decode([0x08, 0x01]) }
    }
}
