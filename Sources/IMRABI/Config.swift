import CIMR
import IMRCore

/// The object behind an imr_config handle: the settings the caller made, by key.
/// Keys never set keep the engine's defaults; the engine constructors read them.
final class ConfigBox {
    var integers: [Int32: UInt64] = [:]
    var doubles: [Int32: Double] = [:]
    var strings: [Int32: String] = [:]

    func u64(_ key: Int32) -> UInt64? { integers[key] }
    /// An integer setting as Int (the ranges of set_u64 keep every value in Int's range).
    func int(_ key: Int32) -> Int? { integers[key].map { Int(clamping: $0) } }
    func uint32(_ key: Int32) -> UInt32? { integers[key].map { UInt32(clamping: $0) } }
    func double(_ key: Int32) -> Double? { doubles[key] }
    func string(_ key: Int32) -> String? { strings[key] }

    /// The wire limits: the defaults overridden by the keys set. A payload limit above the
    /// frame limit is inconsistent (IMR_ERR_INVALID_ARG).
    func limits() throws(ABIFailure) -> WireLimits {
        var limits = WireLimits.default
        if let v = int(IMR_CONFIG_MAX_FRAME_BYTES) { limits.maxFrameBytes = v }
        if let v = int(IMR_CONFIG_MAX_PAYLOAD_BYTES) { limits.maxPayloadBytes = v }
        if let v = int(IMR_CONFIG_MAX_IDENTIFIER_BYTES) { limits.maxIdentifierBytes = v }
        if let v = int(IMR_CONFIG_MAX_CLOCK_ENTRIES) { limits.maxClockEntries = v }
        if let v = int(IMR_CONFIG_MAX_TOKEN_BYTES) { limits.maxTokenBytes = v }
        if let v = int(IMR_CONFIG_MAX_WATERMARKS_PER_FRAME) { limits.maxWatermarksPerFrame = v }
        if let v = int(IMR_CONFIG_MAX_MEMBERS_PER_FRAME) { limits.maxMembersPerFrame = v }
        guard limits.maxPayloadBytes <= limits.maxFrameBytes else { throw ABIFailure(IMR_ERR_INVALID_ARG) }
        return limits
    }
}

/// The accepted range of each unsigned integer setting (argument validation only:
/// values must fit the engine's types; the engine validates their meaning).
private func integerRange(_ key: Int32) -> ClosedRange<UInt64>? {
    let ms: ClosedRange<UInt64> = 0...UInt64(IMR_MAX_TIME_MS)
    switch key {
    case IMR_CONFIG_NODE_ID, IMR_CONFIG_SEED: return 0...UInt64.max
    case IMR_CONFIG_ACK_TIMEOUT_MS, IMR_CONFIG_BACKOFF_CAP_MS, IMR_CONFIG_MAX_OFFLINE_AGE_MS,
         IMR_CONFIG_GAP_GRACE_MS, IMR_CONFIG_SYNC_TIMEOUT_MS, IMR_CONFIG_POLL_INTERVAL_MS,
         IMR_CONFIG_DELIVERED_FLUSH_MS: return ms
    case IMR_CONFIG_MAX_ATTEMPTS, IMR_CONFIG_INFLIGHT_WINDOW, IMR_CONFIG_MAX_SYNC_PAGES: return 1...UInt64(Int32.max)
    case IMR_CONFIG_SYNC_PAGE_SIZE: return 1...UInt64(UInt32.max)
    case IMR_CONFIG_SENT_RETENTION, IMR_CONFIG_MAX_BUFFERED: return 0...UInt64(Int32.max)
    case IMR_CONFIG_HISTORY_ORDER: return UInt64(IMR_HISTORY_CAUSAL)...UInt64(IMR_HISTORY_ARRIVAL)
    case IMR_CONFIG_MAX_FRAME_BYTES: return 64...UInt64(IMR_LIMIT_MAX_FRAME_BYTES)
    case IMR_CONFIG_MAX_PAYLOAD_BYTES: return 1...UInt64(IMR_LIMIT_MAX_FRAME_BYTES)
    case IMR_CONFIG_MAX_IDENTIFIER_BYTES: return 1...65_536
    case IMR_CONFIG_MAX_CLOCK_ENTRIES: return 1...1_048_576
    case IMR_CONFIG_MAX_TOKEN_BYTES: return 1...1_048_576
    case IMR_CONFIG_MAX_WATERMARKS_PER_FRAME, IMR_CONFIG_MAX_MEMBERS_PER_FRAME: return 1...1_048_576
    case IMR_CONFIG_SERVER_MAX_SYNC_PAGE, IMR_CONFIG_SERVER_MAX_INFLIGHT, IMR_CONFIG_RATE_LIMIT_PER_SECOND:
        return 1...UInt64(UInt32.max)
    case IMR_CONFIG_RATE_LIMIT_BURST: return 0...UInt64(UInt32.max)
    case IMR_CONFIG_MAX_OUTBOUND_FRAMES, IMR_CONFIG_MAX_OUTBOUND_FRAMES_BEFORE_CLOSE, IMR_CONFIG_MAX_MEMBERS,
         IMR_CONFIG_MAX_QUEUED_EVENTS: return 1...UInt64(Int32.max)
    case IMR_CONFIG_HELLO_TIMEOUT_MS, IMR_CONFIG_PING_INTERVAL_MS, IMR_CONFIG_IDLE_TIMEOUT_MS: return ms
    case IMR_CONFIG_OUTBOUND_SOFT_BYTES, IMR_CONFIG_OUTBOUND_HARD_BYTES, IMR_CONFIG_MAX_PARKED_INPUT_BYTES:
        return 1...UInt64(Int32.max)
    case IMR_CONFIG_REQUEST_RATE_BURST: return 0...UInt64(UInt32.max)
    case IMR_CONFIG_REQUEST_RATE_PER_SECOND: return 1...UInt64(UInt32.max)
    case IMR_CONFIG_MAX_HELLO_BYTES: return 64...UInt64(IMR_LIMIT_MAX_FRAME_BYTES)
    case IMR_CONFIG_TIMER_GRANULARITY_MS: return 1...UInt64(IMR_MAX_TIME_MS)
    case IMR_CONFIG_SEND_RECEIPTS: return 0...1
    case IMR_CONFIG_RECEIPT_INTERVAL_MS: return ms
    case IMR_CONFIG_RECEIPT_GROUP_LIMIT: return 1...UInt64(Int32.max)
    case IMR_CONFIG_STORE_DURABILITY: return UInt64(IMR_DURABILITY_PROCESS_CRASH)...UInt64(IMR_DURABILITY_POWER_LOSS)
    default: return nil
    }
}

private func doubleRange(_ key: Int32) -> ClosedRange<Double>? {
    switch key {
    case IMR_CONFIG_BACKOFF_FACTOR: return 1.0...1000.0
    case IMR_CONFIG_JITTER: return 0.0...1.0
    default: return nil
    }
}

private func isStringKey(_ key: Int32) -> Bool {
    key == IMR_CONFIG_TOKEN || key == IMR_CONFIG_STORE_PATH || key == IMR_CONFIG_USER_ID
}

/// Longest string setting.
let maxConfigStringBytes = 4096

@c @implementation
public func imr_config_new(_ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    guard let out else { return IMR_ERR_NULL }
    out.pointee = makeHandle(ConfigBox())
    return IMR_OK
}

@c @implementation
public func imr_config_free(_ config: OpaquePointer?) {
    releaseHandle(config, as: ConfigBox.self)
}

@c @implementation
public func imr_config_set_u64(_ config: OpaquePointer?, _ key: Int32, _ value: UInt64) -> Int32 {
    guard let config else { return IMR_ERR_NULL }
    guard let range = integerRange(key), range.contains(value) else { return IMR_ERR_INVALID_ARG }
    object(config, as: ConfigBox.self).integers[key] = value
    return IMR_OK
}

@c @implementation
public func imr_config_set_double(_ config: OpaquePointer?, _ key: Int32, _ value: Double) -> Int32 {
    guard let config else { return IMR_ERR_NULL }
    guard let range = doubleRange(key), value.isFinite, range.contains(value) else { return IMR_ERR_INVALID_ARG }
    object(config, as: ConfigBox.self).doubles[key] = value
    return IMR_OK
}

@c @implementation
public func imr_config_set_string(_ config: OpaquePointer?, _ key: Int32, _ value: UnsafePointer<CChar>?) -> Int32 {
    abiCall { () throws(ABIFailure) -> Int32 in
        guard let config else { throw ABIFailure(IMR_ERR_NULL) }
        guard isStringKey(key) else { throw ABIFailure(IMR_ERR_INVALID_ARG) }
        let box = object(config, as: ConfigBox.self)
        guard let value else {
            box.strings[key] = nil
            return IMR_OK
        }
        box.strings[key] = try inputString(value, maxBytes: maxConfigStringBytes)
        return IMR_OK
    }
}
