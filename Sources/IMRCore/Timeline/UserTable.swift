/// The sender user ids of one timeline, each held once and named by a 32-bit index.
///
/// A conversation has few senders and consecutive messages often share one, so the last
/// few looked up are compared before the dictionary is asked (a short string compares by
/// its raw bits; hashing it costs a SipHash).
struct UserTable: Sendable {
    private var names: [String] = []
    private var index: [String: UInt32] = [:]
    /// Recently used indices, most recent first.
    private var recent: (UInt32, UInt32, UInt32, UInt32) = (.max, .max, .max, .max)

    subscript(i: UInt32) -> String { names[Int(i)] }

    /// The index of `name`, adding it when new.
    mutating func index(of name: String) -> UInt32 {
        if let i = recentMatch(name) { return i }
        let i: UInt32
        if let known = index[name] {
            i = known
        } else {
            precondition(names.count < Int(UInt32.max), "too many senders")
            i = UInt32(names.count)
            names.append(name)
            index[name] = i
        }
        recent = (i, recent.0, recent.1, recent.2)
        return i
    }

    @inline(__always)
    private func recentMatch(_ name: String) -> UInt32? {
        if recent.0 != .max && names[Int(recent.0)] == name { return recent.0 }
        if recent.1 != .max && names[Int(recent.1)] == name { return recent.1 }
        if recent.2 != .max && names[Int(recent.2)] == name { return recent.2 }
        if recent.3 != .max && names[Int(recent.3)] == name { return recent.3 }
        return nil
    }
}
