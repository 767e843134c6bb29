import Testing
import Foundation
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

/// Encode refuses whatever decode would refuse, with the same error.
@Suite struct WireEncodeValidationTests {
    let codec = FrameCodec()
    let id = MessageID(high: 0x018B_CFE5_6800_7000, low: 0x8000_0000_0000_0001)

    func send(_ conversation: String = "general", clock: VectorClock = VectorClock(), payload: [UInt8] = [1]) -> Frame {
        .send(Send(conversation: conversation, messageID: id, clock: clock, payload: payload))
    }

    func encodeError(_ frame: Frame, _ codec: FrameCodec? = nil) -> String? {
        do {
            _ = try (codec ?? self.codec).encode(frame)
            return nil
        } catch {
            return WireTestKit.errorName(error)
        }
    }

    @Test func identifiers() {
        #expect(encodeError(send("")) == "invalidIdentifier(conversation, empty)")
        #expect(encodeError(send(String(repeating: "c", count: 129))) == "invalidIdentifier(conversation, tooLong(129, limit: 128))")
        #expect(encodeError(send(String(repeating: "é", count: 65))) == "invalidIdentifier(conversation, tooLong(130, limit: 128))")
        #expect(encodeError(send(String(repeating: "c", count: 128))) == nil)
        #expect(encodeError(send("gen\0eral")) == "invalidIdentifier(conversation, containsNUL)")
        // Not in NFC: refused by the encoder as by the decoder (a frame that encodes must decode).
        #expect(encodeError(send("cafe\u{301}")) == "invalidIdentifier(conversation, notNFC)")
        #expect(encodeError(.welcome(Welcome(user: "zoe\u{308}", serverTimeMs: 1))) == "invalidIdentifier(user, notNFC)")
        #expect(encodeError(send("caf\u{e9}")) == nil)
        #expect(encodeError(.sendReject(SendReject(messageID: MessageID(high: 1, low: 1), conversation: "cafe\u{301}", code: .invalid)))
                == "invalidIdentifier(conversation, notNFC)")
        #expect(encodeError(.sendReject(SendReject(messageID: MessageID(high: 1, low: 1), conversation: "", code: .invalid))) == nil)
        #expect(encodeError(.createConversation(CreateConversation(requestID: 1, conversation: "t", members: ["a", ""])))
                == "invalidIdentifier(members, empty)")
        #expect(encodeError(.hello(Hello(token: String(repeating: "t", count: 4097), deviceNode: 1)))
                == "invalidIdentifier(token, tooLong(4097, limit: 4096))")
        #expect(encodeError(.hello(Hello(token: "", deviceNode: 1))) == nil)
        #expect(encodeError(.error(ErrorFrame(code: .badFrame, detail: "a\0b"))) == "invalidIdentifier(detail, containsNUL)")
    }

    @Test func payloadClockAndFrameLimits() throws {
        #expect(encodeError(send(payload: [UInt8](repeating: 7, count: 256 << 10))) == nil)
        #expect(encodeError(send(payload: [UInt8](repeating: 7, count: (256 << 10) + 1))) == "payloadTooLarge(262145, limit: 262144)")
        let big = try VectorClock(entries: (1...4097).map { .init(node: UInt64($0), counter: 1) }, maxEntries: 5000)
        #expect(encodeError(send(clock: big)) == "invalidClock(tooManyEntries(4097, limit: 4096))")
        let small = FrameCodec(limits: WireLimits(maxFrameBytes: 100, maxPayloadBytes: 1000))
        let frame = send(payload: [UInt8](repeating: 1, count: 200))
        let size = try codec.encode(frame).count
        #expect(encodeError(frame, small) == "frameTooLarge(\(size), limit: 100)")
        var stream: [UInt8] = [9]
        #expect(throws: WireError.frameTooLarge(size, limit: 100)) { try small.encodeDelimited(frame, appendingTo: &stream) }
        #expect(stream == [9])
    }

    /// Round trips at every limit boundary, with the default and with tight limits.
    @Test func boundariesRoundTrip() throws {
        let limits = WireLimits(maxFrameBytes: 4096, maxPayloadBytes: 100, maxIdentifierBytes: 4, maxClockEntries: 2, maxTokenBytes: 3)
        let tight = FrameCodec(limits: limits)
        let clock = try VectorClock(entries: [.init(node: 1, counter: 1), .init(node: .max, counter: .max)])
        let frames: [Frame] = [
            send("abcd", clock: clock, payload: [UInt8](repeating: 0, count: 100)),
            send("éé", payload: []),
            .hello(Hello(token: "abc", deviceNode: .max)),
        ]
        for f in frames {
            #expect(try tight.decode(try tight.encode(f)) == f)
            #expect(try codec.decode(try codec.encode(f)) == f)
        }
        #expect(encodeError(send("abcde"), tight) == "invalidIdentifier(conversation, tooLong(5, limit: 4))")
        let three = try VectorClock(entries: [.init(node: 1, counter: 1), .init(node: 2, counter: 1), .init(node: 3, counter: 1)])
        #expect(encodeError(send("a", clock: three), tight) == "invalidClock(tooManyEntries(3, limit: 2))")
        // Decode applies the same limits to bytes another encoder produced.
        #expect(throws: WireError.invalidClock(.tooManyEntries(3, limit: 2))) { try tight.decode(try codec.encode(send("a", clock: three))) }
    }

    /// A send frame encoded from the conversation's kept C string is the frame encoded from
    /// its String, byte for byte (and the String path still checks what the other trusts).
    @Test func aSendFromACheckedNameEncodesAsFromItsString() throws {
        let clock = try VectorClock(entries: [.init(node: 3, counter: 9), .init(node: 70, counter: 1)])
        let payload: [UInt8] = [1, 2, 3, 0, 5]
        let id = MessageID(high: 0x0192_0000_0000_7000, low: 42)
        for name in ["general", "é", String(repeating: "x", count: 128)] {
            let checked = strdup(name)!
            defer { free(checked) }
            let fromString = try clock.entries.withUnsafeBufferPointer { entries in
                try payload.withUnsafeBufferPointer { bytes in
                    defer { codec.releaseScratch() }
                    return Array(try codec.encodeSendInScratch(conversation: name, messageID: id, clock: entries, payload: bytes))
                }
            }
            let fromChecked = try clock.entries.withUnsafeBufferPointer { entries in
                try payload.withUnsafeBufferPointer { bytes in
                    defer { codec.releaseScratch() }
                    return Array(try codec.encodeSendInScratch(conversation: name, checkedName: checked, messageID: id,
                                                               clock: entries, payload: bytes))
                }
            }
            #expect(fromChecked == fromString)
            #expect(try codec.decode(fromChecked) == .send(Send(conversation: name, messageID: id, clock: clock, payload: payload)))
        }
    }

    /// A frame whose fields outgrow the decoder's scratch block (16 KiB at first) decodes
    /// whole, its later fields in blocks taken on the way, and a NUL hidden in a string there
    /// is still found (the length comes from the allocation, not from strlen). The block then
    /// grows, and the same frame decodes again from it alone.
    @Test func framesLargerThanTheDecodersScratchDecodeWhole() throws {
        let clock = try VectorClock(entries: (1...40).map { .init(node: UInt64($0), counter: UInt64($0) * 3) })
        let messages = (1...64 as ClosedRange<UInt64>).map { seq in
            StoredMessage(conversation: "big", seq: seq, serverTimeMs: seq, senderUser: seq == 64 ? "abXd" : "u\(seq % 5)",
                          senderNode: seq, messageID: MessageID(high: seq, low: ~seq), clock: clock,
                          payload: [UInt8](repeating: UInt8(truncatingIfNeeded: seq), count: 1_000))
        }
        let frame = Frame.syncResponse(SyncResponse(conversation: "big", messages: messages, headSeq: 64, hasMore: false, afterSeq: 0))
        let bytes = try codec.encode(frame)
        #expect(bytes.count > 64_000)
        // The last sender's "abXd" becomes "ab\0d" (same length, so the frame stays well formed).
        var hidden = bytes
        let at = try #require((0..<(hidden.count - 3)).last { hidden[$0..<($0 + 4)].elementsEqual(Array("abXd".utf8)) })
        hidden[at + 2] = 0
        // A fresh decoder meets each frame first in its small block, then in the grown one.
        for firstHidden in [true, false] {
            let fresh = FrameCodec()
            for _ in 0..<2 {
                if firstHidden {
                    #expect(throws: WireError.invalidIdentifier(field: "sender_user", .containsNUL)) { try fresh.decode(hidden) }
                }
                let same = try fresh.decode(bytes) == frame      // (a failure would print 64 KB)
                #expect(same)
                if !firstHidden {
                    #expect(throws: WireError.invalidIdentifier(field: "sender_user", .containsNUL)) { try fresh.decode(hidden) }
                }
            }
        }
    }

    /// Fields this schema does not know (a newer peer's) are skipped, at the top and nested.
    @Test func unknownFieldsAreIgnored() throws {
        let frame = send("general", payload: [1, 2, 3])
        let bytes = try codec.encode(frame)
        let unknownVarint: [UInt8] = [0xC0, 0x3E, 0x05]            // field 1000, varint 5
        let unknownBytes: [UInt8] = [0xAA, 0x01, 0x02, 0x68, 0x69]  // field 21 in Send, "hi"
        #expect(try codec.decode(bytes + unknownVarint) == frame)
        #expect(try codec.decode(unknownVarint + bytes) == frame)
        // Nest an unknown field inside the send body: rebuild the body with one more field.
        let body = Array(bytes[4...]) + unknownBytes                 // bytes: 08 01 62 LEN body
        #expect(bytes[3] == UInt8(bytes.count - 4))
        let nested = [0x08, 0x01, 0x62, UInt8(body.count)] + body
        #expect(try codec.decode(nested) == frame)
    }

    /// A clock on the wire that is not canonical (unsorted, zero counters) decodes to the
    /// canonical clock; the empty clock is not written at all.
    @Test func clocksAreCanonical() throws {
        let unsorted: [UInt8] = [0x08, 0x01, 0x62, 0x2D,
                                 0x0A, 0x01, 0x63,
                                 0x12, 0x10] + id.bytes + [
                                 0x1A, 0x16,
                                 0x12, 0x10, 9, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0,   // nodes 9, 3
                                 0x1A, 0x02, 0x02, 0x00]                                       // counters 2, 0
        // The same clock with each list element written unpacked (decoders accept both forms).
        let unpacked: [UInt8] = [0x08, 0x01, 0x62, 0x2D,
                                 0x0A, 0x01, 0x63,
                                 0x12, 0x10] + id.bytes + [
                                 0x1A, 0x16,
                                 0x11, 9, 0, 0, 0, 0, 0, 0, 0, 0x18, 0x02,
                                 0x11, 3, 0, 0, 0, 0, 0, 0, 0, 0x18, 0x00]
        guard case let .send(u) = try codec.decode(unpacked) else { Issue.record("not a send"); return }
        #expect(u.clock == (try VectorClock(entries: [.init(node: 9, counter: 2)])))
        guard case let .send(s) = try codec.decode(unsorted) else { Issue.record("not a send"); return }
        #expect(s.clock == (try VectorClock(entries: [.init(node: 9, counter: 2)])))
        let noClock = try codec.encode(send("c", payload: []))
        #expect(noClock == [0x08, 0x01, 0x62, 0x15, 0x0A, 0x01, 0x63, 0x12, 0x10] + id.bytes)
    }
}
