import CIMR
import IMRCore
#if canImport(Glibc)
import Glibc
#endif

// Shared plumbing of the exported functions: handles, argument checks, copy-out.
// Nothing here may trap on caller data: every conversion is checked.

/// A failed argument check or a mapped engine error: an IMR_ERR_* code.
struct ABIFailure: Error {
    let code: Int32
    init(_ code: Int32) { self.code = code }
}

// MARK: - Handles

/// Hands a new object to C: the handle owns one retain, released by `releaseHandle`.
@inline(__always)
func makeHandle(_ object: AnyObject) -> OpaquePointer {
    OpaquePointer(Unmanaged.passRetained(object).toOpaque())
}

/// The object behind a handle, borrowed for the call.
@inline(__always)
func object<T: AnyObject>(_ handle: OpaquePointer, as _: T.Type) -> T {
    Unmanaged<T>.fromOpaque(UnsafeRawPointer(handle)).takeUnretainedValue()
}

/// `body` with the object behind a handle, borrowed without a retain (the handle's own
/// retain keeps it alive for the call): the per-call entry points skip a retain and a
/// release, two atomic operations, that `object(_:as:)` costs.
@inline(__always)
func withObject<T: AnyObject, R, E: Error>(_ handle: OpaquePointer, as _: T.Type, _ body: (T) throws(E) -> R) throws(E) -> R {
    try Unmanaged<T>.fromOpaque(UnsafeRawPointer(handle))._withUnsafeGuaranteedRef { object in
        Result { () throws(E) in try body(object) }      // `_withUnsafeGuaranteedRef` only rethrows untyped
    }.get()
}

/// Releases a handle's retain; NULL is a no-op.
@inline(__always)
func releaseHandle<T: AnyObject>(_ handle: OpaquePointer?, as _: T.Type) {
    guard let handle else { return }
    Unmanaged<T>.fromOpaque(UnsafeRawPointer(handle)).release()
}

// MARK: - Time

/// The largest `now_ms` (IMR_MAX_TIME_MS): far beyond any clock, and small enough that an
/// engine adding a timeout to it cannot overflow.
let maxTimeMs = UInt64(IMR_MAX_TIME_MS)

// MARK: - Sizes

/// A size_t argument as a Swift Int (size_t imports as Int): values above INT64_MAX
/// arrive negative and are rejected.
@inline(__always)
func checkedSize(_ n: Int) throws(ABIFailure) -> Int {
    guard n >= 0 else { throw ABIFailure(IMR_ERR_INVALID_ARG) }
    return n
}

/// The bytes of a (pointer, length) input; the pointer may be NULL only for length 0.
@inline(__always)
func inputBytes(_ p: UnsafePointer<UInt8>?, _ len: Int) throws(ABIFailure) -> UnsafeRawBufferPointer {
    let n = try checkedSize(len)
    if n == 0 { return UnsafeRawBufferPointer(start: nil, count: 0) }
    guard let p else { throw ABIFailure(IMR_ERR_NULL) }
    return UnsafeRawBufferPointer(start: p, count: n)
}

// MARK: - Strings

/// Reads a NUL-terminated UTF-8 string of at most `maxBytes` bytes, never looking past
/// byte maxBytes + 1. Empty, invalid UTF-8 -> IMR_ERR_INVALID_ID; too long -> IMR_ERR_TOO_LARGE.
func inputString(_ p: UnsafePointer<CChar>?, maxBytes: Int) throws(ABIFailure) -> String {
    try inputText(p, maxBytes: maxBytes).text
}

/// inputString, and whether the text is all ASCII.
private func inputText(_ p: UnsafePointer<CChar>?, maxBytes: Int) throws(ABIFailure) -> (text: String, ascii: Bool) {
    guard let p else { throw ABIFailure(IMR_ERR_NULL) }
    let n = strnlen(p, maxBytes + 1)
    guard n <= maxBytes else { throw ABIFailure(IMR_ERR_TOO_LARGE) }
    guard n > 0 else { throw ABIFailure(IMR_ERR_INVALID_ID) }
    let bytes = UnsafeRawBufferPointer(start: p, count: n).bindMemory(to: UInt8.self)
    // Identifiers are mostly ASCII, which is valid UTF-8 as it is: skip the validator.
    var ascii = true
    for byte in bytes where byte >= 0x80 { ascii = false; break }
    if ascii { return (String(decoding: bytes, as: UTF8.self), true) }
    guard let s = String(validating: bytes, as: UTF8.self) else { throw ABIFailure(IMR_ERR_INVALID_ID) }
    return (s, false)
}

/// A conversation or user id argument: inputString under the identifier limit, then the
/// core's identifier rules (NFC among them). Checked here, before any lookup, because
/// String keys compare by canonical equivalence: a decomposed look-alike would otherwise
/// find the entry of the composed name.
func inputIdentifier(_ p: UnsafePointer<CChar>?, field: String, limits: WireLimits) throws(ABIFailure) -> String {
    let (id, ascii) = try inputText(p, maxBytes: limits.maxIdentifierBytes)
    // Non-empty, bounded ASCII without NUL passes the rules as it is: the send path skips the call.
    if ascii { return id }
    do throws(WireError) {
        try IdentifierRules.validate(id, field: field, limits: limits)
    } catch {
        throw ABIFailure(error)
    }
    return id
}

// MARK: - Copy-out

/// The copy-out convention: `bytes` into (buf, cap), *outLen = written or needed.
func copyOut(_ bytes: UnsafeRawBufferPointer, _ buf: UnsafeMutablePointer<UInt8>?, _ cap: Int,
             _ outLen: UnsafeMutablePointer<Int>?) -> Int32 {
    guard let outLen else { return IMR_ERR_NULL }
    guard cap >= 0 else { return IMR_ERR_INVALID_ARG }
    guard bytes.count <= cap else {
        outLen.pointee = bytes.count
        return IMR_ERR_BUFFER_TOO_SMALL
    }
    if bytes.count > 0 {
        guard let buf, let base = bytes.baseAddress else { return IMR_ERR_NULL }
        UnsafeMutableRawPointer(buf).copyMemory(from: base, byteCount: bytes.count)
    }
    outLen.pointee = bytes.count
    return IMR_OK
}

/// Runs an exported function's body that returns a count: an ABIFailure becomes its code.
@inline(__always)
func abiSizeCall(_ body: () throws(ABIFailure) -> Int) -> imr_ssize {
    do { return imr_ssize(try body()) } catch { return imr_ssize(error.code) }
}

/// Strings and byte strings packed one after another into one handle-owned buffer, so a
/// query can hand out pointers to all of them at once. Strings get a NUL after them.
struct TextPack {
    struct Span {
        var offset: Int
        var count: Int
    }

    private(set) var bytes: [UInt8] = []

    mutating func add(_ text: String) -> Span {
        let start = bytes.count
        bytes.append(contentsOf: text.utf8)
        bytes.append(0)
        return Span(offset: start, count: bytes.count - start - 1)
    }

    mutating func add(bytes more: [UInt8]) -> Span {
        let start = bytes.count
        bytes.append(contentsOf: more)
        return Span(offset: start, count: more.count)
    }

    /// Copies the pack into `owned` and returns its base address.
    func store(in owned: OwnedBytes) -> UnsafeMutableRawPointer {
        owned.set(bytes)
        return owned.base
    }
}

/// Runs an exported function's body: an ABIFailure becomes its code.
@inline(__always)
func abiCall(_ body: () throws(ABIFailure) -> Int32) -> Int32 {
    do { return try body() } catch { return error.code }
}

// MARK: - Owned bytes

/// A growable byte buffer owned by a handle, whose address C may borrow until the
/// handle's next mutating call. Always allocated, so a borrowed pointer is never NULL.
final class OwnedBytes {
    private(set) var base: UnsafeMutableRawPointer
    private var capacity: Int
    private(set) var count = 0

    init(capacity: Int = 64) {
        self.capacity = max(capacity, 16)
        base = UnsafeMutableRawPointer.allocate(byteCount: self.capacity, alignment: 16)
    }

    deinit { base.deallocate() }

    /// Replaces the contents with `bytes`.
    func set(_ bytes: UnsafeRawBufferPointer) {
        reserve(bytes.count)
        if let src = bytes.baseAddress, bytes.count > 0 {
            base.copyMemory(from: src, byteCount: bytes.count)
        }
        count = bytes.count
    }

    func set(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { set($0) }
    }

    private func reserve(_ n: Int) {
        guard n > capacity else { return }
        var newCapacity = capacity
        while newCapacity < n { newCapacity = newCapacity > Int.max / 2 ? n : newCapacity * 2 }
        base.deallocate()
        base = UnsafeMutableRawPointer.allocate(byteCount: newCapacity, alignment: 16)
        capacity = newCapacity
    }

    var bytePointer: UnsafePointer<UInt8> { UnsafePointer(base.assumingMemoryBound(to: UInt8.self)) }

    /// Replaces the contents with the UTF-8 of `text` plus a terminating NUL (not counted).
    func setText(_ text: String) -> (UnsafePointer<CChar>, Int) {
        var text = text
        text.withUTF8 { utf8 in
            reserve(utf8.count + 1)
            if let src = utf8.baseAddress, utf8.count > 0 {
                base.copyMemory(from: src, byteCount: utf8.count)
            }
            base.storeBytes(of: 0, toByteOffset: utf8.count, as: UInt8.self)
            count = utf8.count
        }
        return (UnsafePointer(base.assumingMemoryBound(to: CChar.self)), count)
    }
}
