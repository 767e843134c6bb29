import Testing
@testable import IMRCore

@Suite struct RecentIdentifiersTests {
    private func lookup(_ table: inout RecentIdentifiers, _ s: String) -> String? {
        var s = s
        return s.withUTF8 { table.lookup($0.baseAddress!, count: $0.count) }
    }

    private func remember(_ table: inout RecentIdentifiers, _ s: String) {
        var copy = s
        copy.withUTF8 { table.remember(s, bytes: $0.baseAddress!, count: $0.count) }
    }

    @Test func aLookupGivesTheSameIdentifierOrNothing() {
        var table = RecentIdentifiers()
        var rng = SeededGenerator(seed: 5)
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz0123456789-_é")
        let ids = (0..<2_000).map { _ in String((0..<Int.random(in: 1...40, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! }) }
        for (i, id) in ids.enumerated() {
            remember(&table, id)
            // The id just remembered always hits; any id looked up is found as itself or not at all.
            #expect(lookup(&table, id) == id)
            let other = ids[Int.random(in: 0...i, using: &rng)]
            let found = lookup(&table, other)
            #expect(found == nil || found == other)
            // A string never remembered is never found (same length and edge bytes as an id).
            if id.utf8.count >= 3 {
                var bytes = Array(id.utf8)
                bytes[1] = bytes[1] == UInt8(ascii: "x") ? UInt8(ascii: "y") : UInt8(ascii: "x")
                let near = String(decoding: bytes, as: UTF8.self)
                if !ids[0...i].contains(near) { #expect(lookup(&table, near) == nil) }
            }
        }
    }

    @Test func aConversationAndItsSendersStayRememberedTogether() {
        // Ids of one family (same length and first byte, last byte differing) used in turn:
        // all stay held, however the sets fall (two ways per set).
        for family in [["room", "u0", "u1", "u2", "u3"], ["bench", "user0", "user1", "user2", "user3"],
                       ["c", "d", "conversation-1", "conversation-2", "conversation-3"]] {
            var table = RecentIdentifiers()
            for id in family { remember(&table, id) }
            #expect(family.allSatisfy { lookup(&table, $0) == $0 }, "\(family)")
        }
    }
}
