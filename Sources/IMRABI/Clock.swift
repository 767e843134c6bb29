import CIMR
import IMRCore

/// The object behind an imr_clock handle.
final class ClockBox {
    var clock: VectorClock
    init(_ clock: VectorClock) { self.clock = clock }
}

private let maxEntries = Int(IMR_CLOCK_MAX_ENTRIES)

@c @implementation
public func imr_clock_new(_ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    guard let out else { return IMR_ERR_NULL }
    out.pointee = makeHandle(ClockBox(VectorClock()))
    return IMR_OK
}

@c @implementation
public func imr_clock_copy(_ clock: OpaquePointer?, _ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    guard let clock, let out else { return IMR_ERR_NULL }
    out.pointee = makeHandle(ClockBox(object(clock, as: ClockBox.self).clock))
    return IMR_OK
}

@c @implementation
public func imr_clock_free(_ clock: OpaquePointer?) {
    releaseHandle(clock, as: ClockBox.self)
}

@c @implementation
public func imr_clock_increment(_ clock: OpaquePointer?, _ node: UInt64, _ outCounter: UnsafeMutablePointer<UInt64>?) -> Int32 {
    guard let clock else { return IMR_ERR_NULL }
    let box = object(clock, as: ClockBox.self)
    let current = box.clock[node]
    if current == .max { return IMR_ERR_INVALID_CLOCK }
    if current == 0 && box.clock.count >= maxEntries { return IMR_ERR_TOO_LARGE }
    let counter = box.clock.increment(node)
    outCounter?.pointee = counter
    return IMR_OK
}

@c @implementation
public func imr_clock_merge(_ clock: OpaquePointer?, _ other: OpaquePointer?) -> Int32 {
    guard let clock, let other else { return IMR_ERR_NULL }
    let box = object(clock, as: ClockBox.self)
    let merged = box.clock.merged(with: object(other, as: ClockBox.self).clock)
    guard merged.count <= maxEntries else { return IMR_ERR_TOO_LARGE }
    box.clock = merged
    return IMR_OK
}

@c @implementation
public func imr_clock_compare(_ a: OpaquePointer?, _ b: OpaquePointer?) -> Int32 {
    guard let a, let b else { return IMR_ERR_NULL }
    switch object(a, as: ClockBox.self).clock.compare(object(b, as: ClockBox.self).clock) {
    case .equal: return IMR_ORDER_EQUAL
    case .before: return IMR_ORDER_BEFORE
    case .after: return IMR_ORDER_AFTER
    case .concurrent: return IMR_ORDER_CONCURRENT
    }
}

@c @implementation
public func imr_clock_get(_ clock: OpaquePointer?, _ node: UInt64, _ outCounter: UnsafeMutablePointer<UInt64>?) -> Int32 {
    guard let clock, let outCounter else { return IMR_ERR_NULL }
    outCounter.pointee = object(clock, as: ClockBox.self).clock[node]
    return IMR_OK
}

@c @implementation
public func imr_clock_depth(_ clock: OpaquePointer?, _ outDepth: UnsafeMutablePointer<UInt64>?) -> Int32 {
    guard let clock, let outDepth else { return IMR_ERR_NULL }
    outDepth.pointee = object(clock, as: ClockBox.self).clock.causalDepth
    return IMR_OK
}

@c @implementation
public func imr_clock_count(_ clock: OpaquePointer?) -> imr_ssize {
    guard let clock else { return imr_ssize(IMR_ERR_NULL) }
    return imr_ssize(object(clock, as: ClockBox.self).clock.count)
}

@c @implementation
public func imr_clock_entry(_ clock: OpaquePointer?, _ index: Int,
                            _ outNode: UnsafeMutablePointer<UInt64>?, _ outCounter: UnsafeMutablePointer<UInt64>?) -> Int32 {
    guard let clock, let outNode, let outCounter else { return IMR_ERR_NULL }
    let entries = object(clock, as: ClockBox.self).clock.entries
    guard index >= 0, index < entries.count else { return IMR_ERR_INVALID_ARG }
    outNode.pointee = entries[index].node
    outCounter.pointee = entries[index].counter
    return IMR_OK
}

@c @implementation
public func imr_clock_encode(_ clock: OpaquePointer?, _ buf: UnsafeMutablePointer<UInt8>?, _ cap: Int,
                             _ outLen: UnsafeMutablePointer<Int>?) -> Int32 {
    abiCall { () throws(ABIFailure) -> Int32 in
        guard let clock, let outLen else { throw ABIFailure(IMR_ERR_NULL) }
        let bytes: [UInt8]
        do throws(WireError) {
            bytes = try FrameCodec().encode(object(clock, as: ClockBox.self).clock)
        } catch {
            throw ABIFailure(error)
        }
        return bytes.withUnsafeBytes { copyOut($0, buf, cap, outLen) }
    }
}

@c @implementation
public func imr_clock_decode(_ bytes: UnsafePointer<UInt8>?, _ len: Int, _ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    abiCall { () throws(ABIFailure) -> Int32 in
        guard let out else { throw ABIFailure(IMR_ERR_NULL) }
        let input = try inputBytes(bytes, len)
        guard input.count <= Int(IMR_DEFAULT_MAX_FRAME_BYTES) else { throw ABIFailure(IMR_ERR_TOO_LARGE) }
        let clock: VectorClock
        do throws(WireError) {
            clock = try FrameCodec(limits: WireLimits(maxClockEntries: maxEntries)).decodeClock(input)
        } catch {
            throw ABIFailure(error)
        }
        out.pointee = makeHandle(ClockBox(clock))
        return IMR_OK
    }
}
