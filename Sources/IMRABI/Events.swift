import CIMR
import IMRCore

/// The storage an engine handle keeps for the strings and bytes of the last event it
/// handed out (valid until the handle's next non-const call).
final class EventStorage {
    let conversation = OwnedBytes()
    let user = OwnedBytes()
    let payload = OwnedBytes()
    let clock = OwnedBytes()
    let detail = OwnedBytes()
}

/// Builds one imr_event: every field zero until set.
struct EventBuilder {
    var event = imr_event()
    /// Unretained: a builder lives within one call on the handle that owns the storage. (A
    /// strong reference was a retain and a release per event; `unowned(unsafe)` still
    /// retained each buffer around its fill. Read through `_withUnsafeGuaranteedRef`, the
    /// storage and its buffers are borrowed.)
    private let storage: Unmanaged<EventStorage>

    init(kind: Int32, storage: EventStorage) {
        self.storage = .passUnretained(storage)
        event.kind = kind
    }

    mutating func conversation(_ s: String) {
        let (p, n) = storage._withUnsafeGuaranteedRef { $0.conversation.setText(s) }
        event.conversation = p
        event.conversation_len = n
    }

    mutating func user(_ s: String) {
        let (p, n) = storage._withUnsafeGuaranteedRef { $0.user.setText(s) }
        event.user = p
        event.user_len = n
    }

    mutating func detail(_ s: String) {
        let (p, n) = storage._withUnsafeGuaranteedRef { $0.detail.setText(s) }
        event.detail = p
        event.detail_len = n
    }

    mutating func payload(_ bytes: [UInt8]) {
        (event.payload, event.payload_len) = storage._withUnsafeGuaranteedRef { storage in
            storage.payload.set(bytes)
            return (storage.payload.bytePointer, storage.payload.count)
        }
    }

    /// Strings one after another, each NUL-terminated, in the payload field.
    mutating func payload(strings: [String]) {
        var bytes: [UInt8] = []
        for s in strings {
            bytes.append(contentsOf: s.utf8)
            bytes.append(0)
        }
        payload(bytes)
    }

    /// The encoded clock (left empty in the impossible case that it exceeds the codec's
    /// limits: the engine only holds clocks that passed them).
    mutating func clock(_ clock: VectorClock, codec: FrameCodec) {
        (event.clock, event.clock_len) = storage._withUnsafeGuaranteedRef { storage in
            let target = storage.clock
            if (try? codec.withEncoded(clock, { target.set(UnsafeRawBufferPointer($0)) })) == nil {
                target.set([])
            }
            return (target.bytePointer, target.count)
        }
    }

    mutating func messageID(_ id: MessageID) {
        withUnsafeMutableBytes(of: &event.message_id) { raw in
            if let base = raw.baseAddress, raw.count >= MessageID.byteCount { id.writeBytes(into: base) }
        }
    }

    mutating func session(_ id: SessionID) { event.session = id.rawValue }
}
