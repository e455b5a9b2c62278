#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
public import AWSCore
import DynamoDBAPI
public import KinesisLeases
public import Logging

extension KinesisConsumer {
    /// How a consumer connects, keeps its leases, reads and buffers. Every setting has a default;
    /// KCL's names are given where KCL has the setting.
    public struct Configuration: Sendable {
        /// Region, endpoint, credentials, retries and HTTP settings (proxy, timeouts) for Kinesis
        /// and, with ``LeaseStorage/dynamoDB(table:)``, DynamoDB.
        public var aws = AWSConfiguration()
        /// Where leases and checkpoints live (default: the DynamoDB table named after the
        /// application, as KCL does).
        public var leaseStorage: LeaseStorage = .dynamoDB()
        /// This worker's name in the lease table (`workerIdentifier`); unique per running instance.
        /// Default: the host name and a random UUID.
        public var workerID: String = Configuration.defaultWorkerID()
        /// Where a shard without a checkpoint starts (`initialPositionInStream`; default
        /// `LATEST`, as KCL).
        public var initialPosition: InitialPosition = .latest
        public var polling = Polling()
        public var leases = Leases()
        public var backpressure = Backpressure()
        /// Automatic checkpointing (default: off; the user calls ``Envelope/checkpoint()``).
        public var checkpointing: Checkpointing = .manual
        /// Drop sub-records of an aggregate whose hash key lies outside the shard's range, one by
        /// one, as KCL does with whole aggregates; by default they are delivered and counted.
        public var dropRecordsOutsideShardRange = false
        /// How long a graceful shutdown waits for the user to finish the envelopes handed out
        /// (and checkpoint them) before the leases are released.
        public var shutdownGracePeriod: Duration = .seconds(10)
        public var logger = Logger(label: "swift-kinesis-client.consumer")

        public init() {}

        /// Reading a shard (KCL's names in parentheses).
        public struct Polling: Sendable {
            /// Records one `GetRecords` call asks for (`maxRecords`), 1 to 10,000.
            public var maxRecords = 10_000
            /// The wait between calls once a shard is caught up (`idleTimeBetweenReadsInMillis`).
            public var idleTimeBetweenReads: Duration = .seconds(1)
            /// The first backoff after a throttled or failed call; it doubles, with full jitter.
            public var backoffBase: Duration = .milliseconds(200)
            /// The longest backoff.
            public var maxBackoff: Duration = .seconds(10)
            /// `GetRecords` calls per second per shard at most: Kinesis allows 5. Raise it only for
            /// a source that is not Kinesis (the benchmarks' in-memory one).
            public var maxCallsPerSecondPerShard = 5
            public init() {}
        }

        /// Lease balancing between the instances of one application (KCL's names in parentheses).
        public struct Leases: Sendable {
            /// A lease whose counter has not moved for this long is taken over
            /// (`failoverTimeMillis`; default 10 s). Held leases are renewed every third of it.
            public var failoverTime: Duration = .seconds(10)
            /// The most leases one worker holds (`maxLeasesForWorker`).
            public var maxLeasesForWorker = Int.max
            /// The most leases stolen from a busier worker at once (`maxLeasesToStealAtOneTime`).
            public var maxLeasesToStealAtOneTime = 1
            /// How often the shard list is read to find new shards (`shardSyncIntervalMillis`;
            /// default 60 s). Children of a shard this worker finishes get their leases at once.
            public var shardSyncInterval: Duration = .seconds(60)
            public init() {}
        }

        /// Bounds on what waits for the user. When a shard's buffer is full, that shard stops
        /// calling `GetRecords`; when the total is reached, every shard waits.
        public struct Backpressure: Sendable {
            /// Records waiting per shard.
            public var maxRecordsPerShard = 10_000
            /// Bytes of record data waiting per shard.
            public var maxBytesPerShard = 16 * 1024 * 1024
            /// Records waiting in all.
            public var maxRecords = 100_000
            /// Bytes of record data waiting in all.
            public var maxBytes = 64 * 1024 * 1024
            public init() {}
        }

        /// A unique default worker ID: `<host>:<uuid>`.
        public static func defaultWorkerID() -> String {
            var buffer = [CChar](repeating: 0, count: 256)
            let host = gethostname(&buffer, buffer.count) == 0
                ? String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                : "worker"
            return "\(host):\(UUID().uuidString.lowercased())"
        }

        /// Checks the settings; the error names the setting and what is accepted.
        public func validate() throws {
            func fail(_ message: String) -> KinesisConsumerError {
                KinesisConsumerError(code: .invalidConfiguration, message: message)
            }
            guard (1...10_000).contains(polling.maxRecords) else { throw fail("polling.maxRecords is \(polling.maxRecords); accepted: 1 to 10000") }
            guard polling.idleTimeBetweenReads >= .zero else { throw fail("polling.idleTimeBetweenReads is negative") }
            guard polling.backoffBase > .zero, polling.maxBackoff >= polling.backoffBase else {
                throw fail("polling.backoffBase must be positive and at most polling.maxBackoff")
            }
            guard polling.maxCallsPerSecondPerShard >= 1 else { throw fail("polling.maxCallsPerSecondPerShard is \(polling.maxCallsPerSecondPerShard); accepted: 1 or more") }
            guard leases.failoverTime >= .milliseconds(300) else { throw fail("leases.failoverTime is \(leases.failoverTime); accepted: 300 ms or more") }
            guard leases.maxLeasesForWorker >= 1 else { throw fail("leases.maxLeasesForWorker is \(leases.maxLeasesForWorker); accepted: 1 or more") }
            guard leases.maxLeasesToStealAtOneTime >= 0 else { throw fail("leases.maxLeasesToStealAtOneTime is negative") }
            guard leases.shardSyncInterval > .zero else { throw fail("leases.shardSyncInterval must be positive") }
            guard backpressure.maxRecordsPerShard >= 1, backpressure.maxBytesPerShard >= 1, backpressure.maxRecords >= 1, backpressure.maxBytes >= 1 else {
                throw fail("backpressure bounds must be positive")
            }
            guard !workerID.isEmpty else { throw fail("workerID is empty") }
            if case .every(let records, let interval) = checkpointing.mode {
                guard records.map({ $0 >= 1 }) ?? true, interval.map({ $0 > .zero }) ?? true, records != nil || interval != nil else {
                    throw fail("checkpointing.every needs a positive record count, a positive interval, or both")
                }
            }
        }
    }

    /// Where a shard without a checkpoint starts.
    public struct InitialPosition: Sendable, Hashable, CustomStringConvertible {
        let checkpoint: Checkpoint
        let timestamp: Date?

        /// The oldest record still in the shard (`TRIM_HORIZON`).
        public static let trimHorizon = InitialPosition(checkpoint: .trimHorizon, timestamp: nil)
        /// Records written from now on (`LATEST`).
        public static let latest = InitialPosition(checkpoint: .latest, timestamp: nil)
        /// Records written at or after `date` (`AT_TIMESTAMP`).
        public static func atTimestamp(_ date: Date) -> InitialPosition {
            InitialPosition(checkpoint: .atTimestamp, timestamp: date)
        }

        /// `AT_TIMESTAMP` at an ISO 8601 time (with or without fractional seconds) or milliseconds
        /// since 1970; `nil` when `text` is neither.
        public static func atTimestamp(parsing text: String) -> InitialPosition? {
            parseTimestamp(text).map(atTimestamp)
        }

        public var description: String {
            if let timestamp { return "AT_TIMESTAMP(\(timestamp.timeIntervalSince1970))" }
            return checkpoint.value
        }
    }

    /// Where leases and checkpoints are kept.
    public struct LeaseStorage: Sendable, CustomStringConvertible {
        enum Kind: Sendable {
            case dynamoDB(table: String?)
            case sqlite(path: String)
            case store(any LeaseStore)
        }
        let kind: Kind

        /// A DynamoDB table in KCL's format; `nil` names it after the application, as KCL does.
        /// Created (pay per request) when missing.
        public static func dynamoDB(table: String? = nil) -> LeaseStorage { LeaseStorage(kind: .dynamoDB(table: table)) }
        /// The embedded SQLite store: one host, any number of processes.
        public static func sqlite(path: String) -> LeaseStorage { LeaseStorage(kind: .sqlite(path: path)) }
        /// A store of the caller's (an ``InMemoryLeaseStore`` in tests, or one's own).
        public static func store(_ store: any LeaseStore) -> LeaseStorage { LeaseStorage(kind: .store(store)) }

        /// The SQLite file, for ``sqlite(path:)``.
        public var sqlitePath: String? {
            if case .sqlite(let path) = kind { path } else { nil }
        }

        /// Opens the store: the DynamoDB table (named after `application` unless given), the SQLite
        /// file, or the given store. Nothing is created until the store's `prepare()`, except the
        /// SQLite file itself.
        public func makeStore(application: String, aws: AWSConfiguration, logger: Logger) async throws -> any LeaseStore {
            switch kind {
            case .dynamoDB(let table):
                let dynamoDB = try await DynamoDBClient(configuration: aws, logger: logger)
                return DynamoDBLeaseStore(dynamoDB: dynamoDB, tableName: table ?? application)
            case .sqlite(let path):
                return try await SQLiteLeaseStore(path: path)
            case .store(let given):
                return given
            }
        }

        /// `dynamodb:<table>` (`dynamodb` when the table is the application's name), `sqlite:<path>`,
        /// or `store:<type>`: the spelling of `kinesis consume --lease-store`.
        public var description: String {
            switch kind {
            case .dynamoDB(let table?): "dynamodb:\(table)"
            case .dynamoDB(nil): "dynamodb"
            case .sqlite(let path): "sqlite:\(path)"
            case .store(let store): "store:\(type(of: store))"
            }
        }
    }

    /// Whether the runtime checkpoints by itself.
    public struct Checkpointing: Sendable {
        enum Mode: Sendable { case manual, every(records: Int?, interval: Duration?) }
        let mode: Mode

        /// Only the user's ``Envelope/checkpoint()`` calls write checkpoints.
        public static let manual = Checkpointing(mode: .manual)
        /// Checkpoints what the user has moved past (every envelope before the one the loop asks
        /// for next) every `records` envelopes or `interval`, whichever comes first, and at a
        /// graceful shutdown.
        public static func every(records: Int? = nil, interval: Duration? = nil) -> Checkpointing {
            Checkpointing(mode: .every(records: records, interval: interval))
        }
    }
}
