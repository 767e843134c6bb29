import CSQLite

/// The durable client store: one SQLite file (WAL) holding the outbox, each conversation's
/// cursor and clock, and every timeline entry, so a new engine on the same file resumes.
///
/// Writes go into one transaction that the engine opens lazily and commits at the end of
/// each input call (`send` commits before it returns, so nothing `send` returned is lost by a
/// crash). Received messages and their conversation's cursor are written in the same
/// transaction, so a cursor never runs ahead of the messages it covers.
final class ClientStore {
    /// "IMRC" in the file header's application id: a foreign file is refused at open.
    static let applicationID: Int32 = 0x494D_5243
    static let schemaVersion: Int32 = 1

    /// The outbox row's state column.
    enum RowState: Int64 {
        case sending = 0
        case failed = 2
    }

    struct OutboxRow {
        var id: MessageID
        var conversation: String
        var order: UInt64
        var ageStart: UInt64
        var attempts: UInt32
        var failure: FailureReason?
    }

    struct ConversationRow {
        var name: String
        var cursor: UInt64
        var clock: VectorClock
    }

    struct Snapshot {
        var user: String?
        var epoch: UInt64 = 0
        var conversations: [ConversationRow] = []
        /// Per conversation, in live order.
        var messages: [String: [TimelineEntry]] = [:]
        /// In send order.
        var outbox: [OutboxRow] = []
    }

    private let db: SQLiteDatabase
    private var inTransaction = false

    init(path: String, durability: SQLiteDatabase.Durability) throws(SQLiteError) {
        db = try SQLiteDatabase(path: path, durability: durability)
        try db.execute("BEGIN IMMEDIATE")
        do {
            try db.claim(applicationID: Self.applicationID, schemaVersion: Self.schemaVersion)
            try db.execute("""
                CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
                CREATE TABLE IF NOT EXISTS conversations (
                    name TEXT PRIMARY KEY, cursor INTEGER NOT NULL, clock BLOB NOT NULL) WITHOUT ROWID;
                CREATE TABLE IF NOT EXISTS messages (
                    conversation TEXT NOT NULL, idx INTEGER NOT NULL, id BLOB NOT NULL,
                    seq INTEGER, server_time INTEGER, sender_user TEXT NOT NULL, sender_node INTEGER NOT NULL,
                    clock BLOB NOT NULL, payload BLOB NOT NULL,
                    PRIMARY KEY (conversation, idx));
                CREATE TABLE IF NOT EXISTS outbox (
                    id BLOB PRIMARY KEY, conversation TEXT NOT NULL, ord INTEGER NOT NULL, age_start INTEGER NOT NULL,
                    attempts INTEGER NOT NULL, state INTEGER NOT NULL, failure_kind INTEGER NOT NULL,
                    failure_code INTEGER NOT NULL) WITHOUT ROWID;
                """)
            try db.commit()
        } catch {
            try? db.execute("ROLLBACK")
            throw error
        }
    }

    /// How long a write waits for another connection's lock before failing (default 5 s).
    func setBusyTimeout(milliseconds: Int) throws(SQLiteError) {
        try db.execute("PRAGMA busy_timeout=\(milliseconds)")
    }

    // MARK: transactions

    func commit() throws(SQLiteError) {
        guard inTransaction else { return }
        inTransaction = false
        do {
            try db.commit()
        } catch {
            try? db.execute("ROLLBACK")
            throw error
        }
    }

    func rollback() {
        guard inTransaction else { return }
        inTransaction = false
        try? db.execute("ROLLBACK")
    }

    private func begin() throws(SQLiteError) {
        guard !inTransaction else { return }
        try db.execute("BEGIN IMMEDIATE")
        inTransaction = true
    }

    // MARK: writes

    func setMeta(_ key: String, _ value: String) throws(SQLiteError) {
        try begin()
        try db.prepare("INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value")
            .bind(1, key).bind(2, value).run()
    }

    func insertMessage(conversation: String, index: Int, _ e: TimelineEntry) throws(SQLiteError) {
        try begin()
        let s = try db.prepare("""
            INSERT OR REPLACE INTO messages (conversation, idx, id, seq, server_time, sender_user, sender_node, clock, payload)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
            """)
        s.bind(1, conversation).bind(2, Int64(index)).bind(3, e.messageID.bytes)
        if let seq = e.seq { s.bind(4, seq) } else { s.bindNull(4) }
        if let t = e.serverTimeMs { s.bind(5, t) } else { s.bindNull(5) }
        s.bind(6, e.senderUser).bind(7, e.senderNode).bind(8, ClockCoding.encode(e.clock)).bind(9, e.payload)
        try s.run()
    }

    func confirmMessage(conversation: String, index: Int, seq: UInt64, serverTimeMs: UInt64) throws(SQLiteError) {
        try begin()
        try db.prepare("UPDATE messages SET seq = ?3, server_time = ?4 WHERE conversation = ?1 AND idx = ?2")
            .bind(1, conversation).bind(2, Int64(index)).bind(3, seq).bind(4, serverTimeMs).run()
    }

    func saveOutbox(_ row: OutboxRow) throws(SQLiteError) {
        try begin()
        let (state, kind, code): (RowState, Int64, Int64)
        switch row.failure {
        case nil: (state, kind, code) = (.sending, 0, 0)
        case .attemptsExhausted?: (state, kind, code) = (.failed, 1, 0)
        case .maxOfflineAge?: (state, kind, code) = (.failed, 2, 0)
        case let .rejected(c)?: (state, kind, code) = (.failed, 3, Int64(c.rawValue))
        }
        try db.prepare("""
            INSERT OR REPLACE INTO outbox (id, conversation, ord, age_start, attempts, state, failure_kind, failure_code)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
            """)
            .bind(1, row.id.bytes).bind(2, row.conversation).bind(3, row.order).bind(4, row.ageStart)
            .bind(5, Int64(row.attempts)).bind(6, state.rawValue).bind(7, kind).bind(8, code).run()
    }

    func updateAttempts(_ id: MessageID, _ attempts: UInt32) throws(SQLiteError) {
        try begin()
        try db.prepare("UPDATE outbox SET attempts = ?2 WHERE id = ?1").bind(1, id.bytes).bind(2, Int64(attempts)).run()
    }

    func deleteOutbox(_ id: MessageID) throws(SQLiteError) {
        try begin()
        try db.prepare("DELETE FROM outbox WHERE id = ?1").bind(1, id.bytes).run()
    }

    func saveConversation(name: String, cursor: UInt64, clock: VectorClock) throws(SQLiteError) {
        try begin()
        try db.prepare("""
            INSERT INTO conversations (name, cursor, clock) VALUES (?1, ?2, ?3)
            ON CONFLICT(name) DO UPDATE SET cursor = excluded.cursor, clock = excluded.clock
            """)
            .bind(1, name).bind(2, cursor).bind(3, ClockCoding.encode(clock)).run()
    }

    // MARK: load

    /// Reads everything and advances the open epoch (mixed into the id generator's seed).
    func load(limits: WireLimits) throws(SQLiteError) -> Snapshot {
        var snap = Snapshot()
        let meta = try db.prepare("SELECT key, value FROM meta")
        while try meta.step() {
            switch meta.string(0) {
            case "user": snap.user = meta.string(1)
            case "epoch": snap.epoch = UInt64(meta.string(1)) ?? 0
            default: break
            }
        }
        snap.epoch += 1
        try setMeta("epoch", String(snap.epoch))
        try commit()

        let convs = try db.prepare("SELECT name, cursor, clock FROM conversations ORDER BY name")
        while try convs.step() {
            snap.conversations.append(ConversationRow(
                name: convs.string(0), cursor: convs.uint64(1),
                clock: try ClockCoding.decode(convs.blob(2), limits: limits)))
        }
        let msgs = try db.prepare("""
            SELECT conversation, idx, id, seq, server_time, sender_user, sender_node, clock, payload
            FROM messages ORDER BY conversation, idx
            """)
        while try msgs.step() {
            guard let id = MessageID(bytes: msgs.blob(2)) else { throw corrupt("message id") }
            let entry = TimelineEntry(
                messageID: id, seq: msgs.isNull(3) ? nil : msgs.uint64(3),
                serverTimeMs: msgs.isNull(4) ? nil : msgs.uint64(4),
                senderUser: msgs.string(5), senderNode: msgs.uint64(6),
                clock: try ClockCoding.decode(msgs.blob(7), limits: limits), payload: msgs.blob(8))
            let conversation = msgs.string(0)
            let expected = snap.messages[conversation]?.count ?? 0
            guard msgs.int64(1) == Int64(expected) else { throw corrupt("timeline index of \(conversation)") }
            snap.messages[conversation, default: []].append(entry)
        }
        let out = try db.prepare("""
            SELECT id, conversation, ord, age_start, attempts, state, failure_kind, failure_code FROM outbox ORDER BY ord
            """)
        while try out.step() {
            guard let id = MessageID(bytes: out.blob(0)) else { throw corrupt("outbox id") }
            var failure: FailureReason?
            if out.int64(5) == RowState.failed.rawValue {
                switch out.int64(6) {
                case 1: failure = .attemptsExhausted
                case 2: failure = .maxOfflineAge
                default: failure = .rejected(RejectCode(rawValue: UInt32(truncatingIfNeeded: out.int64(7))))
                }
            }
            snap.outbox.append(OutboxRow(
                id: id, conversation: out.string(1), order: out.uint64(2), ageStart: out.uint64(3),
                attempts: UInt32(clamping: out.int64(4)), failure: failure))
        }
        return snap
    }

    private func corrupt(_ what: String) -> SQLiteError {
        SQLiteError(code: SQLITE_CORRUPT, message: "client store: invalid \(what)")
    }
}

/// The stored form of a vector clock: varint pairs (node, counter) in node order.
enum ClockCoding {
    static func encode(_ clock: VectorClock) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(clock.count * 4 + 1)
        Varint.append(UInt64(clock.count), to: &out)
        for e in clock.entries {
            Varint.append(e.node, to: &out)
            Varint.append(e.counter, to: &out)
        }
        return out
    }

    static func decode(_ bytes: [UInt8], limits: WireLimits) throws(SQLiteError) -> VectorClock {
        var i = 0
        func next() throws(SQLiteError) -> UInt64 {
            guard let value = Varint.read(bytes, at: &i) else {
                throw SQLiteError(code: SQLITE_CORRUPT, message: "client store: invalid clock")
            }
            return value
        }
        let n = try next()
        guard n <= UInt64(limits.maxClockEntries) else { throw SQLiteError(code: SQLITE_CORRUPT, message: "client store: invalid clock") }
        var entries: [VectorClock.Entry] = []
        entries.reserveCapacity(Int(n))
        for _ in 0..<n { entries.append(VectorClock.Entry(node: try next(), counter: try next())) }
        do {
            return try VectorClock(entries: entries, maxEntries: limits.maxClockEntries)
        } catch {
            throw SQLiteError(code: SQLITE_CORRUPT, message: "client store: invalid clock")
        }
    }
}
