import Testing
@testable import IMRCore

/// Conversation create with members; roles: owners add and remove members and grant
/// ownership, any member may leave.
@Suite struct ServerMembershipTests {
    @Test(arguments: StoreKind.allCases)
    func createIncludesTheCreatorAndRefusesDuplicates(_ kind: StoreKind) throws {
        let h = try ServerHarness(kind)
        let alice = h.connect("alice")
        _ = h.take(alice)
        h.feed(.createConversation(CreateConversation(requestID: 1, conversation: "trip", members: ["bob", "carol", "bob"])), from: alice)
        let r = try #require(h.take(alice).first?.result)
        #expect(r == ConversationResult(requestID: 1, conversation: "trip", code: .ok, members: ["alice", "bob", "carol"], headSeq: 0,
                                        owners: ["alice"]))
        #expect(try h.store.owners(of: "trip") == ["alice"], "the creator is the owner")
        #expect(try h.store.members(of: "trip") == ["alice", "bob", "carol"])

        let dave = h.connect("dave")
        _ = h.take(dave)
        h.feed(.createConversation(CreateConversation(requestID: 2, conversation: "trip", members: ["dave"])), from: dave)
        let again = try #require(h.take(dave).first?.result)
        #expect(again.code == .alreadyExists)
        #expect(again.members.isEmpty, "a non-member learns nothing about the members")
        #expect(try h.store.members(of: "trip") == ["alice", "bob", "carol"])
        #expect(throws: ServerError.conversationExists("trip")) { try h.engine.createConversation("trip", members: []) }

        // The new conversation works at once, and shows up in the next welcome.
        h.send("hi", in: "trip", from: alice)
        #expect(h.take(alice).first?.ack?.seq == 1)
        let bob = h.connect("bob")
        #expect(h.take(bob).first?.welcome?.conversations == [ConversationHead(conversation: "trip", headSeq: 1)])
    }

    @Test(arguments: StoreKind.allCases)
    func onlyOwnersChangeMembership(_ kind: StoreKind) throws {
        let h = try ServerHarness(kind)
        try h.engine.createConversation("club", members: ["alice", "bob"], owners: ["alice"])
        let alice = h.connect("alice")
        let eve = h.connect("eve")
        _ = h.take(alice); _ = h.take(eve)

        h.feed(.addMember(MemberChange(requestID: 1, conversation: "club", user: "eve")), from: eve)
        h.feed(.removeMember(MemberChange(requestID: 2, conversation: "club", user: "alice")), from: eve)
        h.feed(.addMember(MemberChange(requestID: 3, conversation: "nowhere", user: "eve")), from: eve)
        #expect(h.take(eve).compactMap(\.result).map(\.code) == [.notMember, .notMember, .unknownConversation])
        #expect(try h.store.members(of: "club") == ["alice", "bob"])

        h.feed(.addMember(MemberChange(requestID: 4, conversation: "club", user: "carol")), from: alice)
        h.feed(.addMember(MemberChange(requestID: 5, conversation: "club", user: "carol")), from: alice)   // idempotent
        h.feed(.removeMember(MemberChange(requestID: 6, conversation: "club", user: "bob")), from: alice)
        let results = h.take(alice).compactMap(\.result)
        #expect(results.map(\.code) == [.ok, .ok, .ok])
        #expect(results.map(\.requestID) == [4, 5, 6])
        #expect(results.last?.members == ["alice", "carol"])
        #expect(try h.store.members(of: "club") == ["alice", "carol"])

        // A member who is not an owner changes nothing but itself.
        h.engine.closeSession(eve, now: h.now)
        try h.engine.addMember("bob", to: "club")
        let member = h.connect("bob")
        _ = h.take(member)
        h.feed(.removeMember(MemberChange(requestID: 10, conversation: "club", user: "alice")), from: member)
        h.feed(.addMember(MemberChange(requestID: 11, conversation: "club", user: "eve")), from: member)
        h.feed(.addMember(MemberChange(requestID: 12, conversation: "club", user: "bob", role: .owner)), from: member)
        #expect(h.take(member).compactMap(\.result).map(\.code) == [.notOwner, .notOwner, .notOwner])
        #expect(try h.store.members(of: "club") == ["alice", "bob", "carol"])
        #expect(try h.store.owners(of: "club") == ["alice"])
        // An owner grants ownership to a member; the new owner manages too.
        h.feed(.addMember(MemberChange(requestID: 13, conversation: "club", user: "bob", role: .owner)), from: alice)
        #expect(h.take(alice).compactMap(\.result).first?.owners == ["alice", "bob"])
        h.feed(.removeMember(MemberChange(requestID: 14, conversation: "club", user: "bob")), from: member)
        #expect(h.take(member).compactMap(\.result).map(\.code) == [.ok], "any member may leave")
        #expect(try h.store.owners(of: "club") == ["alice"], "leaving gives the role up")
        h.engine.closeSession(member, now: h.now)

        // A removed member can no longer send or sync; a member who leaves is out too.
        let bob = h.connect("bob")
        h.send("still in?", in: "club", from: bob)
        #expect(h.take(bob).compactMap(\.reject).map(\.code) == [.notMember])
        h.feed(.removeMember(MemberChange(requestID: 7, conversation: "club", user: "alice")), from: alice)
        _ = h.take(alice)
        h.send("gone", in: "club", from: alice)
        #expect(h.take(alice).compactMap(\.reject).map(\.code) == [.notMember])
        #expect(try h.store.members(of: "club") == ["carol"])
    }

    @Test(arguments: StoreKind.allCases)
    func newMembersGetPushesAtOnce(_ kind: StoreKind) throws {
        let h = try ServerHarness(kind)
        try h.engine.createConversation("club", members: ["alice"], owners: ["alice"])
        let alice = h.connect("alice")
        let bob = h.connect("bob")
        h.send("before", in: "club", from: alice)
        h.feed(.addMember(MemberChange(requestID: 1, conversation: "club", user: "bob")), from: alice)
        h.send("after", in: "club", from: alice)
        _ = h.take(alice)
        #expect(h.take(bob).compactMap(\.pushed).map(\.seq) == [2])
    }

    @Test func adminPathValidatesAndEnsures() throws {
        let h = try ServerHarness(.memory, config: ServerConfig(rateLimit: nil, maxMembersPerConversation: 3))
        #expect(throws: ServerError.self) { try h.engine.createConversation("", members: ["a"]) }
        #expect(throws: ServerError.self) { try h.engine.createConversation("x", members: ["a\u{0}b"]) }
        #expect(throws: ServerError.tooManyMembers(4, limit: 3)) { try h.engine.createConversation("x", members: ["a", "b", "c", "d"]) }
        #expect(try h.engine.createConversationIfMissing("g", members: ["a", "b"], owners: ["a"]))
        // Declared again (a host's next start): left as its members made it.
        #expect(try !h.engine.createConversationIfMissing("g", members: ["a", "b", "e"]))
        #expect(try h.store.members(of: "g") == ["a", "b"])
        #expect(try h.store.owners(of: "g") == ["a"])
        #expect(throws: ServerError.unknownConversation("nope")) { try h.engine.addMember("a", to: "nope") }
        let a = h.connect("a")
        h.feed(.addMember(MemberChange(requestID: 1, conversation: "g", user: "c")), from: a)
        h.feed(.addMember(MemberChange(requestID: 2, conversation: "g", user: "d")), from: a)
        #expect(h.take(a).compactMap(\.result).map(\.code) == [.ok, .invalid])
        // The admin path keeps the same limit; adding a member already in is no change.
        #expect(throws: ServerError.tooManyMembers(4, limit: 3)) { try h.engine.addMember("d", to: "g") }
        try h.engine.addMember("c", to: "g")
        #expect(try h.store.members(of: "g") == ["a", "b", "c"])
    }

    /// Found by fuzz-server: a conversation with more members than a frame may list (10,000
    /// against 1,024 by default, or a create naming 1,024 besides its creator) got results that
    /// did not encode: the answer was lost. A result lists the first members that fit.
    @Test func aResultListsNoMoreMembersThanAFrameMay() throws {
        var limits = WireLimits.default
        limits.maxMembersPerFrame = 2
        let h = try ServerHarness(.memory, config: ServerConfig(limits: limits, rateLimit: nil))
        let codec = FrameCodec(limits: limits)
        let d = h.connect("d")
        _ = h.take(d)
        let create = try codec.encode(.createConversation(CreateConversation(requestID: 1, conversation: "g", members: ["a", "b"])))
        create.withUnsafeBytes { h.engine.handle(frameBytes: $0, from: d, now: h.now) }
        h.engine.handle(.addMember(MemberChange(requestID: 2, conversation: "g", user: "c", role: .owner)), from: d, now: h.now)
        var results: [ConversationResult] = []
        while let out = h.engine.pollOutput() {
            if case let .frame(_, bytes) = out, let result = try codec.decode(bytes).result { results.append(result) }
        }
        #expect(results.map(\.code) == [.ok, .ok])
        #expect(results.map(\.members) == [["a", "b"], ["a", "b"]])
        #expect(results.map(\.owners) == [[], []])
        #expect(try h.store.members(of: "g") == ["a", "b", "c", "d"])
        #expect(h.engine.stats.storeFailures == 0)
    }
}

@Suite struct ServerAutoJoinTests {
    @Test(arguments: StoreKind.allCases)
    func usersJoinOpenRoomsAtHello(_ kind: StoreKind) throws {
        let h = try ServerHarness(kind, config: ServerConfig(rateLimit: nil, autoJoinConversations: ["lobby"]))
        let alice = h.connect("alice")
        #expect(h.take(alice).first?.welcome?.conversations == [ConversationHead(conversation: "lobby", headSeq: 0)])
        let bob = h.connect("bob")
        _ = h.take(bob)
        h.send("hi bob", in: "lobby", from: alice)
        _ = h.take(alice)
        #expect(h.take(bob).compactMap(\.pushed).map(\.seq) == [1])
        #expect(try h.store.members(of: "lobby") == ["alice", "bob"])
    }
}
