/// The durable server store: one SQLite file in WAL mode.
///
/// `append` looks the id up, assigns head + 1, inserts the message and advances the head in
/// one IMMEDIATE transaction, so when it returns the message is committed (durable against a
/// process crash; against power loss too with `.powerLoss`, the default). (conversation,
/// message_id) and (conversation, seq) are UNIQUE. Reopening the file restores everything.
public final class SQLiteServerStore: ServerStore {
    /// "IMRS" in the file's `application_id`.
    public static let applicationID: Int32 = 0x494D_5253
    /// 2: members carry a role (0 member, 1 owner).
    public static let schemaVersion: Int32 = 2
    /// A version 1 store knew no roles and let every member manage the conversation: its
    /// members become owners, so nobody loses a right they had.
    static let upgrades: [Int32: String] = [1: "ALTER TABLE members ADD COLUMN role INTEGER NOT NULL DEFAULT 0; UPDATE members SET role = 1;"]

    private var db: SQLiteDatabase?
    private var inBatch = false

    public init(path: String, durability: SQLiteDatabase.Durability = .powerLoss) throws {
        let db = try SQLiteDatabase(path: path, durability: durability)
        try db.transaction {
            try db.claim(applicationID: Self.applicationID, schemaVersion: Self.schemaVersion, upgrades: Self.upgrades)
            try db.execute("""
                CREATE TABLE IF NOT EXISTS conversations (
                    id TEXT PRIMARY KEY NOT NULL,
                    head_seq INTEGER NOT NULL DEFAULT 0
                ) WITHOUT ROWID;
                CREATE TABLE IF NOT EXISTS members (
                    conversation TEXT NOT NULL REFERENCES conversations(id),
                    user TEXT NOT NULL,
                    role INTEGER NOT NULL DEFAULT 0,
                    PRIMARY KEY (conversation, user)
                ) WITHOUT ROWID;
                CREATE INDEX IF NOT EXISTS members_by_user ON members(user, conversation);
                CREATE TABLE IF NOT EXISTS messages (
                    conversation TEXT NOT NULL REFERENCES conversations(id),
                    seq INTEGER NOT NULL,
                    message_id BLOB NOT NULL,
                    sender_user TEXT NOT NULL,
                    sender_node INTEGER NOT NULL,
                    server_time_ms INTEGER NOT NULL,
                    clock BLOB NOT NULL,
                    payload BLOB NOT NULL,
                    UNIQUE (conversation, seq),
                    UNIQUE (conversation, message_id)
                );
                CREATE TABLE IF NOT EXISTS watermarks (
                    conversation TEXT NOT NULL,
                    user TEXT NOT NULL,
                    node INTEGER NOT NULL,
                    delivered_seq INTEGER NOT NULL,
                    read_seq INTEGER NOT NULL,
                    PRIMARY KEY (conversation, user, node)
                ) WITHOUT ROWID;
                """)
        }
        self.db = db
    }

    /// Closes the file (checkpointing the WAL). Later calls throw. Idempotent.
    public func close() {
        rollbackBatch()
        if let db { try? db.execute("PRAGMA wal_checkpoint(TRUNCATE)") }
        db = nil
    }

    public func beginBatch() throws {
        guard !inBatch else { return }
        try open().execute("BEGIN IMMEDIATE")
        inBatch = true
    }

    public func commitBatch() throws {
        guard inBatch else { return }
        try open().commit()
        inBatch = false
    }

    public func rollbackBatch() {
        guard inBatch else { return }
        try? db?.execute("ROLLBACK")
        inBatch = false
    }

    /// One atomic write: its own transaction, or a savepoint inside an open batch.
    private func atomically<T>(_ db: SQLiteDatabase, _ body: () throws -> T) throws -> T {
        guard inBatch else { return try db.transaction(body) }
        try db.execute("SAVEPOINT write")
        do {
            let result = try body()
            try db.execute("RELEASE write")
            return result
        } catch {
            try? db.execute("ROLLBACK TO write")
            try? db.execute("RELEASE write")
            throw error
        }
    }

    private func open() throws -> SQLiteDatabase {
        guard let db else { throw SQLiteError(code: 21 /* SQLITE_MISUSE */, message: "store is closed") }
        return db
    }

    public func createConversation(_ conversation: String, members: [String], owners: [String]) throws -> Bool {
        let db = try open()
        return try atomically(db) {
            let insert = try db.prepare("INSERT OR IGNORE INTO conversations (id, head_seq) VALUES (?1, 0)")
            insert.bind(1, conversation)
            try insert.run()
            guard db.changes == 1 else { return false }
            let ownerSet = Set(owners)
            for m in Set(members).union(ownerSet).sorted() {
                let s = try db.prepare("INSERT OR IGNORE INTO members (conversation, user, role) VALUES (?1, ?2, ?3)")
                s.bind(1, conversation).bind(2, m).bind(3, Int64(ownerSet.contains(m) ? MemberRole.owner.rawValue : 0))
                try s.run()
            }
            return true
        }
    }

    public func owners(of conversation: String) throws -> [String] {
        let db = try open()
        let s = try db.prepare("SELECT user FROM members WHERE conversation = ?1 AND role = ?2 ORDER BY user")
        s.bind(1, conversation).bind(2, Int64(MemberRole.owner.rawValue))
        var out: [String] = []
        while try s.step() { out.append(s.string(0)) }
        return out
    }

    public func setRole(_ role: MemberRole, of user: String, in conversation: String) throws {
        let db = try open()
        guard try exists(db, conversation) else { throw ServerStoreError.unknownConversation(conversation) }
        let s = try db.prepare("UPDATE members SET role = ?3 WHERE conversation = ?1 AND user = ?2")
        s.bind(1, conversation).bind(2, user).bind(3, Int64(role.rawValue))
        try s.run()
    }

    private func exists(_ db: SQLiteDatabase, _ conversation: String) throws -> Bool {
        let s = try db.prepare("SELECT 1 FROM conversations WHERE id = ?1")
        defer { s.reset() }
        s.bind(1, conversation)
        return try s.step()
    }

    public func members(of conversation: String) throws -> [String]? {
        let db = try open()
        guard try exists(db, conversation) else { return nil }
        let s = try db.prepare("SELECT user FROM members WHERE conversation = ?1 ORDER BY user")
        s.bind(1, conversation)
        var out: [String] = []
        while try s.step() { out.append(s.string(0)) }
        return out
    }

    public func addMember(_ user: String, to conversation: String) throws {
        let db = try open()
        guard try exists(db, conversation) else { throw ServerStoreError.unknownConversation(conversation) }
        let s = try db.prepare("INSERT OR IGNORE INTO members (conversation, user) VALUES (?1, ?2)")
        s.bind(1, conversation).bind(2, user)
        try s.run()
    }

    public func removeMember(_ user: String, from conversation: String) throws {
        let db = try open()
        guard try exists(db, conversation) else { throw ServerStoreError.unknownConversation(conversation) }
        let s = try db.prepare("DELETE FROM members WHERE conversation = ?1 AND user = ?2")
        s.bind(1, conversation).bind(2, user)
        try s.run()
    }

    public func conversations(of user: String) throws -> [ConversationHead] {
        let db = try open()
        let s = try db.prepare("""
            SELECT c.id, c.head_seq FROM members m JOIN conversations c ON c.id = m.conversation
            WHERE m.user = ?1 ORDER BY c.id
            """)
        s.bind(1, user)
        var out: [ConversationHead] = []
        while try s.step() { out.append(ConversationHead(conversation: s.string(0), headSeq: s.uint64(1))) }
        return out
    }

    public func headSeq(of conversation: String) throws -> UInt64? {
        let db = try open()
        let s = try db.prepare("SELECT head_seq FROM conversations WHERE id = ?1")
        defer { s.reset() }
        s.bind(1, conversation)
        return try s.step() ? s.uint64(0) : nil
    }

    public func append(_ m: NewMessage) throws -> AppendOutcome {
        let db = try open()
        return try atomically(db) {
            if let existing = try lookup(db, m.conversation, m.messageID) { return .existing(existing) }
            let head = try db.prepare("SELECT head_seq FROM conversations WHERE id = ?1")
            defer { head.reset() }
            head.bind(1, m.conversation)
            guard try head.step() else { throw ServerStoreError.unknownConversation(m.conversation) }
            let seq = head.uint64(0) + 1
            let insert = try db.prepare("""
                INSERT INTO messages (conversation, seq, message_id, sender_user, sender_node, server_time_ms, clock, payload)
                VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                """)
            insert.bind(1, m.conversation).bind(2, seq).bind(3, m.messageID.bytes).bind(4, m.senderUser)
                .bind(5, m.senderNode).bind(6, m.serverTimeMs).bind(7, Self.encode(m.clock)).bind(8, m.payload)
            try insert.run()
            let advance = try db.prepare("UPDATE conversations SET head_seq = ?2 WHERE id = ?1")
            advance.bind(1, m.conversation).bind(2, seq)
            try advance.run()
            return .stored(StoredMessage(conversation: m.conversation, seq: seq, serverTimeMs: m.serverTimeMs,
                                         senderUser: m.senderUser, senderNode: m.senderNode, messageID: m.messageID,
                                         clock: m.clock, payload: m.payload))
        }
    }

    private static let selectColumns = "conversation, seq, message_id, sender_user, sender_node, server_time_ms, clock, payload"

    private func lookup(_ db: SQLiteDatabase, _ conversation: String, _ id: MessageID) throws -> StoredMessage? {
        let s = try db.prepare("SELECT \(Self.selectColumns) FROM messages WHERE conversation = ?1 AND message_id = ?2")
        defer { s.reset() }
        s.bind(1, conversation).bind(2, id.bytes)
        return try s.step() ? Self.row(s) : nil
    }

    public func message(in conversation: String, id: MessageID) throws -> StoredMessage? {
        try lookup(try open(), conversation, id)
    }

    public func messages(in conversation: String, after: UInt64, limit: Int) throws -> [StoredMessage] {
        try messages(in: conversation, after: after, limit: limit, maxBytes: .max)
    }

    public func messages(in conversation: String, after: UInt64, limit: Int, maxBytes: Int) throws -> [StoredMessage] {
        guard limit > 0 else { return [] }
        let db = try open()
        let s = try db.prepare("SELECT \(Self.selectColumns) FROM messages WHERE conversation = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3")
        s.bind(1, conversation).bind(2, Int64(clamping: after)).bind(3, Int64(limit))
        var out: [StoredMessage] = []
        var total = 0
        // Rows are read one by one: stopping here leaves the rest of the page unread.
        while total <= maxBytes, try s.step() {
            let m = Self.row(s)
            total += m.payload.count
            out.append(m)
        }
        return out
    }

    public func recordWatermark(conversation: String, user: String, node: UInt64, delivered: UInt64, read: UInt64) throws -> WatermarkPair {
        let db = try open()
        let s = try db.prepare("""
            INSERT INTO watermarks (conversation, user, node, delivered_seq, read_seq) VALUES (?1, ?2, ?3, ?4, ?5)
            ON CONFLICT (conversation, user, node) DO UPDATE SET
                delivered_seq = max(delivered_seq, excluded.delivered_seq),
                read_seq = max(read_seq, excluded.read_seq)
            """)
        s.bind(1, conversation).bind(2, user).bind(3, node).bind(4, Int64(clamping: delivered)).bind(5, Int64(clamping: read))
        try s.run()
        return try deviceWatermark(conversation: conversation, user: user, node: node)
    }

    public func userWatermark(conversation: String, user: String) throws -> WatermarkPair {
        let db = try open()
        let s = try db.prepare("SELECT coalesce(max(delivered_seq), 0), coalesce(max(read_seq), 0) FROM watermarks WHERE conversation = ?1 AND user = ?2")
        defer { s.reset() }
        s.bind(1, conversation).bind(2, user)
        guard try s.step() else { return WatermarkPair() }
        return WatermarkPair(delivered: s.uint64(0), read: s.uint64(1))
    }

    public func deviceWatermark(conversation: String, user: String, node: UInt64) throws -> WatermarkPair {
        let db = try open()
        let s = try db.prepare("SELECT delivered_seq, read_seq FROM watermarks WHERE conversation = ?1 AND user = ?2 AND node = ?3")
        defer { s.reset() }
        s.bind(1, conversation).bind(2, user).bind(3, node)
        guard try s.step() else { return WatermarkPair() }
        return WatermarkPair(delivered: s.uint64(0), read: s.uint64(1))
    }

    // MARK: Row encoding

    private static func row(_ s: SQLiteDatabase.Statement) -> StoredMessage {
        StoredMessage(conversation: s.string(0), seq: s.uint64(1), serverTimeMs: s.uint64(5),
                      senderUser: s.string(3), senderNode: s.uint64(4),
                      messageID: MessageID(bytes: s.blob(2)) ?? MessageID(high: 0, low: 0),
                      clock: decodeClock(s.blob(6)), payload: s.blob(7))
    }

    /// A clock as 16-byte big-endian (node, counter) pairs, in the clock's canonical order.
    public static func encode(_ clock: VectorClock) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(clock.count * 16)
        for e in clock.entries {
            for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: e.node >> UInt64(shift))) }
            for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: e.counter >> UInt64(shift))) }
        }
        return out
    }

    public static func decodeClock(_ bytes: [UInt8]) -> VectorClock {
        var entries: [VectorClock.Entry] = []
        entries.reserveCapacity(bytes.count / 16)
        var i = 0
        while i + 16 <= bytes.count {
            var node: UInt64 = 0, counter: UInt64 = 0
            for k in 0..<8 { node = node << 8 | UInt64(bytes[i + k]) }
            for k in 8..<16 { counter = counter << 8 | UInt64(bytes[i + k]) }
            entries.append(.init(node: node, counter: counter))
            i += 16
        }
        return VectorClock(canonicalEntries: entries)
    }
}
