/// One message as a device's timeline holds it.
public struct TimelineEntry: Sendable, Equatable {
    public var messageID: MessageID
    /// nil while the message is the device's own and not yet sequenced by the server.
    public var seq: UInt64?
    public var serverTimeMs: UInt64?
    public var senderUser: String
    public var senderNode: UInt64
    public var clock: VectorClock
    public var payload: [UInt8]

    public init(messageID: MessageID, seq: UInt64?, serverTimeMs: UInt64?, senderUser: String, senderNode: UInt64, clock: VectorClock, payload: [UInt8]) {
        self.messageID = messageID
        self.seq = seq
        self.serverTimeMs = serverTimeMs
        self.senderUser = senderUser
        self.senderNode = senderNode
        self.clock = clock
        self.payload = payload
    }

    public init(_ message: StoredMessage) {
        self.init(messageID: message.messageID, seq: message.seq, serverTimeMs: message.serverTimeMs,
                  senderUser: message.senderUser, senderNode: message.senderNode,
                  clock: message.clock, payload: message.payload)
    }
}

/// How the history view orders a conversation.
public enum HistoryOrder: Sendable, Equatable {
    /// A linear extension of happened-before; concurrent messages by (causal depth, seq, id).
    case causal
    /// The arrival-order fallback: history equals the live view.
    case arrival
}
