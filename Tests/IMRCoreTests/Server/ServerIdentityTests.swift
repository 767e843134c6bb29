import Testing
@testable import IMRCore

/// Identifiers are compared as exact bytes; a name that is not in NFC is refused, so that a
/// look-alike ("jose" + U+0301 for "josé") can never reach another user's conversation.
@Suite struct ServerIdentityTests {
    static let composed = "jos\u{E9}"          // NFC
    static let decomposed = "jose\u{301}"      // NFD: canonically equal, other bytes

    @Test func theRuleSeesTheDifferenceStringEqualityHides() throws {
        #expect(Self.composed == Self.decomposed, "Swift's == is canonical equivalence")
        #expect(Array(Self.composed.utf8) != Array(Self.decomposed.utf8))
        #expect(IdentifierRules.isNFC(Self.composed))
        #expect(!IdentifierRules.isNFC(Self.decomposed))
        #expect(IdentifierRules.isNFC("plain-ascii") && IdentifierRules.isNFC("\u{AC00}") && !IdentifierRules.isNFC("\u{1100}\u{1161}"))
        #expect(throws: WireError.invalidIdentifier(field: "user", .notNFC)) {
            try IdentifierRules.validate(Self.decomposed, field: "user")
        }
        // The codec refuses it both ways: no such name is encoded or decoded.
        let loose = Frame.syncRequest(SyncRequest(conversation: Self.decomposed, afterSeq: 0, limit: 1))
        #expect(throws: WireError.invalidIdentifier(field: "conversation", .notNFC)) { try FrameCodec().encode(loose) }
        let bytes = try Self.encoded(loose, naming: Self.decomposed)
        #expect(throws: WireError.invalidIdentifier(field: "conversation", .notNFC)) { try FrameCodec().decode(bytes) }
    }

    /// A frame naming `name`, which the encoder would refuse (a hostile peer's bytes): encoded
    /// with an ASCII stand-in of the same length, whose bytes are then swapped for the name's.
    static func encoded(_ frame: Frame, naming name: String) throws -> [UInt8] {
        let target = Array(name.utf8)
        let standIn = String(repeating: "Z", count: target.count)
        func swapped(_ text: String) -> String { text == name ? standIn : text }
        let stood: Frame = switch frame {
        case let .syncRequest(r): .syncRequest(SyncRequest(conversation: swapped(r.conversation), afterSeq: r.afterSeq, limit: r.limit))
        case let .send(m): .send(Send(conversation: swapped(m.conversation), messageID: m.messageID, clock: m.clock, payload: m.payload))
        case let .createConversation(c): .createConversation(CreateConversation(requestID: c.requestID, conversation: swapped(c.conversation),
                                                                                members: c.members.map(swapped)))
        case let .addMember(c): .addMember(MemberChange(requestID: c.requestID, conversation: swapped(c.conversation), user: swapped(c.user)))
        case let .hello(hello): .hello(Hello(token: swapped(hello.token), deviceNode: hello.deviceNode))
        default: frame
        }
        var bytes = try FrameCodec().encode(stood)
        let pattern = Array(standIn.utf8)
        var i = 0
        while i + pattern.count <= bytes.count {
            if Array(bytes[i..<i + pattern.count]) == pattern {
                bytes.replaceSubrange(i..<i + pattern.count, with: target)
                i += pattern.count
            } else {
                i += 1
            }
        }
        return bytes
    }

    @Test(arguments: StoreKind.allCases)
    func aLookAlikeUserIsRefusedAtHello(_ kind: StoreKind) throws {
        let h = try ServerHarness(kind)
        try h.engine.createConversation("room", members: [Self.composed])
        let s = h.engine.openSession(now: h.now)
        h.feed(.hello(Hello(token: "tok:" + Self.decomposed, deviceNode: 1)), from: s)
        let frames = h.take(s)
        #expect(frames.count == 1 && frames[0].errorFrame?.code == .authFailed && frames[0].errorFrame?.fatal == true)
        #expect(h.closed.contains(s))
        // The real member is served.
        let jose = h.connect(Self.composed)
        #expect(h.take(jose).first?.welcome?.conversations.map(\.conversation) == ["room"])
    }

    @Test(arguments: StoreKind.allCases)
    func aLookAlikeConversationIsRefusedEvenAfterARestart(_ kind: StoreKind) throws {
        let h = try ServerHarness(kind)
        let cafe = "caf\u{E9}"
        try h.engine.createConversation(cafe, members: ["alice"], owners: ["alice"])
        let alice = h.connect("alice")
        h.send("secret", in: cafe, from: alice)
        _ = h.take(alice)
        try h.restart()
        let mallory = h.connect("mallory")
        _ = h.take(mallory)
        // Every request naming the decomposed look-alike is refused; a send by its id.
        let lookAlike = "cafe\u{301}"
        let id = h.newID()
        h.feedBytes(try Self.encoded(.send(Send(conversation: lookAlike, messageID: id, clock: VectorClock(), payload: [1])), naming: lookAlike),
                    from: mallory)
        for frame: Frame in [
            .createConversation(CreateConversation(requestID: 1, conversation: lookAlike, members: [])),
            .syncRequest(SyncRequest(conversation: lookAlike, afterSeq: 0, limit: 10)),
            .addMember(MemberChange(requestID: 2, conversation: lookAlike, user: "mallory")),
        ] {
            h.feedBytes(try Self.encoded(frame, naming: lookAlike), from: mallory)
        }
        let answers = h.take(mallory)
        #expect(answers.first?.reject.map { [$0.messageID == id, $0.code == .invalid] } == [true, true])
        #expect(answers.dropFirst().allSatisfy { $0.errorFrame?.code == .badFrame && $0.errorFrame?.fatal == false })
        #expect(answers.count == 4)
        #expect(try h.store.members(of: cafe) == ["alice"])
        #expect(try h.store.members(of: lookAlike) == nil)
        #expect(throws: ServerError.self) { try h.engine.createConversation(lookAlike, members: ["mallory"]) }
        // Nothing of the conversation reached mallory.
        #expect(!answers.contains { $0.pushed != nil || $0.sync != nil })
    }
}
