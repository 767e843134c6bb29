/// One connection's session on the server. Opaque to hosts; stable for the session's life
/// and never reused by the same engine.
public struct SessionID: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }
    public static func < (a: SessionID, b: SessionID) -> Bool { a.rawValue < b.rawValue }
    public var description: String { "s\(rawValue)" }
}

/// What the host must do next, drained with `ServerEngine.pollOutput()`.
public enum ServerOutput: Sendable, Equatable {
    /// Transmit this encoded frame (not length-delimited: stream hosts add the varint prefix).
    case frame(SessionID, [UInt8])
    /// Close the connection after transmitting what was polled before. The session is gone;
    /// `closeSession` for it is harmless.
    case close(SessionID)
}

/// Things a host may log or count, drained with `ServerEngine.pollEvent()`. Purely informative:
/// ignoring them changes nothing (the queue is bounded).
public enum ServerEvent: Sendable, Equatable {
    case authenticated(SessionID, user: String, node: UInt64)
    case authenticationFailed(SessionID, ErrorCode)
    /// A message was stored with this seq (the ack is queued).
    case accepted(conversation: String, seq: UInt64, messageID: MessageID, sender: String)
    /// A retransmission of a stored message was acknowledged again (duplicate flag set).
    case duplicateAcknowledged(conversation: String, seq: UInt64, messageID: MessageID)
    case rejected(SessionID, messageID: MessageID, code: RejectCode)
    /// The session's outbound backlog hit the bound: pushes to it stopped.
    case sessionBehind(SessionID)
    /// A behind session drained; it got a head hint per conversation it missed pushes in.
    case sessionRecovered(SessionID)
    /// The engine closed the session (the reason in words).
    case sessionClosed(SessionID, reason: String)
    /// A frame the session sent was refused (bad bytes, wrong direction, before hello, ...).
    case protocolViolation(SessionID, String)
    case storeFailure(String)
    case membershipChanged(conversation: String, members: [String])
}

/// Counters since the engine started.
public struct ServerStats: Sendable, Equatable {
    public var sessionsOpen = 0
    public var sessionsAuthenticated = 0
    public var sessionsOpened = 0
    public var sessionsClosedByServer = 0
    public var framesIn = 0
    public var framesOut = 0
    public var accepted = 0
    public var duplicates = 0
    public var rejected = 0
    public var rateLimited = 0
    public var pushesQueued = 0
    /// Pushes not queued because the session was behind (it catches up by sync).
    public var pushesDropped = 0
    public var receiptsQueued = 0
    public var syncRequests = 0
    public var syncMessages = 0
    public var protocolViolations = 0
    public var authFailures = 0
    /// Hellos repeated on an authenticated session (a lost welcome), answered again.
    public var repeatedHellos = 0
    public var storeFailures = 0
    /// Times a session's input was paused for its budgets (its requests waited).
    public var sessionsPaused = 0
    /// Frames that waited in a session's parked input.
    public var framesParked = 0
    public var eventsDropped = 0
    public init() {}
}

/// Errors of the engine's host-facing admin calls.
public enum ServerError: Error, Equatable, Sendable {
    case conversationExists(String)
    case unknownConversation(String)
    case invalidIdentifier(WireError)
    case tooManyMembers(Int, limit: Int)
    /// The store could not commit; the change was rolled back.
    case storeCommitFailed
}
