#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The rules for identifiers (user and conversation ids), shared by encode, decode, the
/// engines and the ABI.
///
/// An identifier is compared as exact bytes everywhere. Swift's `String` compares and hashes
/// by canonical equivalence, so "josé" (U+00E9) and "jose" + U+0301 would be one key in a map
/// and two rows in SQLite. Refusing every name that is not in Unicode NFC closes that gap: two
/// different NFC strings are never canonically equivalent, so among accepted names `String`
/// equality and byte equality agree, and no two accepted names look alike by composition.
public enum IdentifierRules {
    static func problem(utf8Count: Int, containsNUL: Bool, maxBytes: Int, allowEmpty: Bool) -> WireError.IdentifierProblem? {
        if utf8Count == 0 && !allowEmpty { return .empty }
        if utf8Count > maxBytes { return .tooLong(utf8Count, limit: maxBytes) }
        if containsNUL { return .containsNUL }
        return nil
    }

    /// Checks a conversation or user id against `limits`: non-empty, bounded, no NUL, NFC.
    public static func validate(_ id: String, field: String, limits: WireLimits = .default) throws(WireError) {
        var id = id
        // memchr over the contiguous UTF-8 (the generic `utf8.contains` walks it byte by byte).
        let (count, containsNUL, ascii) = id.withUTF8 { utf8 in
            (utf8.count, utf8.count > 0 && memchr(utf8.baseAddress!, 0, utf8.count) != nil, isASCII(utf8))
        }
        if let p = problem(utf8Count: count, containsNUL: containsNUL, maxBytes: limits.maxIdentifierBytes, allowEmpty: false) {
            throw .invalidIdentifier(field: field, p)
        }
        if !ascii && !isNFC(id) { throw .invalidIdentifier(field: field, .notNFC) }
    }

    /// True when `text` is in Unicode Normalization Form C (ASCII always is).
    public static func isNFC(_ text: String) -> Bool {
        var text = text
        if text.withUTF8({ isASCII($0) }) { return true }
        // The standard library's own normaliser (the one `==` uses), compared byte by byte.
        var utf8 = text.utf8.makeIterator()
        var same = true
        text._withNFCCodeUnits { unit in
            if same, utf8.next() != unit { same = false }
        }
        return same && utf8.next() == nil
    }

    /// NFC check of bytes already known to be valid UTF-8.
    static func isNFC(utf8 bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        if isASCII(bytes) { return true }
        return isNFC(String(decoding: bytes, as: UTF8.self))
    }

    @inline(__always)
    static func isASCII(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        var i = 0
        let n = bytes.count
        // Eight bytes at a time: any high bit set means a non-ASCII byte.
        if let base = bytes.baseAddress {
            let raw = UnsafeRawPointer(base)
            while i + 8 <= n {
                if raw.loadUnaligned(fromByteOffset: i, as: UInt64.self) & 0x8080_8080_8080_8080 != 0 { return false }
                i += 8
            }
        }
        while i < n {
            if bytes[i] >= 0x80 { return false }
            i += 1
        }
        return true
    }
}
