import IMRCore
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import PostgresNIO

/// The server store on PostgreSQL (postgres-nio): the same rules as `SQLiteServerStore`, so
/// that several relays can share one database.
///
/// The relay's engine thread calls it synchronously and waits for each round trip on that
/// thread; the connection itself runs on an event loop of its own, which never waits. `append`
/// assigns the seq by advancing the conversation's head row (`UPDATE ... RETURNING`), whose
/// lock serialises concurrent writers until their commit: no two messages get one seq and no
/// seq is skipped. Group commit maps to one transaction per batch. Text columns compare and
/// sort by bytes (`COLLATE "C"`), as the other stores do.
public final class PostgresServerStore: ServerStore {
    /// The schema this code reads and writes (`imr_schema.version`).
    public static let schemaVersion = 1

    public enum StoreError: Error, CustomStringConvertible {
        case closed
        case badURL(String)
        case schemaMismatch(Int)
        case rolledBack
        public var description: String {
            switch self {
            case .closed: "the store is closed"
            case .rolledBack: "the transaction failed and was rolled back"
            case let .badURL(url): "not a postgres://user[:password]@host[:port]/database URL: \(url)"
            case let .schemaMismatch(v): "the database has imr schema version \(v), this relay knows \(PostgresServerStore.schemaVersion)"
            }
        }
    }

    /// The channel on which every append is announced, delivered at its commit, in commit
    /// order, to every relay listening (`onPeerMessage`).
    public static let messagesChannel = "imr_messages"
    /// The channel on which membership and role changes are announced (the conversation).
    public static let membersChannel = "imr_members"

    private let group: MultiThreadedEventLoopGroup
    private var connection: PostgresConnection?
    private var backendPID: Int32 = 0
    private let peerMessageHandler = NIOLockedValueBox<(@Sendable (String, UInt64) -> Void)?>(nil)
    private let peerMembershipHandler = NIOLockedValueBox<(@Sendable (String) -> Void)?>(nil)

    /// Called on the connection's event loop with the conversation whose members or roles
    /// another relay changed; set it before traffic starts.
    public var onPeerMembershipChange: (@Sendable (String) -> Void)? {
        get { peerMembershipHandler.withLockedValue { $0 } }
        set { peerMembershipHandler.withLockedValue { $0 = newValue } }
    }

    /// Called on the connection's event loop with (conversation, seq) for each message another
    /// relay committed; set it before traffic starts.
    public var onPeerMessage: (@Sendable (String, UInt64) -> Void)? {
        get { peerMessageHandler.withLockedValue { $0 } }
        set { peerMessageHandler.withLockedValue { $0 = newValue } }
    }
    private let logger: Logger
    private var inBatch = false

    /// Connects and creates or checks the schema.
    public init(configuration: PostgresConnection.Configuration, logger: Logger = Logger(label: "imr.store.postgres")) throws {
        self.logger = logger
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        do {
            connection = try PostgresConnection.connect(on: group.next(), configuration: configuration, id: 1, logger: logger).wait()
            try migrate()
            try listen()
        } catch {
            close()
            throw error
        }
    }

    /// `postgres://user[:password]@host[:port]/database` (no TLS: a database on a private network).
    public convenience init(url: String, logger: Logger = Logger(label: "imr.store.postgres")) throws {
        guard let configuration = Self.configuration(url: url) else { throw StoreError.badURL(url) }
        try self.init(configuration: configuration, logger: logger)
    }

    public static func configuration(url: String) -> PostgresConnection.Configuration? {
        guard url.hasPrefix("postgres://") || url.hasPrefix("postgresql://") else { return nil }
        let rest = url.split(separator: "://", maxSplits: 1)[1]
        guard let at = rest.lastIndex(of: "@"), let slash = rest[at...].firstIndex(of: "/") else { return nil }
        let credentials = rest[..<at].split(separator: ":", maxSplits: 1).map(String.init)
        let hostPort = rest[rest.index(after: at)..<slash]
        let database = String(rest[rest.index(after: slash)...])
        guard let user = credentials.first, !user.isEmpty, !database.isEmpty else { return nil }
        var host = String(hostPort)
        var port = 5432
        if let colon = hostPort.lastIndex(of: ":"), let p = Int(hostPort[hostPort.index(after: colon)...]) {
            host = String(hostPort[..<colon])
            port = p
        }
        return .init(host: host, port: port, username: user, password: credentials.count > 1 ? credentials[1] : nil,
                     database: database, tls: .disable)
    }

    /// Closes the connection. Later calls throw. Idempotent.
    public func close() {
        rollbackBatch()
        try? connection?.close().wait()
        connection = nil
        try? group.syncShutdownGracefully()
    }

    deinit {
        if connection != nil { close() }
    }

    // MARK: Round trips

    @discardableResult
    private func run(_ query: PostgresQuery) throws -> PostgresQueryResult {
        guard let connection else { throw StoreError.closed }
        return try connection.query(query, logger: logger).wait()
    }

    /// `body` in one transaction; inside a batch, under a savepoint, so that a failed write
    /// leaves the batch's other writes alone (as every write of a SQLite batch is atomic on its
    /// own) instead of aborting the whole transaction.
    private func atomically<T>(_ body: () throws -> T) throws -> T {
        if inBatch {
            try run("SAVEPOINT imr_write")
            do {
                let result = try body()
                try run("RELEASE SAVEPOINT imr_write")
                return result
            } catch {
                _ = try? run("ROLLBACK TO SAVEPOINT imr_write")
                _ = try? run("RELEASE SAVEPOINT imr_write")
                throw error
            }
        }
        try run("BEGIN")
        do {
            let result = try body()
            guard try run("COMMIT").metadata.command == "COMMIT" else { throw StoreError.rolledBack }
            return result
        } catch {
            _ = try? run("ROLLBACK")
            throw error
        }
    }

    /// Listens for the appends of other relays (this connection's own are skipped by its pid).
    private func listen() throws {
        guard let connection else { throw StoreError.closed }
        backendPID = try run("SELECT pg_backend_pid()").first?.decode(Int32.self) ?? 0
        let ownPID = backendPID
        let handler = peerMessageHandler
        connection.addListener(channel: Self.messagesChannel) { _, notification in
            guard notification.backendPID != ownPID,
                  let separator = notification.payload.lastIndex(of: "\u{1F}"),
                  let seq = UInt64(notification.payload[notification.payload.index(after: separator)...]),
                  let deliver = handler.withLockedValue({ $0 })
            else { return }
            deliver(String(notification.payload[..<separator]), seq)
        }
        try run(PostgresQuery(unsafeSQL: "LISTEN \(Self.messagesChannel)"))
        let membershipHandler = peerMembershipHandler
        connection.addListener(channel: Self.membersChannel) { _, notification in
            guard notification.backendPID != ownPID, let changed = membershipHandler.withLockedValue({ $0 }) else { return }
            changed(notification.payload)
        }
        try run(PostgresQuery(unsafeSQL: "LISTEN \(Self.membersChannel)"))
    }

    private func migrate() throws {
        try atomically {
            try run("""
                CREATE TABLE IF NOT EXISTS imr_schema (version INTEGER NOT NULL);
                """)
            let rows = try run("SELECT version FROM imr_schema")
            if let row = rows.first {
                let version = try row.decode(Int.self)
                guard version == Self.schemaVersion else { throw StoreError.schemaMismatch(version) }
                return
            }
            for statement in Self.schema { try run(PostgresQuery(unsafeSQL: statement)) }
            try run("INSERT INTO imr_schema (version) VALUES (\(Self.schemaVersion))")
        }
    }

    private static let schema = [
        """
        CREATE TABLE conversations (
            id TEXT COLLATE "C" PRIMARY KEY,
            head_seq BIGINT NOT NULL DEFAULT 0)
        """,
        """
        CREATE TABLE members (
            conversation TEXT COLLATE "C" NOT NULL REFERENCES conversations(id),
            member TEXT COLLATE "C" NOT NULL,
            role SMALLINT NOT NULL DEFAULT 0,
            PRIMARY KEY (conversation, member))
        """,
        "CREATE INDEX members_by_member ON members (member, conversation)",
        """
        CREATE TABLE messages (
            conversation TEXT COLLATE "C" NOT NULL REFERENCES conversations(id),
            seq BIGINT NOT NULL,
            message_id BYTEA NOT NULL,
            sender_user TEXT COLLATE "C" NOT NULL,
            sender_node BIGINT NOT NULL,
            server_time_ms BIGINT NOT NULL,
            clock BYTEA NOT NULL,
            payload BYTEA NOT NULL,
            PRIMARY KEY (conversation, seq),
            UNIQUE (conversation, message_id))
        """,
        """
        CREATE TABLE watermarks (
            conversation TEXT COLLATE "C" NOT NULL,
            member TEXT COLLATE "C" NOT NULL,
            node BIGINT NOT NULL,
            delivered_seq BIGINT NOT NULL,
            read_seq BIGINT NOT NULL,
            PRIMARY KEY (conversation, member, node))
        """,
    ]

    // MARK: ServerStore

    public func createConversation(_ conversation: String, members: [String], owners: [String]) throws -> Bool {
        try atomically {
            let inserted = try run("INSERT INTO conversations (id, head_seq) VALUES (\(conversation), 0) ON CONFLICT DO NOTHING")
            guard inserted.metadata.rows == 1 else { return false }
            let ownerSet = Set(owners)
            for m in Set(members).union(ownerSet).sorted() {
                let role = Int16(ownerSet.contains(m) ? MemberRole.owner.rawValue : MemberRole.member.rawValue)
                try run("INSERT INTO members (conversation, member, role) VALUES (\(conversation), \(m), \(role)) ON CONFLICT DO NOTHING")
            }
            return true
        }
    }

    private func exists(_ conversation: String) throws -> Bool {
        try !run("SELECT 1 FROM conversations WHERE id = \(conversation)").isEmpty
    }

    private func strings(_ result: PostgresQueryResult) throws -> [String] {
        try result.map { try $0.decode(String.self) }
    }

    public func members(of conversation: String) throws -> [String]? {
        guard try exists(conversation) else { return nil }
        return try strings(run("SELECT member FROM members WHERE conversation = \(conversation) ORDER BY member"))
    }

    public func owners(of conversation: String) throws -> [String] {
        let owner = Int16(MemberRole.owner.rawValue)
        return try strings(run("SELECT member FROM members WHERE conversation = \(conversation) AND role = \(owner) ORDER BY member"))
    }

    public func addMember(_ user: String, to conversation: String) throws {
        try atomically {
            guard try exists(conversation) else { throw ServerStoreError.unknownConversation(conversation) }
            try run("INSERT INTO members (conversation, member) VALUES (\(conversation), \(user)) ON CONFLICT DO NOTHING")
            try notifyMembershipChange(conversation)
        }
    }

    public func setRole(_ role: MemberRole, of user: String, in conversation: String) throws {
        try atomically {
            guard try exists(conversation) else { throw ServerStoreError.unknownConversation(conversation) }
            try run("UPDATE members SET role = \(Int16(role.rawValue)) WHERE conversation = \(conversation) AND member = \(user)")
            try notifyMembershipChange(conversation)
        }
    }

    public func removeMember(_ user: String, from conversation: String) throws {
        try atomically {
            guard try exists(conversation) else { throw ServerStoreError.unknownConversation(conversation) }
            try run("DELETE FROM members WHERE conversation = \(conversation) AND member = \(user)")
            try notifyMembershipChange(conversation)
        }
    }

    /// Delivered to the other relays at the commit, so their member caches read it afresh.
    private func notifyMembershipChange(_ conversation: String) throws {
        try run("SELECT pg_notify(\(Self.membersChannel), \(conversation))")
    }

    public func conversations(of user: String) throws -> [ConversationHead] {
        try run("""
            SELECT c.id, c.head_seq FROM members m JOIN conversations c ON c.id = m.conversation
            WHERE m.member = \(user) ORDER BY c.id
            """).map { row in
            let (id, head) = try row.decode((String, Int64).self)
            return ConversationHead(conversation: id, headSeq: UInt64(bitPattern: head))
        }
    }

    public func headSeq(of conversation: String) throws -> UInt64? {
        try run("SELECT head_seq FROM conversations WHERE id = \(conversation)").first.map { UInt64(bitPattern: try $0.decode(Int64.self)) }
    }

    public func append(_ m: NewMessage) throws -> AppendOutcome {
        try atomically {
            if let existing = try message(in: m.conversation, id: m.messageID) { return .existing(existing) }
            // The head row's lock holds every other writer of this conversation until the commit.
            guard let row = try run("UPDATE conversations SET head_seq = head_seq + 1 WHERE id = \(m.conversation) RETURNING head_seq").first
            else { throw ServerStoreError.unknownConversation(m.conversation) }
            let seq = UInt64(bitPattern: try row.decode(Int64.self))
            try run("""
                INSERT INTO messages (conversation, seq, message_id, sender_user, sender_node, server_time_ms, clock, payload)
                VALUES (\(m.conversation), \(Int64(bitPattern: seq)), \(ByteBuffer(bytes: m.messageID.bytes)), \(m.senderUser),
                        \(Int64(bitPattern: m.senderNode)), \(Int64(bitPattern: m.serverTimeMs)),
                        \(ByteBuffer(bytes: SQLiteServerStore.encode(m.clock))), \(ByteBuffer(bytes: m.payload)))
                """)
            // Delivered to the other relays at the commit, and not at all if it rolls back.
            try run("SELECT pg_notify(\(Self.messagesChannel), \(m.conversation + "\u{1F}" + String(seq)))")
            return .stored(StoredMessage(conversation: m.conversation, seq: seq, serverTimeMs: m.serverTimeMs,
                                         senderUser: m.senderUser, senderNode: m.senderNode, messageID: m.messageID,
                                         clock: m.clock, payload: m.payload))
        }
    }

    private static func message(_ row: PostgresRow) throws -> StoredMessage {
        let (conversation, seq, id, sender, node, time, clock, payload) =
            try row.decode((String, Int64, ByteBuffer, String, Int64, Int64, ByteBuffer, ByteBuffer).self)
        return StoredMessage(conversation: conversation, seq: UInt64(bitPattern: seq), serverTimeMs: UInt64(bitPattern: time),
                             senderUser: sender, senderNode: UInt64(bitPattern: node),
                             messageID: MessageID(bytes: Array(id.readableBytesView)) ?? MessageID(high: 0, low: 0),
                             clock: SQLiteServerStore.decodeClock(Array(clock.readableBytesView)),
                             payload: Array(payload.readableBytesView))
    }

    public func message(in conversation: String, id: MessageID) throws -> StoredMessage? {
        try run("""
            SELECT conversation, seq, message_id, sender_user, sender_node, server_time_ms, clock, payload
            FROM messages WHERE conversation = \(conversation) AND message_id = \(ByteBuffer(bytes: id.bytes))
            """).first.map(Self.message)
    }

    public func messages(in conversation: String, after: UInt64, limit: Int) throws -> [StoredMessage] {
        guard limit > 0 else { return [] }
        return try run("""
            SELECT conversation, seq, message_id, sender_user, sender_node, server_time_ms, clock, payload
            FROM messages WHERE conversation = \(conversation) AND seq > \(Int64(clamping: after))
            ORDER BY seq LIMIT \(Int64(limit))
            """).map(Self.message)
    }

    @discardableResult
    public func recordWatermark(conversation: String, user: String, node: UInt64, delivered: UInt64, read: UInt64) throws -> WatermarkPair {
        try run("""
            INSERT INTO watermarks (conversation, member, node, delivered_seq, read_seq)
            VALUES (\(conversation), \(user), \(Int64(bitPattern: node)), \(Int64(clamping: delivered)), \(Int64(clamping: read)))
            ON CONFLICT (conversation, member, node) DO UPDATE SET
                delivered_seq = greatest(watermarks.delivered_seq, excluded.delivered_seq),
                read_seq = greatest(watermarks.read_seq, excluded.read_seq)
            """)
        return try deviceWatermark(conversation: conversation, user: user, node: node)
    }

    private func pair(_ result: PostgresQueryResult) throws -> WatermarkPair {
        guard let row = result.first else { return WatermarkPair() }
        let (delivered, read) = try row.decode((Int64, Int64).self)
        return WatermarkPair(delivered: UInt64(bitPattern: delivered), read: UInt64(bitPattern: read))
    }

    public func userWatermark(conversation: String, user: String) throws -> WatermarkPair {
        try pair(run("""
            SELECT coalesce(max(delivered_seq), 0)::BIGINT, coalesce(max(read_seq), 0)::BIGINT FROM watermarks
            WHERE conversation = \(conversation) AND member = \(user)
            """))
    }

    public func deviceWatermark(conversation: String, user: String, node: UInt64) throws -> WatermarkPair {
        try pair(run("""
            SELECT delivered_seq, read_seq FROM watermarks
            WHERE conversation = \(conversation) AND member = \(user) AND node = \(Int64(bitPattern: node))
            """))
    }

    // MARK: Group commit

    public func beginBatch() throws {
        guard !inBatch else { return }
        try run("BEGIN")
        inBatch = true
    }

    public func commitBatch() throws {
        guard inBatch else { return }
        inBatch = false
        do {
            // A transaction that failed is rolled back by its COMMIT, which then says so.
            guard try run("COMMIT").metadata.command == "COMMIT" else { throw StoreError.rolledBack }
        } catch {
            _ = try? run("ROLLBACK")
            throw error
        }
    }

    public func rollbackBatch() {
        guard inBatch else { return }
        inBatch = false
        _ = try? run("ROLLBACK")
    }
}
