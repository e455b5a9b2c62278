internal import CSQLite
import Dispatch

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A value bound to or read from SQLite.
enum SQLiteValue: Sendable, Hashable {
    case null
    case integer(Int64)
    case text(String)
    case blob([UInt8])

    var integer: Int64? { if case .integer(let value) = self { value } else { nil } }
    var text: String? { if case .text(let value) = self { value } else { nil } }
}

/// One SQLite connection, used only on its own serial queue (`run`), never on the cooperative pool.
///
/// `@unchecked Sendable`: `handle` is touched only by blocks on `queue`, which runs one at a time.
final class SQLiteConnection: @unchecked Sendable {
    private let queue: DispatchQueue
    private let handle: OpaquePointer
    let path: String

    struct Failure: Error, CustomStringConvertible {
        var message: String
        var description: String { message }
    }

    /// Opens (creating if missing) the database at `path` in WAL mode, waiting up to `busyTimeout`
    /// for other processes' locks.
    static func open(path: String, busyTimeout: Duration) async throws -> SQLiteConnection {
        let queue = DispatchQueue(label: "swift-kinesis-client.sqlite")
        let handle: OpaquePointer = try await withCheckedThrowingContinuation { continuation in
            queue.async {
                var db: OpaquePointer?
                let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX
                guard sqlite3_open_v2(path, &db, flags, nil) == SQLITE_OK, let db else {
                    let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
                    if let db { sqlite3_close_v2(db) }
                    continuation.resume(throwing: Failure(message: "could not open SQLite database \(path): \(message)"))
                    return
                }
                sqlite3_busy_timeout(db, Int32(clamping: busyTimeout.components.seconds * 1000 + busyTimeout.components.attoseconds / 1_000_000_000_000_000))
                continuation.resume(returning: db)
            }
        }
        let connection = SQLiteConnection(queue: queue, handle: handle, path: path)
        // WAL: readers do not block the writer, and several processes can share the file.
        let mode = try await connection.run { try $0.execute("PRAGMA journal_mode=WAL") }
        guard mode.first?.first?.text?.lowercased() == "wal" else {
            throw Failure(message: "SQLite database \(path) could not use WAL mode (journal mode \(mode.first?.first?.text ?? "unknown")); the lease store needs it to be shared by several processes")
        }
        _ = try await connection.run { try $0.execute("PRAGMA synchronous=FULL") }
        return connection
    }

    private init(queue: DispatchQueue, handle: OpaquePointer, path: String) {
        self.queue = queue
        self.handle = handle
        self.path = path
    }

    deinit {
        // Closing may checkpoint the WAL and fsync: on the connection's queue, not the caller's thread.
        nonisolated(unsafe) let handle = handle
        queue.async { sqlite3_close_v2(handle) }
    }

    /// Runs `body` on the connection's queue.
    func run<T: Sendable>(_ body: @escaping @Sendable (SQLiteConnection) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async { continuation.resume(with: Result { try body(self) }) }
        }
    }

    /// Runs one statement with `bindings` (on the queue); returns its rows.
    @discardableResult
    func execute(_ sql: String, _ bindings: [SQLiteValue] = []) throws -> [[SQLiteValue]] {
        var statement: OpaquePointer?
        guard sqlite3_prepare_v2(handle, sql, -1, &statement, nil) == SQLITE_OK, let statement else {
            throw Failure(message: "SQLite could not prepare a statement: \(String(cString: sqlite3_errmsg(handle)))")
        }
        defer { sqlite3_finalize(statement) }
        for (index, value) in bindings.enumerated() {
            let position = Int32(index + 1)
            let code: Int32
            switch value {
            case .null: code = sqlite3_bind_null(statement, position)
            case .integer(let number): code = sqlite3_bind_int64(statement, position, number)
            case .text(let text): code = sqlite3_bind_text(statement, position, text, -1, sqliteTransient)
            case .blob(let bytes) where bytes.isEmpty: code = sqlite3_bind_zeroblob(statement, position, 0)
            case .blob(let bytes): code = bytes.withUnsafeBytes { sqlite3_bind_blob(statement, position, $0.baseAddress, Int32($0.count), sqliteTransient) }
            }
            guard code == SQLITE_OK else { throw Failure(message: "SQLite could not bind a value: \(String(cString: sqlite3_errmsg(handle)))") }
        }
        var rows: [[SQLiteValue]] = []
        while true {
            let step = sqlite3_step(statement)
            if step == SQLITE_DONE { return rows }
            guard step == SQLITE_ROW else {
                throw Failure(message: "SQLite failed on \(path): \(String(cString: sqlite3_errmsg(handle)))\(step == SQLITE_BUSY ? " (the database stayed locked by another process past the busy timeout)" : "")")
            }
            var row: [SQLiteValue] = []
            for column in 0..<sqlite3_column_count(statement) {
                switch sqlite3_column_type(statement, column) {
                case SQLITE_NULL: row.append(.null)
                case SQLITE_INTEGER: row.append(.integer(sqlite3_column_int64(statement, column)))
                case SQLITE_BLOB:
                    let count = Int(sqlite3_column_bytes(statement, column))
                    let bytes = sqlite3_column_blob(statement, column).map { Array(UnsafeRawBufferPointer(start: $0, count: count)) } ?? []
                    row.append(.blob(bytes))
                default:
                    row.append(.text(sqlite3_column_text(statement, column).map { String(cString: $0) } ?? ""))
                }
            }
            rows.append(row)
        }
    }
}

/// SQLite's `SQLITE_TRANSIENT`: copy bound values at once.
private let sqliteTransient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
