public import AWSCore
public import Logging

extension KinesisProducer {
    /// How a producer connects, batches, aggregates, retries and bounds its memory. Every setting
    /// has a default; the Kinesis Producer Library's (KPL's) names are given where KPL has the
    /// setting.
    public struct Configuration: Sendable {
        /// Region, endpoint, credentials, the client's own retries of a whole call, and HTTP
        /// settings (proxy, timeouts).
        public var aws = AWSConfiguration()
        /// How long a record may wait for more records to share its `PutRecords` call
        /// (`RecordMaxBufferedTime`, default 100 ms). A full batch, a ``KinesisProducer/flush()``
        /// or a shutdown sends at once.
        public var linger: Duration = .milliseconds(100)
        /// `PutRecords` calls in flight at once (default 8).
        public var maxRequestsInFlight = 8
        /// Entries per `PutRecords` call (`CollectionMaxCount`; Kinesis allows 1 to 500).
        public var maxRecordsPerRequest = 500
        /// Bytes per `PutRecords` call, data and partition keys (`CollectionMaxSize`; Kinesis allows
        /// up to 5 MiB).
        public var maxBytesPerRequest = 5 * 1024 * 1024
        /// How long the producer keeps trying to write a record, from its `send` (`RecordTtl`,
        /// default 30 s). A record not written by then fails with the last error seen.
        public var recordTTL: Duration = .seconds(30)
        public var aggregation = Aggregation()
        public var ordering: Ordering = .perPartitionKey
        public var backpressure = Backpressure()
        public var retry = Retry()
        /// Called once for each record given to ``KinesisProducer/submit(_:partitionKey:explicitHashKey:)``
        /// (or `trySubmit`) that could not be written, with the reason. Such failures are also
        /// logged, counted, and reported by the next ``KinesisProducer/flush()``.
        public var onUndeliverable: (@Sendable (UndeliverableRecord) -> Void)?
        public var logger = Logger(label: "swift-kinesis-client.producer")

        public init() {}

        /// KPL aggregation: user records bound for the same shard (predicted from the stream's
        /// shard map) packed into one Kinesis record, which consumers (KCL, ours) unpack.
        public struct Aggregation: Sendable {
            /// Off by default (`AggregationEnabled` is on in KPL): aggregated records need a
            /// consumer that understands them.
            public var isEnabled = false
            /// The largest aggregated record, magic and checksum included (`AggregationMaxSize`,
            /// default 51,200 bytes; at most 1 MiB less the partition key).
            public var maxBytes = 51_200
            public init() {}
        }

        /// Bounds on what the producer holds: records given to it and not yet written or failed,
        /// retries included. `send` and `submit` wait for room; `trySubmit` reports a full buffer.
        public struct Backpressure: Sendable {
            /// Records held at most (default 50,000).
            public var maxRecords = 50_000
            /// Bytes of data and partition keys held at most (default 64 MiB; at least 1 MiB plus
            /// 256 bytes, so that the largest record fits).
            public var maxBytes = 64 * 1024 * 1024
            public init() {}
        }

        /// The backoff before a failed entry is sent again: a random delay between half and all of
        /// `base * 2^(attempt-1)`, capped at ``maxDelay``. A throttled shard is also paused for
        /// such a delay, so that the producer slows down to what the shard accepts.
        public struct Retry: Sendable {
            /// The base after an internal failure or a connection error (default 100 ms).
            public var baseDelay: Duration = .milliseconds(100)
            /// The base after throttling (default 200 ms).
            public var throttlingBaseDelay: Duration = .milliseconds(200)
            /// The longest delay (default 5 s).
            public var maxDelay: Duration = .seconds(5)
            public init() {}
        }

        /// Checks the settings; throws ``KinesisProducerError`` naming the first bad one.
        public func validate() throws {
            func fail(_ message: String) -> KinesisProducerError { KinesisProducerError(code: .invalidConfiguration, message: message) }
            guard linger >= .zero else { throw fail("linger is \(linger); accepted: zero or more") }
            guard maxRequestsInFlight >= 1 else { throw fail("maxRequestsInFlight is \(maxRequestsInFlight); accepted: 1 or more") }
            guard (1...500).contains(maxRecordsPerRequest) else { throw fail("maxRecordsPerRequest is \(maxRecordsPerRequest); accepted: 1 to 500") }
            guard (KinesisProducer.maxRecordBytes...5 * 1024 * 1024).contains(maxBytesPerRequest) else {
                throw fail("maxBytesPerRequest is \(maxBytesPerRequest); accepted: \(KinesisProducer.maxRecordBytes) to \(5 * 1024 * 1024)")
            }
            guard recordTTL > .zero else { throw fail("recordTTL is \(recordTTL); accepted: more than zero") }
            let aggregateLimit = KinesisProducer.maxRecordBytes - KinesisProducer.maxPartitionKeyBytes
            guard (64...aggregateLimit).contains(aggregation.maxBytes) else {
                throw fail("aggregation.maxBytes is \(aggregation.maxBytes); accepted: 64 to \(aggregateLimit)")
            }
            guard backpressure.maxRecords >= 1 else { throw fail("backpressure.maxRecords is \(backpressure.maxRecords); accepted: 1 or more") }
            guard backpressure.maxBytes >= KinesisProducer.maxRecordBytes + KinesisProducer.maxPartitionKeyBytes else {
                throw fail("backpressure.maxBytes is \(backpressure.maxBytes); accepted: \(KinesisProducer.maxRecordBytes + KinesisProducer.maxPartitionKeyBytes) or more (the largest record)")
            }
            guard retry.baseDelay > .zero, retry.throttlingBaseDelay > .zero, retry.maxDelay >= retry.baseDelay, retry.maxDelay >= retry.throttlingBaseDelay else {
                throw fail("retry delays must be more than zero, with maxDelay (\(retry.maxDelay)) at least baseDelay (\(retry.baseDelay)) and throttlingBaseDelay (\(retry.throttlingBaseDelay))")
            }
        }
    }

    /// Whether records with the same partition key keep their order.
    public struct Ordering: Sendable, Hashable, CustomStringConvertible {
        let preservesKeyOrder: Bool

        /// Records with the same partition key are written in the order they were given to the
        /// producer, retries included (the default). A key has at most one `PutRecords` entry in
        /// flight, so one hot key without aggregation is written one record per round trip.
        public static let perPartitionKey = Ordering(preservesKeyOrder: true)
        /// No order is kept: any record may share a call with any other, and a retried record may
        /// land after later ones of its key. The most throughput.
        public static let none = Ordering(preservesKeyOrder: false)

        public var description: String { preservesKeyOrder ? "perPartitionKey" : "none" }
    }
}
