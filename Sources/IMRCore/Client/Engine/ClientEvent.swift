/// Why a message ended `failed`.
public enum FailureReason: Sendable, Equatable {
    /// `maxAttempts` transmissions on a live connection went unacknowledged.
    case attemptsExhausted
    /// It waited offline longer than `maxOfflineAgeMs`.
    case maxOfflineAge
    /// The server refused it for good (a send-reject without retry-after).
    case rejected(RejectCode)
}

/// Where one of the device's own messages stands.
public enum MessageState: Sendable, Equatable {
    /// Not yet acknowledged; (re)transmitted while connected.
    case sending
    /// The server stored it as `seq` of its conversation.
    case sent(seq: UInt64, serverTimeMs: UInt64)
    /// Gave up; `retry` sends it again with the same id, and a late ack or a sync that finds it
    /// on the server still moves it to `sent`.
    case failed(FailureReason)
}

/// One of the device's own messages, as `outbox()` reports it.
public struct OutboxEntry: Sendable, Equatable {
    public var id: MessageID
    public var conversation: String
    public var state: MessageState
    /// Transmissions on a live connection since it was sent (or last retried).
    public var attempts: Int
    /// The server's seq once sent.
    public var seq: UInt64?

    public init(id: MessageID, conversation: String, state: MessageState, attempts: Int, seq: UInt64?) {
        self.id = id
        self.conversation = conversation
        self.state = state
        self.attempts = attempts
        self.seq = seq
    }
}

/// What the engine tells its host, drained with `pollEvent()`.
public enum ClientEvent: Sendable, Equatable {
    /// The welcome arrived: sends and syncs are flowing.
    case connectionReady
    /// An own message changed state (one event per change; a new message is `sending` without
    /// an event, since `send` returned its id).
    case stateChanged(id: MessageID, conversation: String, state: MessageState)
    /// A message of another device (or an own one from before a restart) was added to the
    /// conversation's timeline at `liveIndex`.
    case messageReceived(conversation: String, seq: UInt64, id: MessageID, senderUser: String, senderNode: UInt64,
                         payload: [UInt8], clock: VectorClock, liveIndex: Int)
    /// An own message got its seq (by ack, push or sync); its timeline entry at `liveIndex` was updated.
    case ownMessageConfirmed(conversation: String, id: MessageID, seq: UInt64, serverTimeMs: UInt64, liveIndex: Int)
    /// Seqs `from...to` are known to exist but are missing here.
    case gapOpened(conversation: String, from: UInt64, to: UInt64)
    /// The gap announced as `from...to` is filled (or grew and is now filled).
    case gapFilled(conversation: String, from: UInt64, to: UInt64)
    /// A sync cycle began (after connect, for a gap, or because a probe found new messages).
    case syncStarted(conversation: String)
    /// The sync cycle ended: caught up, stopped by the page limit, or abandoned by a disconnect.
    case syncFinished(conversation: String)
    /// Another member's delivered/read watermark.
    case receipt(Receipt)
    /// A problem found while running (server error frames, a sync that does not end, a dropped message).
    case error(ClientError)
}

/// Counters for tests, dashboards and bad-input accounting.
public struct ClientStats: Sendable, Equatable {
    // Sending leg.
    /// Messages created by `send`.
    public var messagesSent = 0
    /// Send frames transmitted on a live connection (first transmissions and retransmissions).
    public var transmissions = 0
    public var retransmissions = 0
    public var acks = 0
    /// Acks for messages already sent (answers to retransmissions).
    public var duplicateAcks = 0
    /// Acks or rejects for ids this device never sent: ignored.
    public var unknownAcks = 0
    /// Acks or rejects naming the wrong conversation: refused.
    public var mismatchedAcks = 0
    public var rejects = 0
    public var failures = 0
    public var manualRetries = 0
    /// Hellos sent again because no welcome came back in time.
    public var helloRetransmissions = 0

    // Receiving leg.
    public var messagesReceived = 0
    /// Own messages confirmed by push or sync rather than by their ack.
    public var ownEchoesMerged = 0
    /// Messages at or below the cursor (or already held), dropped.
    public var duplicatesDropped = 0
    /// Pushes above cursor+1 held until the gap closes.
    public var outOfOrderBuffered = 0
    /// Pushes not buffered because the per-conversation buffer was full (the sync fetches them).
    public var bufferOverflowDrops = 0
    /// Messages with seq 0 or a clock that goes backwards, dropped.
    public var invalidMessages = 0
    public var gapsOpened = 0
    public var gapsFilled = 0
    /// Sync cycles started.
    public var syncs = 0
    /// Sync page requests sent (including retries after timeouts).
    public var syncRequests = 0
    public var syncPages = 0
    public var syncTimeouts = 0
    public var invalidSyncPages = 0
    /// Sync responses that did not answer the request in flight (their messages are still used).
    public var staleSyncResponses = 0
    public var headProbes = 0
    public var deliveredFrames = 0

    // Connection.
    public var connections = 0
    public var badFrames = 0
    public var serverErrors = 0
    public var ignoredFrames = 0

    public init() {}
}
