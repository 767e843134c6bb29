import IMRCore

/// Small pools of identifiers, so that scripts meet the same names again (a conversation
/// created then written to, a message id retransmitted or reused by another sender), and
/// a few that every engine must refuse.
public enum Names {
    /// Valid users; tokens are "t" + user (see `tokenOf`).
    public static let users = ["alice", "bob", "carol", "dave", "zoë"]
    /// Valid conversations first; then an empty one, one over the default limit, a NUL
    /// inside, and a look-alike of "café" that is not in NFC.
    public static let validConversations = ["general", "random", "ops", "café", "x"]
    public static let invalidConversations = ["", String(repeating: "c", count: 129), "nul\u{0}x", "cafe\u{301}"]

    /// Empty, unknown to every token table, a look-alike not in NFC, over the limit.
    static let oddUsers = ["", "eve", "zoe\u{308}", String(repeating: "u", count: 200)]

    public static func tokenOf(_ user: String) -> String { "t" + user }

    public static func conversation(_ input: inout FuzzInput) -> String {
        switch input.byte() % 16 {
        case 0: return input.pick(invalidConversations)
        case 1: return String(decoding: input.bytes(upTo: 12), as: UTF8.self)
        default: return input.pick(validConversations)
        }
    }

    public static func user(_ input: inout FuzzInput) -> String {
        switch input.byte() % 16 {
        case 0: return input.pick(oddUsers)
        case 1: return String(decoding: input.bytes(upTo: 8), as: UTF8.self)
        default: return input.pick(users)
        }
    }

    /// Ids from a pool of eight (so they collide), or any 128 bits.
    public static func messageID(_ input: inout FuzzInput) -> MessageID {
        let k = input.byte()
        if k < 224 { return MessageID(high: 0x0190_0000_7000 | UInt64(k % 8), low: 0x8000_0000_0000_0000) }
        return MessageID(high: input.u64Raw(), low: input.u64Raw())
    }

    /// A clock of up to a few entries over a handful of nodes; invalid entry lists
    /// (a node twice) give the empty clock.
    public static func clock(_ input: inout FuzzInput) -> VectorClock {
        let n = Int(input.byte() % 5)
        var entries: [VectorClock.Entry] = []
        for _ in 0..<n {
            entries.append(.init(node: UInt64(input.byte() % 6), counter: input.u64()))
        }
        return (try? VectorClock(entries: entries)) ?? VectorClock()
    }

    public static func payload(_ input: inout FuzzInput) -> [UInt8] {
        switch input.byte() % 16 {
        case 0: return []
        // Sizes around the limits a script may configure, and one over the default limit.
        case 1: return [UInt8](repeating: 0x61, count: input.pick([100, 1024, 1025, 4096, 262_145]))
        default: return input.bytes(upTo: 24)
        }
    }
}
