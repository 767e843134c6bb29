/// Everything a client engine call can refuse, and every problem it reports in an
/// `.error` event. A call that throws changed nothing but the statistics counters.
public enum ClientError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Why a sync response was refused.
    public enum SyncPageProblem: Equatable, Sendable {
        /// Seqs not strictly increasing.
        case outOfOrder(previous: UInt64, next: UInt64)
        /// A message at or below the page's `afterSeq`.
        case overlapping(afterSeq: UInt64, seq: UInt64)
        /// A page that skips seqs the server must have.
        case hole(expected: UInt64, got: UInt64)
        /// More messages than asked for.
        case oversize(count: Int, limit: Int)
        /// A message of another conversation inside the page.
        case foreignMessage(String)
        /// A response for a conversation never asked about.
        case unsolicited
    }

    /// The configuration is not usable (see `ClientConfig.problem`).
    case invalidConfig(String)
    /// An empty, oversize, or NUL-containing conversation id.
    case invalidConversation(WireError.IdentifierProblem)
    case emptyPayload
    case payloadTooLarge(Int, limit: Int)
    /// No message with this id is in the outbox.
    case unknownMessage(MessageID)
    /// `retry` of a message that is not `failed`.
    case notFailed(MessageID)
    /// Bytes that are not a valid frame.
    case wire(WireError)
    /// The durable store failed (or a file that is not an imr client store was given).
    case store(SQLiteError)
    /// A send-ack or send-reject naming another conversation than the message's own.
    case ackConversationMismatch(MessageID, expected: String, got: String)
    /// A frame the server never sends to a client, or a welcome without a hello.
    case unexpectedFrame(String)
    /// A message with seq 0 (seqs start at 1).
    case invalidSeq(conversation: String, seq: UInt64)
    /// A message whose clock contradicts an earlier message of the same sender node (its own
    /// entry missing, two messages with the same counter, or the sender's view going backwards).
    case clockWentBackwards(conversation: String, node: UInt64, id: MessageID)
    case invalidSyncPage(conversation: String, SyncPageProblem)
    /// A sync cycle took `maxSyncPagesPerCycle` pages without reaching the head; it stops
    /// and resumes at the next probe or connect.
    case syncPageLimit(conversation: String, pages: Int)
    /// An error frame from the server.
    case server(ErrorCode, detail: String, fatal: Bool)

    public var description: String {
        switch self {
        case let .invalidConfig(s): return "invalid client configuration: \(s)"
        case let .invalidConversation(p): return "invalid conversation id: \(WireError.invalidIdentifier(field: "conversation", p))"
        case .emptyPayload: return "payload is empty"
        case let .payloadTooLarge(n, limit): return "payload of \(n) bytes exceeds the limit of \(limit)"
        case let .unknownMessage(id): return "no message \(id) in the outbox"
        case let .notFailed(id): return "message \(id) is not failed"
        case let .wire(e): return "bad frame: \(e)"
        case let .store(e): return "client store: \(e)"
        case let .ackConversationMismatch(id, expected, got):
            return "answer for \(id) names conversation \(got), the message belongs to \(expected)"
        case let .unexpectedFrame(kind): return "unexpected frame: \(kind)"
        case let .invalidSeq(c, seq): return "message with invalid seq \(seq) in \(c)"
        case let .clockWentBackwards(c, node, id): return "clock of message \(id) in \(c) goes backwards for node \(node)"
        case let .invalidSyncPage(c, p): return "invalid sync page for \(c): \(p)"
        case let .syncPageLimit(c, pages): return "sync of \(c) stopped after \(pages) pages without reaching the head"
        case let .server(code, detail, fatal): return "server error \(code.rawValue)\(fatal ? " (fatal)" : ""): \(detail)"
        }
    }
}
