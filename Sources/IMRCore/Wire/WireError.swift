/// Why bytes could not be decoded into a frame, or a frame could not be encoded.
public enum WireError: Error, Equatable, Sendable, CustomStringConvertible {
    public enum ClockProblem: Equatable, Sendable {
        case duplicateNode(UInt64)
        case tooManyEntries(Int, limit: Int)
        /// The wire form's node and counter lists differ in length.
        case mismatchedLists(nodes: Int, counters: Int)
        /// The clock uses the earlier wire form, a list of entry messages (field 1), which
        /// would otherwise decode as an empty clock.
        case entryMessages
    }

    public enum IdentifierProblem: Equatable, Sendable {
        case empty
        case tooLong(Int, limit: Int)
        case notUTF8
        case containsNUL
        /// Not in Unicode NFC: a look-alike of a composed name (see `IdentifierRules`).
        case notNFC
    }

    /// protobuf-c could not parse the bytes (truncated, garbage, wrong wire types).
    case malformed
    case frameTooLarge(Int, limit: Int)
    case missingBody
    case unsupportedVersion(UInt32)
    /// A required sub-message is absent (for example a push without its message).
    case missingField(String)
    case invalidMessageID(length: Int)
    case invalidIdentifier(field: String, IdentifierProblem)
    case payloadTooLarge(Int, limit: Int)
    case invalidClock(ClockProblem)
    /// A repeated field holds more items than the limit allows (watermarks, members).
    case tooManyItems(field: String, Int, limit: Int)
    /// Stream framing: a length prefix that is not a valid varint.
    case malformedLength
    /// Stream framing: the splitter failed earlier and the stream cannot be resynchronised.
    case streamFailed

    public var description: String {
        switch self {
        case .malformed: return "malformed frame: not a valid protobuf Frame"
        case let .frameTooLarge(n, limit): return "frame of \(n) bytes exceeds the limit of \(limit)"
        case .missingBody: return "frame has no body"
        case let .unsupportedVersion(v): return "unsupported wire version \(v)"
        case let .missingField(f): return "required field \(f) is missing"
        case let .invalidMessageID(length): return "message id must be 16 bytes, got \(length)"
        case let .invalidIdentifier(field, problem):
            switch problem {
            case .empty: return "\(field) is empty"
            case let .tooLong(n, limit): return "\(field) is \(n) bytes, over the limit of \(limit)"
            case .notUTF8: return "\(field) is not valid UTF-8"
            case .containsNUL: return "\(field) contains a NUL character"
            case .notNFC: return "\(field) is not in Unicode normalization form C (NFC)"
            }
        case let .payloadTooLarge(n, limit): return "payload of \(n) bytes exceeds the limit of \(limit)"
        case let .invalidClock(.duplicateNode(node)): return "vector clock names node \(node) twice"
        case let .invalidClock(.tooManyEntries(n, limit)): return "vector clock has \(n) entries, over the limit of \(limit)"
        case let .invalidClock(.mismatchedLists(nodes, counters)):
            return "vector clock has \(nodes) nodes but \(counters) counters"
        case .invalidClock(.entryMessages):
            return "vector clock in the earlier form (a list of entry messages); clocks are two packed lists"
        case let .tooManyItems(field, n, limit): return "\(field) has \(n) items, over the limit of \(limit)"
        case .malformedLength: return "malformed varint length prefix"
        case .streamFailed: return "stream framing failed earlier; the connection must be reset"
        }
    }
}
