import CIMR
import IMRCore

// Error codes: their texts, the fatal predicate, and the mapping of Swift errors.

@c @implementation
public func imr_strerror(_ code: Int32) -> UnsafePointer<CChar>? {
    let text: StaticString
    switch code {
    case IMR_OK: text = "success"
    case IMR_ERR_NULL: text = "a required pointer argument is NULL"
    case IMR_ERR_INVALID_ARG: text = "invalid argument"
    case IMR_ERR_BUFFER_TOO_SMALL: text = "buffer too small"
    case IMR_ERR_TOO_LARGE: text = "a length exceeds its limit"
    case IMR_ERR_INVALID_ID: text = "identifier is empty, not valid UTF-8, not in Unicode NFC, or contains NUL"
    case IMR_ERR_MALFORMED_FRAME: text = "malformed frame"
    case IMR_ERR_UNSUPPORTED_VERSION: text = "unsupported wire version"
    case IMR_ERR_INVALID_CLOCK: text = "invalid vector clock"
    case IMR_ERR_FRAME_TOO_LARGE: text = "frame length exceeds the maximum frame size"
    case IMR_ERR_MALFORMED_LENGTH: text = "malformed varint length prefix"
    case IMR_ERR_STREAM_FAILED: text = "stream framing failed earlier; the connection must be reset"
    case IMR_ERR_NOT_FOUND: text = "not found"
    case IMR_ERR_EXISTS: text = "already exists"
    case IMR_ERR_STORE: text = "durable store failure"
    case IMR_ERR_INTERNAL: text = "internal error"
    case IMR_ERR_INVALID_STATE: text = "operation not allowed in the current state"
    case IMR_ERR_PROTOCOL: text = "the server broke the protocol"
    default: text = "unknown error"
    }
    return UnsafeRawPointer(text.utf8Start).assumingMemoryBound(to: CChar.self)
}

@c @implementation
public func imr_error_is_fatal(_ code: Int32) -> Int32 {
    switch code {
    case IMR_ERR_FRAME_TOO_LARGE, IMR_ERR_MALFORMED_LENGTH, IMR_ERR_STREAM_FAILED, IMR_ERR_INTERNAL: 1
    default: 0
    }
}

extension ABIFailure {
    /// The code of a wire-layer error.
    init(_ error: WireError) {
        switch error {
        case .malformed, .missingBody, .missingField, .invalidMessageID:
            self.init(IMR_ERR_MALFORMED_FRAME)
        case .frameTooLarge:
            self.init(IMR_ERR_FRAME_TOO_LARGE)
        case .unsupportedVersion:
            self.init(IMR_ERR_UNSUPPORTED_VERSION)
        case let .invalidIdentifier(_, problem):
            switch problem {
            case .tooLong: self.init(IMR_ERR_TOO_LARGE)
            case .empty, .notUTF8, .containsNUL, .notNFC: self.init(IMR_ERR_INVALID_ID)
            }
        case .payloadTooLarge, .tooManyItems:
            self.init(IMR_ERR_TOO_LARGE)
        case let .invalidClock(problem):
            switch problem {
            case .duplicateNode, .mismatchedLists, .entryMessages: self.init(IMR_ERR_INVALID_CLOCK)
            case .tooManyEntries: self.init(IMR_ERR_TOO_LARGE)
            }
        case .malformedLength:
            self.init(IMR_ERR_MALFORMED_LENGTH)
        case .streamFailed:
            self.init(IMR_ERR_STREAM_FAILED)
        }
    }
}

/// The code of any error an engine call throws: the typed errors of the core, then
/// IMR_ERR_INTERNAL for anything unforeseen.
func errorCode(_ error: any Error) -> Int32 {
    switch error {
    case let e as ABIFailure: return e.code
    case let e as WireError: return ABIFailure(e).code
    case let e as ServerError:
        switch e {
        case .conversationExists: return IMR_ERR_EXISTS
        case .unknownConversation: return IMR_ERR_NOT_FOUND
        case let .invalidIdentifier(wire): return ABIFailure(wire).code
        case .tooManyMembers: return IMR_ERR_TOO_LARGE
        case .storeCommitFailed: return IMR_ERR_STORE
        }
    case let e as ServerStoreError:
        switch e {
        case .unknownConversation: return IMR_ERR_NOT_FOUND
        }
    case is SQLiteError: return IMR_ERR_STORE
    case let e as ClientError: return clientErrorCode(e)
    default: return IMR_ERR_INTERNAL
    }
}

/// The code of a client engine error.
func clientErrorCode(_ error: ClientError) -> Int32 {
    switch error {
    case .invalidConfig, .emptyPayload: return IMR_ERR_INVALID_ARG
    case let .invalidConversation(problem):
        switch problem {
        case .tooLong: return IMR_ERR_TOO_LARGE
        case .empty, .notUTF8, .containsNUL, .notNFC: return IMR_ERR_INVALID_ID
        }
    case .payloadTooLarge: return IMR_ERR_TOO_LARGE
    case .unknownMessage: return IMR_ERR_NOT_FOUND
    case .notFailed: return IMR_ERR_INVALID_STATE
    case let .wire(wire): return ABIFailure(wire).code
    case .store: return IMR_ERR_STORE
    case .ackConversationMismatch, .unexpectedFrame, .invalidSeq, .clockWentBackwards, .invalidSyncPage,
         .syncPageLimit, .server:
        return IMR_ERR_PROTOCOL
    }
}
