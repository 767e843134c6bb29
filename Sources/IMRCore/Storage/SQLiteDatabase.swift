import CSQLite

/// An error from SQLite, with its result code and message.
public struct SQLiteError: Error, Equatable, Sendable, CustomStringConvertible {
    public var code: Int32
    public var message: String
    public init(code: Int32, message: String) {
        self.code = code
        self.message = message
    }
    public var description: String { "SQLite error \(code): \(message)" }
}

/// A thin, owning wrapper over one sqlite3 connection. Used by the durable client store
/// and the server store; one connection is used by one thread at a time.
public final class SQLiteDatabase {
    public enum Durability: Sendable {
        /// WAL with synchronous=NORMAL: survives a process crash (SIGKILL), not power loss.
        case processCrash
        /// WAL with synchronous=FULL: survives power loss too.
        case powerLoss
    }

    let handle: OpaquePointer
    private var statements: [String: Statement] = [:]
    /// Statements stepped to a row and not yet reset. Each holds a read snapshot open, and a
    /// WAL cannot be checkpointed past a snapshot still open: commits release them first.
    fileprivate var statementsWithRows: [Statement] = []

    /// Opens (creating if needed) the database at `path` in WAL mode.
    public init(path: String, durability: Durability = .powerLoss) throws(SQLiteError) {
        var db: OpaquePointer?
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX
        let rc = sqlite3_open_v2(path, &db, flags, nil)
        guard rc == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open"
            if let db { sqlite3_close_v2(db) }
            throw SQLiteError(code: rc, message: "\(message) (\(path))")
        }
        handle = db
        sqlite3_busy_timeout(db, 5_000)
        do {
            // A file that is not a database fails here, at open, with SQLITE_NOTADB.
            try execute("PRAGMA journal_mode=WAL")
            try execute(durability == .powerLoss ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL")
            try execute("PRAGMA foreign_keys=ON")
        } catch {
            // Every stored property is set, so deinit runs and closes the handle;
            // closing it here too was a double close (found by valgrind).
            throw error
        }
    }

    deinit {
        statementsWithRows.removeAll()
        statements.removeAll()
        sqlite3_close_v2(handle)
    }

    var lastError: SQLiteError {
        SQLiteError(code: sqlite3_errcode(handle), message: String(cString: sqlite3_errmsg(handle)))
    }

    /// Runs one or more statements without results.
    public func execute(_ sql: String) throws(SQLiteError) {
        var errorMessage: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(handle, sql, nil, nil, &errorMessage)
        if rc != SQLITE_OK {
            let message = errorMessage.map { String(cString: $0) } ?? "error"
            sqlite3_free(errorMessage)
            throw SQLiteError(code: rc, message: message)
        }
    }

    /// A cached prepared statement, reset and with bindings cleared.
    public func prepare(_ sql: String) throws(SQLiteError) -> Statement {
        if let cached = statements[sql] {
            cached.reset()
            return cached
        }
        var stmt: OpaquePointer?
        guard sqlite3_prepare_v2(handle, sql, -1, &stmt, nil) == SQLITE_OK, let stmt else { throw lastError }
        let statement = Statement(stmt, database: self)
        statements[sql] = statement
        return statement
    }

    /// Resets every statement left on a row, ending the read snapshots they hold.
    public func releaseReads() {
        for statement in statementsWithRows {
            statement.reset()
            statement.listed = false
        }
        statementsWithRows.removeAll(keepingCapacity: true)
    }

    /// Commits the open transaction after releasing reads, so that the commit's automatic
    /// checkpoint can move the whole WAL into the database and the WAL starts over.
    public func commit() throws(SQLiteError) {
        releaseReads()
        try execute("COMMIT")
    }

    /// Runs `body` in one transaction (BEGIN IMMEDIATE), rolled back when it throws.
    public func transaction<T>(_ body: () throws -> T) throws -> T {
        try execute("BEGIN IMMEDIATE")
        do {
            let result = try body()
            try commit()
            return result
        } catch {
            try? execute("ROLLBACK")
            throw error
        }
    }

    /// The integer of a `PRAGMA name` query.
    public func pragmaInteger(_ name: String) throws(SQLiteError) -> Int64 {
        let s = try prepare("PRAGMA \(name)")
        guard try s.step() else { return 0 }
        return s.int64(0)
    }

    public var changes: Int { Int(sqlite3_changes(handle)) }

    /// Checks that the file belongs to this store (its `application_id`), claiming an empty file.
    /// A foreign database (another application id, or tables but no id) is an error.
    /// `upgrades` maps an earlier schema version to the SQL that brings a store of that
    /// version to the next one; they run in order, inside the caller's transaction.
    public func claim(applicationID: Int32, schemaVersion: Int32, upgrades: [Int32: String] = [:]) throws(SQLiteError) {
        let current = try pragmaInteger("application_id")
        if current == Int64(applicationID) {
            var version = try pragmaInteger("user_version")
            while version < Int64(schemaVersion), let upgrade = upgrades[Int32(clamping: version)] {
                try execute(upgrade)
                version += 1
                try execute("PRAGMA user_version=\(version)")
            }
            guard version == Int64(schemaVersion) else {
                throw SQLiteError(code: SQLITE_MISMATCH, message: "store schema version \(version), expected \(schemaVersion)")
            }
            return
        }
        let tables = try prepare("SELECT count(*) FROM sqlite_master")
        _ = try tables.step()
        guard current == 0 && tables.int64(0) == 0 else {
            throw SQLiteError(code: SQLITE_MISMATCH, message: "not an imr store (application_id \(current))")
        }
        try execute("PRAGMA application_id=\(applicationID)")
        try execute("PRAGMA user_version=\(schemaVersion)")
    }

    public final class Statement {
        let stmt: OpaquePointer
        unowned let database: SQLiteDatabase

        init(_ stmt: OpaquePointer, database: SQLiteDatabase) {
            self.stmt = stmt
            self.database = database
        }

        deinit { sqlite3_finalize(stmt) }

        /// Listed in `statementsWithRows` (once until the next `releaseReads`).
        fileprivate var listed = false

        func reset() {
            sqlite3_reset(stmt)
            sqlite3_clear_bindings(stmt)
        }

        @discardableResult
        public func bind(_ index: Int32, _ value: Int64) -> Statement {
            sqlite3_bind_int64(stmt, index, value); return self
        }

        @discardableResult
        public func bind(_ index: Int32, _ value: UInt64) -> Statement {
            sqlite3_bind_int64(stmt, index, Int64(bitPattern: value)); return self
        }

        @discardableResult
        public func bind(_ index: Int32, _ value: String) -> Statement {
            var s = value
            s.withUTF8 { utf8 in
                let raw = UnsafeRawPointer(utf8.baseAddress) ?? UnsafeRawPointer(bitPattern: 1)!
                _ = sqlite3_bind_text(stmt, index, raw.assumingMemoryBound(to: CChar.self), Int32(utf8.count), sqliteTransient)
            }
            return self
        }

        @discardableResult
        public func bind(_ index: Int32, _ value: [UInt8]) -> Statement {
            value.withUnsafeBytes { raw in
                _ = sqlite3_bind_blob(stmt, index, raw.baseAddress ?? UnsafeRawPointer(bitPattern: 1), Int32(raw.count), sqliteTransient)
            }
            return self
        }

        @discardableResult
        public func bindNull(_ index: Int32) -> Statement {
            sqlite3_bind_null(stmt, index); return self
        }

        /// Steps once: true when a row is available, false when done.
        public func step() throws(SQLiteError) -> Bool {
            switch sqlite3_step(stmt) {
            case SQLITE_ROW:
                if !listed {
                    listed = true
                    database.statementsWithRows.append(self)
                }
                return true
            case SQLITE_DONE: return false
            default:
                let error = database.lastError
                sqlite3_reset(stmt)
                throw error
            }
        }

        /// Runs a statement that returns no rows.
        public func run() throws(SQLiteError) {
            while try step() {}
        }

        public func int64(_ column: Int32) -> Int64 { sqlite3_column_int64(stmt, column) }
        public func uint64(_ column: Int32) -> UInt64 { UInt64(bitPattern: sqlite3_column_int64(stmt, column)) }
        public func isNull(_ column: Int32) -> Bool { sqlite3_column_type(stmt, column) == SQLITE_NULL }

        public func string(_ column: Int32) -> String {
            guard let p = sqlite3_column_text(stmt, column) else { return "" }
            let n = Int(sqlite3_column_bytes(stmt, column))
            return String(decoding: UnsafeBufferPointer(start: p, count: n), as: UTF8.self)
        }

        public func blob(_ column: Int32) -> [UInt8] {
            let n = Int(sqlite3_column_bytes(stmt, column))
            guard n > 0, let p = sqlite3_column_blob(stmt, column) else { return [] }
            return Array(UnsafeRawBufferPointer(start: p, count: n))
        }
    }
}

/// SQLITE_TRANSIENT: SQLite copies the bound value before the call returns.
private let sqliteTransient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
