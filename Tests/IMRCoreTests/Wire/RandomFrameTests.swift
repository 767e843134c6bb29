import Testing
@testable import IMRCore

/// Random valid frames of every kind (seeded): encode, decode and the stream form give the
/// same frame back, and whatever encode accepts, decode accepts under the same limits.
@Suite struct RandomFrameTests {
    @Test func randomFramesRoundTrip() throws {
        var rng = FuzzRandom(seed: 0x5EED)
        let limits = [WireLimits.default,
                      WireLimits(maxFrameBytes: 2048, maxPayloadBytes: 300, maxIdentifierBytes: 12, maxClockEntries: 5, maxTokenBytes: 20)]
        let codecs = limits.map { FrameCodec(limits: $0) }
        var encoded = 0, refused = 0
        var stream: [UInt8] = []
        var expected: [Frame] = []
        for i in 0..<3_000 {
            let frame = Self.randomFrame(&rng)
            let codec = codecs[i % 2]
            let bytes: [UInt8]
            do {
                bytes = try codec.encode(frame)
            } catch {
                // Only the limits may refuse a generated frame, and only the tight ones.
                #expect(i % 2 == 1, "default limits refused \(frame): \(error)")
                refused += 1
                continue
            }
            encoded += 1
            #expect(try codec.decode(bytes) == frame)
            if i % 2 == 0 {
                try codec.encodeDelimited(frame, appendingTo: &stream)
                expected.append(frame)
            }
        }
        var splitter = FrameSplitter()
        var start = 0
        var got: [Frame] = []
        while start < stream.count {
            let n = rng.int(1...500)
            splitter.append(stream[start..<min(start + n, stream.count)])
            start += n
            while let f = try splitter.next() { got.append(try codecs[0].decode(f)) }
        }
        #expect(got == expected)
        #expect(encoded > 2_000 && refused > 0)
    }

    /// `FrameCodec.pack` sizes its buffer by a bound instead of measuring: the bound must
    /// hold for every frame, the extreme ones (10-byte varints, negative enum values) first.
    @Test func packedSizeBoundHoldsForEveryFrame() throws {
        let codec = FrameCodec()
        let id = MessageID(high: .max, low: .max)
        let extremes: [Frame] = [
            .sendReject(SendReject(messageID: id, conversation: "c", code: RejectCode(rawValue: .max),
                                   retryAfterMs: .max, detail: "")),
            .sendAck(SendAck(messageID: id, conversation: "c", seq: .max, serverTimeMs: .max, duplicate: true)),
            .ping(nonce: .max), .pong(nonce: .max),
            .delivered(Delivered(watermarks: (0..<50).map { _ in Watermark(conversation: "c", deliveredSeq: .max, readSeq: .max) })),
        ]
        var rng = FuzzRandom(seed: 0xB0_0D)
        var checked = 0
        for frame in extremes + (0..<5_000).map({ _ in Self.randomFrame(&rng) }) {
            let (bound, exact) = try codec.packedSizeCheck(frame)
            #expect(exact <= bound, "bound \(bound) < packed \(exact) for \(frame)")
            checked += 1
        }
        #expect(checked == extremes.count + 5_000)
    }

    static func randomFrame(_ rng: inout FuzzRandom) -> Frame {
        switch rng.int(0..<17) {
        case 0: return .hello(Hello(token: text(&rng, max: 24, allowEmpty: true), protocolVersion: UInt32(truncatingIfNeeded: u64(&rng)), deviceNode: u64(&rng)))
        case 1:
            return .welcome(Welcome(user: id(&rng), serverTimeMs: u64(&rng),
                                    limits: ServerLimits(maxFrameBytes: u32(&rng), maxPayloadBytes: u32(&rng), maxSyncPage: u32(&rng), maxInflight: u32(&rng)),
                                    conversations: (0..<rng.int(0...4)).map { _ in ConversationHead(conversation: id(&rng), headSeq: u64(&rng)) }))
        case 2: return .send(Send(conversation: id(&rng), messageID: messageID(&rng), clock: clock(&rng), payload: payload(&rng)))
        case 3: return .sendAck(SendAck(messageID: messageID(&rng), conversation: id(&rng), seq: u64(&rng), serverTimeMs: u64(&rng), duplicate: rng.int(0...1) == 1))
        case 4:
            return .sendReject(SendReject(messageID: messageID(&rng), conversation: id(&rng), code: RejectCode(rawValue: u32(&rng)),
                                          retryAfterMs: rng.int(0...1) == 1 ? u64(&rng) : nil, detail: text(&rng, max: 30, allowEmpty: true)))
        case 5: return .push(stored(&rng))
        case 6:
            return .delivered(Delivered(watermarks: (0..<rng.int(0...4)).map { _ in
                Watermark(conversation: id(&rng), deliveredSeq: u64(&rng), readSeq: rng.int(0...1) == 1 ? u64(&rng) : nil)
            }))
        case 7: return .syncRequest(SyncRequest(conversation: id(&rng), afterSeq: u64(&rng), limit: u32(&rng)))
        case 8:
            return .syncResponse(SyncResponse(conversation: id(&rng), messages: (0..<rng.int(0...3)).map { _ in stored(&rng) },
                                              headSeq: u64(&rng), hasMore: rng.int(0...1) == 1, afterSeq: u64(&rng)))
        case 9: return .ping(nonce: u64(&rng))
        case 10: return .pong(nonce: u64(&rng))
        case 11: return .error(ErrorFrame(code: ErrorCode(rawValue: u32(&rng)), detail: text(&rng, max: 40, allowEmpty: true), fatal: rng.int(0...1) == 1))
        case 12: return .createConversation(CreateConversation(requestID: u64(&rng), conversation: id(&rng), members: (0..<rng.int(0...5)).map { _ in id(&rng) }))
        case 13: return .addMember(MemberChange(requestID: u64(&rng), conversation: id(&rng), user: id(&rng)))
        case 14: return .removeMember(MemberChange(requestID: u64(&rng), conversation: id(&rng), user: id(&rng)))
        case 15:
            return .conversationResult(ConversationResult(requestID: u64(&rng), conversation: id(&rng), code: ResultCode(rawValue: u32(&rng)),
                                                          members: (0..<rng.int(0...5)).map { _ in id(&rng) }, headSeq: u64(&rng)))
        default:
            return .receipt(Receipt(conversation: id(&rng), user: id(&rng), deliveredSeq: u64(&rng), readSeq: rng.int(0...1) == 1 ? u64(&rng) : nil))
        }
    }

    /// Small and edge values more often than uniform ones: 0, 1, powers of two, the maximum.
    static func u64(_ rng: inout FuzzRandom) -> UInt64 {
        switch rng.int(0..<6) {
        case 0: return 0
        case 1: return UInt64(rng.int(1...300))
        case 2: return 1 << UInt64(rng.int(0...63))
        case 3: return .max
        default: return rng.u64()
        }
    }

    static func u32(_ rng: inout FuzzRandom) -> UInt32 { UInt32(truncatingIfNeeded: u64(&rng)) }

    static let alphabet: [String] = ["a", "b", "Z", "0", "-", "_", " ", "é", "ß", "会", "話", "🚀", "\u{7F}", "\n", "\u{FFFD}"]

    static func text(_ rng: inout FuzzRandom, max: Int, allowEmpty: Bool) -> String {
        var s = ""
        for _ in 0..<rng.int((allowEmpty ? 0 : 1)...max) { s += rng.pick(alphabet) }
        return s
    }

    static func id(_ rng: inout FuzzRandom) -> String { text(&rng, max: 8, allowEmpty: false) }

    static func messageID(_ rng: inout FuzzRandom) -> MessageID { MessageID(high: u64(&rng), low: u64(&rng)) }

    static func clock(_ rng: inout FuzzRandom) -> VectorClock {
        let entries = (0..<rng.int(0...7)).map { _ in VectorClock.Entry(node: u64(&rng), counter: u64(&rng)) }
        // Duplicate nodes are not a clock; keep the first of each.
        var seen = Set<UInt64>()
        return (try? VectorClock(entries: entries.filter { seen.insert($0.node).inserted })) ?? VectorClock()
    }

    static func payload(_ rng: inout FuzzRandom) -> [UInt8] {
        (0..<rng.int(0...(rng.int(0...9) == 0 ? 400 : 40))).map { _ in rng.byte() }
    }

    static func stored(_ rng: inout FuzzRandom) -> StoredMessage {
        StoredMessage(conversation: id(&rng), seq: u64(&rng), serverTimeMs: u64(&rng), senderUser: id(&rng), senderNode: u64(&rng),
                      messageID: messageID(&rng), clock: clock(&rng), payload: payload(&rng))
    }
}
