#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One conversation on this device: its vector clock, its receive cursor with the
/// out-of-order buffer and gap, its sync state, and its timeline.
final class ConversationState {
    let name: String
    /// `name` is all ASCII: then a name `==` to it with as many UTF-8 bytes has its bytes (a
    /// non-ASCII string canonically equal to an ASCII one is longer: U+212A for "K").
    let nameIsASCII: Bool
    /// `name`, NUL-terminated, once it passed the engine's identifier rules (a name restored
    /// from a store kept under other limits may not): `send` need not check it again, and
    /// each send frame's encoding points protobuf-c at it instead of copying and checking it.
    private(set) var checkedName: UnsafeMutablePointer<CChar>?
    var nameIsValid: Bool { checkedName != nil }
    let index: UInt32

    /// Entry-wise max of every clock sent or received here; own entry incremented per send.
    /// A received clock reaches it through the timeline, which merges every clock it takes
    /// into its knowledge anyway: it is folded in when the clock is next read (at a send, a
    /// store flush or a query), once for all messages received since, not once per message.
    var clock: VectorClock {
        get {
            foldReceived()
            return foldedClock
        }
        set {
            foldedClock = newValue
            receivedSinceFold = false
        }
    }
    @exclusivity(unchecked) private var foldedClock = VectorClock()
    /// Messages entered the timeline since `foldedClock` was last brought up to date.
    @exclusivity(unchecked) private var receivedSinceFold = false
    @exclusivity(unchecked) var timeline: Timeline

    // MARK: receive cursor

    /// Highest seq such that every seq 1...cursor is held (or was consumed as a bad message).
    @exclusivity(unchecked) var cursor: UInt64 = 0
    /// Highest seq known to exist on the server (welcome, pushes, sync responses, probes).
    @exclusivity(unchecked) var knownHead: UInt64 = 0
    /// Seqs above cursor+1 already held (shown), waiting for the gap below them to close.
    @exclusivity(unchecked) var heldAbove: Set<UInt64> = []
    /// The gap announced by `gapOpened`, while open.
    @exclusivity(unchecked) var gap: (from: UInt64, to: UInt64)?

    // MARK: sync

    struct SyncRequestState {
        var afterSeq: UInt64
        var limit: UInt32
        /// Transmissions of this request (timeouts re-send it with a longer timeout).
        var attempt: Int
    }

    /// The page request in flight (one per conversation).
    @exclusivity(unchecked) var syncInFlight: SyncRequestState?
    /// The cursor a head probe in flight was sent at.
    @exclusivity(unchecked) var probeAfter: UInt64?
    /// Pages taken by the current sync cycle; nil when no cycle runs.
    @exclusivity(unchecked) var cyclePages: Int?
    /// A gap's grace period is running (the timer fires a sync unless the gap closes first).
    @exclusivity(unchecked) var graceArmed = false
    /// One timer per conversation: the gap grace while no sync runs, the sync timeout while one does.
    @exclusivity(unchecked) var timer: TimerWheel.Key = TimerWheel.noKey

    // MARK: watermarks and persistence

    /// The cursor last sent in a delivered frame.
    @exclusivity(unchecked) var deliveredSent: UInt64 = 0
    @exclusivity(unchecked) var deliveredDirty = false
    /// Cursor or clock changed since the store last wrote them.
    @exclusivity(unchecked) var storeDirty = false

    init(name: String, index: UInt32, order: HistoryOrder) {
        self.name = name
        nameIsASCII = name.utf8.allSatisfy { $0 < 0x80 }
        self.index = index
        self.timeline = Timeline(order: order)
    }

    deinit { free(checkedName) }

    /// Whether `other` is this conversation's name byte for byte (not merely canonically
    /// equal): cheap for the usual ASCII names, on the send and ack paths.
    @inline(__always)
    func isNamed(_ other: String) -> Bool {
        name == other && name.utf8.count == other.utf8.count && (nameIsASCII || ExactIdentifier.same(name, other))
    }

    /// Records that `name` passed the identifier rules the codec applies (so it has no NUL).
    func nameChecked() {
        if checkedName == nil { checkedName = strdup(name) }
    }

    var isSyncing: Bool { cyclePages != nil }

    /// Received messages entered the timeline: their clocks are folded in at the next read.
    func clockMayHaveGrown() {
        receivedSinceFold = true
    }

    /// Increments this device's entry, in place (no copy of the clock per message).
    func incrementClock(_ node: UInt64) {
        foldReceived()
        foldedClock.increment(node)
    }

    /// Inserts an own message stamped with the current clock (after `incrementClock(_:)`);
    /// nil when the id is held already. The clock is read in place: passing `clock` to the
    /// timeline would copy it, a retain and a release of its storage per message.
    func insertOwnMessage(_ id: MessageID, senderUser: String, senderNode: UInt64, payload: UnsafeBufferPointer<UInt8>) -> Int? {
        foldReceived()
        return foldedClock.withViewInPlace { clock in
            timeline.insert(messageID: id, seq: nil, serverTimeMs: nil, senderUser: senderUser, senderNode: senderNode,
                            clock: clock, payload: payload)
        }
    }

    private func foldReceived() {
        guard receivedSinceFold else { return }
        receivedSinceFold = false
        timeline.mergeKnowledge(into: &foldedClock)
    }
}
