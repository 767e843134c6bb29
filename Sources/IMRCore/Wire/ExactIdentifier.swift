#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An identifier as a map key that compares, hashes and orders by its UTF-8 bytes.
///
/// `String`'s own `==`, hashing and `<` follow canonical equivalence, so "josé" and
/// "jose" + U+0301 are one key of a `[String: ...]` while a database holds them as two rows.
/// Maps of identities and members use this key instead, so that no layer can ever merge two
/// names another layer keeps apart, whatever reached it.
public struct ExactIdentifier: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let text: String

    public init(_ text: String) { self.text = text }

    public static func == (a: ExactIdentifier, b: ExactIdentifier) -> Bool {
        same(a.text, b.text)
    }

    /// Whether two strings have the same UTF-8 bytes (not merely canonical equivalence).
    public static func same(_ a: String, _ b: String) -> Bool {
        ExactIdentifier(a).withBytes { x in
            ExactIdentifier(b).withBytes { y in x.count == y.count && (x.count == 0 || memcmp(x.baseAddress!, y.baseAddress!, x.count) == 0) }
        }
    }

    public func hash(into hasher: inout Hasher) {
        withBytes { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
    }

    public static func < (a: ExactIdentifier, b: ExactIdentifier) -> Bool {
        a.text.utf8.lexicographicallyPrecedes(b.text.utf8)
    }

    public var description: String { text }

    @inline(__always)
    private func withBytes<R>(_ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
        if let r = text.utf8.withContiguousStorageIfAvailable(body) { return r }
        return Array(text.utf8).withUnsafeBufferPointer(body)   // a bridged string: copy once
    }
}
