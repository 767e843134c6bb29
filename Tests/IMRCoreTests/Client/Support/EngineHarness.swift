@_spi(Benchmarks) @testable import IMRCore

/// Small helpers to drive one engine by hand in unit tests.
extension ClientEngine {
    /// Every queued frame, as values (the codec is exercised separately).
    func drainFrames() -> [Frame] {
        var out: [Frame] = []
        while let f = pollTransmitFrame() { out.append(f) }
        return out
    }

    func drainEvents() -> [ClientEvent] {
        var out: [ClientEvent] = []
        while let e = pollEvent() { out.append(e) }
        return out
    }

    /// connected + welcome; returns the frames queued after the welcome.
    @discardableResult
    func goLive(now: UInt64, user: String = "me", heads: [ConversationHead] = [], maxInflight: UInt32 = 0) throws -> [Frame] {
        connected(now: now)
        _ = drainFrames()
        try handle(.welcome(Welcome(user: user, serverTimeMs: now, limits: ServerLimits(maxInflight: maxInflight),
                                    conversations: heads)), now: now)
        return drainFrames()
    }

    func state(of id: MessageID) -> MessageState? {
        outbox().first { $0.id == id }?.state
    }
}

extension Frame {
    var send: Send? { if case let .send(s) = self { return s } else { return nil } }
    var syncRequest: SyncRequest? { if case let .syncRequest(s) = self { return s } else { return nil } }
    var delivered: Delivered? { if case let .delivered(d) = self { return d } else { return nil } }
}

extension ClientEvent {
    var stateChange: (MessageID, MessageState)? {
        if case let .stateChanged(id, _, state) = self { return (id, state) } else { return nil }
    }
}

func testConfig(node: UInt64 = 1, _ tweak: (inout ClientConfig) -> Void = { _ in }) -> ClientConfig {
    var c = ClientConfig(nodeID: node, token: "t\(node)", ackTimeoutBaseMs: 100, backoffFactor: 2, backoffCapMs: 1_000,
                         jitter: 0, maxAttempts: 4, maxOfflineAgeMs: 10_000, inflightWindow: 8, seed: node,
                         gapGraceMs: 50, syncPageSize: 10, syncTimeoutMs: 500, pollIntervalMs: 0, deliveredFlushMs: 0)
    tweak(&c)
    return c
}

func message(_ conversation: String, seq: UInt64, node: UInt64, counter: UInt64, id: UInt64? = nil,
             clock extra: [VectorClock.Entry] = [], payload: String = "m") -> StoredMessage {
    let clock = try! VectorClock(entries: [VectorClock.Entry(node: node, counter: counter)] + extra)
    return StoredMessage(conversation: conversation, seq: seq, serverTimeMs: 1_000 + seq, senderUser: "u\(node)",
                         senderNode: node, messageID: MessageID(high: 0x7000 | node << 20, low: id ?? (node << 32 | counter)),
                         clock: clock, payload: Array(payload.utf8))
}
