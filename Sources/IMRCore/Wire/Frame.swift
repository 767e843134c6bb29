/// The value model of every frame of wire schema v1 (proto/imr.proto).
///
/// Frames are plain values; `FrameCodec` turns them into bytes and back through
/// protobuf-c, validating every field on the way in and out.
public enum Frame: Sendable, Equatable {
    case hello(Hello)
    case welcome(Welcome)
    case send(Send)
    case sendAck(SendAck)
    case sendReject(SendReject)
    case push(StoredMessage)
    case delivered(Delivered)
    case syncRequest(SyncRequest)
    case syncResponse(SyncResponse)
    case ping(nonce: UInt64)
    case pong(nonce: UInt64)
    case error(ErrorFrame)
    case createConversation(CreateConversation)
    case addMember(MemberChange)
    case removeMember(MemberChange)
    case conversationResult(ConversationResult)
    case receipt(Receipt)

    /// The schema version this build writes and reads.
    public static let wireVersion: UInt32 = 1
    /// The protocol version a client announces in its hello.
    public static let protocolVersion: UInt32 = 1
}

public struct Hello: Sendable, Equatable {
    public var token: String
    public var protocolVersion: UInt32
    public var deviceNode: UInt64
    public init(token: String, protocolVersion: UInt32 = Frame.protocolVersion, deviceNode: UInt64) {
        self.token = token
        self.protocolVersion = protocolVersion
        self.deviceNode = deviceNode
    }
}

/// The limits a server announces in its welcome.
public struct ServerLimits: Sendable, Equatable {
    public var maxFrameBytes: UInt32
    public var maxPayloadBytes: UInt32
    public var maxSyncPage: UInt32
    public var maxInflight: UInt32
    public init(maxFrameBytes: UInt32 = 1 << 20, maxPayloadBytes: UInt32 = 256 << 10, maxSyncPage: UInt32 = 256, maxInflight: UInt32 = 64) {
        self.maxFrameBytes = maxFrameBytes
        self.maxPayloadBytes = maxPayloadBytes
        self.maxSyncPage = maxSyncPage
        self.maxInflight = maxInflight
    }
}

public struct ConversationHead: Sendable, Equatable {
    public var conversation: String
    public var headSeq: UInt64
    public init(conversation: String, headSeq: UInt64) {
        self.conversation = conversation
        self.headSeq = headSeq
    }
}

public struct Welcome: Sendable, Equatable {
    public var user: String
    public var serverTimeMs: UInt64
    public var limits: ServerLimits
    public var conversations: [ConversationHead]
    public init(user: String, serverTimeMs: UInt64, limits: ServerLimits = ServerLimits(), conversations: [ConversationHead] = []) {
        self.user = user
        self.serverTimeMs = serverTimeMs
        self.limits = limits
        self.conversations = conversations
    }
}

public struct Send: Sendable, Equatable {
    public var conversation: String
    public var messageID: MessageID
    public var clock: VectorClock
    public var payload: [UInt8]
    public init(conversation: String, messageID: MessageID, clock: VectorClock, payload: [UInt8]) {
        self.conversation = conversation
        self.messageID = messageID
        self.clock = clock
        self.payload = payload
    }
}

public struct SendAck: Sendable, Equatable {
    public var messageID: MessageID
    public var conversation: String
    public var seq: UInt64
    public var serverTimeMs: UInt64
    public var duplicate: Bool
    public init(messageID: MessageID, conversation: String, seq: UInt64, serverTimeMs: UInt64, duplicate: Bool = false) {
        self.messageID = messageID
        self.conversation = conversation
        self.seq = seq
        self.serverTimeMs = serverTimeMs
        self.duplicate = duplicate
    }
}

/// Why the server refused a send. Unknown codes from newer peers pass through.
public struct RejectCode: RawRepresentable, Hashable, Sendable {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let unspecified = RejectCode(rawValue: 0)
    public static let notMember = RejectCode(rawValue: 1)
    public static let unknownConversation = RejectCode(rawValue: 2)
    public static let payloadTooLarge = RejectCode(rawValue: 3)
    public static let idConflict = RejectCode(rawValue: 4)
    public static let rateLimited = RejectCode(rawValue: 5)
    public static let invalid = RejectCode(rawValue: 6)
    public static let serverBusy = RejectCode(rawValue: 7)
}

public struct SendReject: Sendable, Equatable {
    public var messageID: MessageID
    public var conversation: String
    public var code: RejectCode
    /// Present when the rejection is transient: try again after this many milliseconds.
    public var retryAfterMs: UInt64?
    public var detail: String
    public init(messageID: MessageID, conversation: String, code: RejectCode, retryAfterMs: UInt64? = nil, detail: String = "") {
        self.messageID = messageID
        self.conversation = conversation
        self.code = code
        self.retryAfterMs = retryAfterMs
        self.detail = detail
    }
}

/// A message as the server stores it and pushes it.
public struct StoredMessage: Sendable, Equatable {
    public var conversation: String
    public var seq: UInt64
    public var serverTimeMs: UInt64
    public var senderUser: String
    public var senderNode: UInt64
    public var messageID: MessageID
    public var clock: VectorClock
    public var payload: [UInt8]
    public init(conversation: String, seq: UInt64, serverTimeMs: UInt64, senderUser: String, senderNode: UInt64, messageID: MessageID, clock: VectorClock, payload: [UInt8]) {
        self.conversation = conversation
        self.seq = seq
        self.serverTimeMs = serverTimeMs
        self.senderUser = senderUser
        self.senderNode = senderNode
        self.messageID = messageID
        self.clock = clock
        self.payload = payload
    }
}

public struct Watermark: Sendable, Equatable {
    public var conversation: String
    public var deliveredSeq: UInt64
    public var readSeq: UInt64?
    public init(conversation: String, deliveredSeq: UInt64, readSeq: UInt64? = nil) {
        self.conversation = conversation
        self.deliveredSeq = deliveredSeq
        self.readSeq = readSeq
    }
}

public struct Delivered: Sendable, Equatable {
    public var watermarks: [Watermark]
    public init(watermarks: [Watermark]) { self.watermarks = watermarks }
}

public struct SyncRequest: Sendable, Equatable {
    public var conversation: String
    public var afterSeq: UInt64
    /// 0 is a head probe: no messages, only the head seq.
    public var limit: UInt32
    public init(conversation: String, afterSeq: UInt64, limit: UInt32) {
        self.conversation = conversation
        self.afterSeq = afterSeq
        self.limit = limit
    }
}

public struct SyncResponse: Sendable, Equatable {
    public var conversation: String
    public var messages: [StoredMessage]
    public var headSeq: UInt64
    public var hasMore: Bool
    public var afterSeq: UInt64
    public init(conversation: String, messages: [StoredMessage], headSeq: UInt64, hasMore: Bool, afterSeq: UInt64) {
        self.conversation = conversation
        self.messages = messages
        self.headSeq = headSeq
        self.hasMore = hasMore
        self.afterSeq = afterSeq
    }
}

/// Error codes of the error frame. Unknown codes from newer peers pass through.
public struct ErrorCode: RawRepresentable, Hashable, Sendable {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let unspecified = ErrorCode(rawValue: 0)
    public static let badFrame = ErrorCode(rawValue: 1)
    public static let authFailed = ErrorCode(rawValue: 2)
    public static let tokenExpired = ErrorCode(rawValue: 3)
    public static let notAuthenticated = ErrorCode(rawValue: 4)
    public static let unsupportedVersion = ErrorCode(rawValue: 5)
    public static let notMember = ErrorCode(rawValue: 6)
    public static let unknownConversation = ErrorCode(rawValue: 7)
    public static let frameTooLarge = ErrorCode(rawValue: 8)
    public static let internalError = ErrorCode(rawValue: 9)
    public static let rateLimited = ErrorCode(rawValue: 10)
}

public struct ErrorFrame: Sendable, Equatable {
    public var code: ErrorCode
    public var detail: String
    /// The server closes the connection after a fatal error.
    public var fatal: Bool
    public init(code: ErrorCode, detail: String = "", fatal: Bool = false) {
        self.code = code
        self.detail = detail
        self.fatal = fatal
    }
}

public struct CreateConversation: Sendable, Equatable {
    public var requestID: UInt64
    public var conversation: String
    public var members: [String]
    public init(requestID: UInt64, conversation: String, members: [String]) {
        self.requestID = requestID
        self.conversation = conversation
        self.members = members
    }
}

/// Add or remove one member (the frame kind says which).
public struct MemberChange: Sendable, Equatable {
    public var requestID: UInt64
    public var conversation: String
    public var user: String
    /// For an add: the role `user` gets (an owner may grant ownership to a member already
    /// there this way). Ignored for a remove.
    public var role: MemberRole
    public init(requestID: UInt64, conversation: String, user: String, role: MemberRole = .member) {
        self.requestID = requestID
        self.conversation = conversation
        self.user = user
        self.role = role
    }
}

/// What a member may do in a conversation: owners add and remove
/// members and grant ownership; every member sends, syncs and may leave.
public struct MemberRole: RawRepresentable, Hashable, Sendable {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let member = MemberRole(rawValue: 0)
    public static let owner = MemberRole(rawValue: 1)
}

public struct ResultCode: RawRepresentable, Hashable, Sendable {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let ok = ResultCode(rawValue: 0)
    public static let notMember = ResultCode(rawValue: 1)
    public static let unknownConversation = ResultCode(rawValue: 2)
    public static let alreadyExists = ResultCode(rawValue: 3)
    public static let invalid = ResultCode(rawValue: 4)
    /// The change needs an owner of the conversation.
    public static let notOwner = ResultCode(rawValue: 5)
}

public struct ConversationResult: Sendable, Equatable {
    public var requestID: UInt64
    public var conversation: String
    public var code: ResultCode
    public var members: [String]
    public var headSeq: UInt64
    /// The members among `members` who are owners.
    public var owners: [String]
    public init(requestID: UInt64, conversation: String, code: ResultCode, members: [String] = [], headSeq: UInt64 = 0,
                owners: [String] = []) {
        self.requestID = requestID
        self.conversation = conversation
        self.code = code
        self.members = members
        self.headSeq = headSeq
        self.owners = owners
    }
}

/// How far another member has received (and read) a conversation.
public struct Receipt: Sendable, Equatable {
    public var conversation: String
    public var user: String
    public var deliveredSeq: UInt64
    public var readSeq: UInt64?
    public init(conversation: String, user: String, deliveredSeq: UInt64, readSeq: UInt64? = nil) {
        self.conversation = conversation
        self.user = user
        self.deliveredSeq = deliveredSeq
        self.readSeq = readSeq
    }
}
