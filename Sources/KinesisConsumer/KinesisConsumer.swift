#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import AWSCore
public import KinesisAPI
import KinesisLeases
import Logging
public import ServiceLifecycle
import Synchronization

/// Consumes one Kinesis stream for one application, sharing its shards with the application's
/// other instances through a lease table, and hands the records to user code as an
/// `AsyncSequence` with backpressure and checkpoints.
///
/// ```swift
/// let consumer = KinesisConsumer(stream: "orders", application: "billing", configuration: config)
/// // run it: in a ServiceGroup, or `try await consumer.run()` in a task of your own
/// for try await envelope in consumer.envelopes {
///     try await handle(envelope.data)
///     try await envelope.checkpoint()
/// }
/// ```
///
/// ``run()`` does the work: it keeps this worker's share of the leases and runs one
/// `ShardConsumerActor` per held shard. A graceful shutdown (the service group's, or
/// ``triggerGracefulShutdown()``) stops fetching, ends ``envelopes`` (and ``shards``) at their
/// next call, lets the user finish and checkpoint what it holds (up to
/// ``Configuration/shutdownGracePeriod``), releases the leases so other instances take them at
/// once, and returns.
///
/// Records come either through ``envelopes`` (every shard in one sequence) or through ``shards``
/// (one session per shard, for processing shards in parallel); the first iterated decides.
///
/// - Important: Delivery is at least once: after a restart or a lease move, a shard resumes right
///   after its last checkpoint, so what was handed out but not checkpointed comes again.
public final class KinesisConsumer: Service, Sendable {
    /// The stream (by name, or by ARN when `stream` began with `arn:`).
    public let stream: StreamIdentifier
    /// The application: instances with the same application share the stream's shards.
    public let application: String
    public let configuration: Configuration

    private enum Source: Sendable {
        case configured
        case client(KinesisClient)
        case reader(any KinesisReading)
    }
    private let source: Source
    private let delivery: Delivery
    private let statisticsStore: ConsumerStatistics
    private let shutdownSignal = ShutdownSignal()
    private let running = Atomic<Bool>(false)

    /// A consumer that creates its Kinesis client (and DynamoDB client or SQLite file, per
    /// ``Configuration/leaseStorage``) from the configuration when it runs.
    ///
    /// - Parameters:
    ///   - stream: The stream's name or ARN.
    ///   - application: The application's name (KCL's `applicationName`); it names the default
    ///     DynamoDB lease table.
    public convenience init(stream: String, application: String, configuration: Configuration = Configuration()) {
        self.init(stream: stream, application: application, source: .configured, configuration: configuration)
    }

    /// A consumer that reads through the given client (for instance `SimulatedKinesis().client()`
    /// from `KinesisTestKit`); the lease store still comes from the configuration.
    public convenience init(stream: String, application: String, kinesis: KinesisClient, configuration: Configuration = Configuration()) {
        self.init(stream: stream, application: application, source: .client(kinesis), configuration: configuration)
    }

    /// A consumer that reads from any source answering like Kinesis (the benchmarks' in-memory one).
    @_spi(Benchmarks)
    public convenience init(stream: String, application: String, reader: any KinesisReading, configuration: Configuration = Configuration()) {
        self.init(stream: stream, application: application, source: .reader(reader), configuration: configuration)
    }

    private init(stream: String, application: String, source: Source, configuration: Configuration) {
        self.stream = stream.hasPrefix("arn:") ? .arn(stream) : .name(stream)
        self.application = application
        self.configuration = configuration
        self.source = source
        let statistics = ConsumerStatistics(stream: stream, application: application)
        self.statisticsStore = statistics
        self.delivery = Delivery(
            budget: BufferBudget(maxRecords: configuration.backpressure.maxRecords, maxBytes: configuration.backpressure.maxBytes),
            checkpointing: configuration.checkpointing,
            statistics: statistics
        )
    }

    /// Every held shard's envelopes in one sequence, in order within each shard. Iterate it once;
    /// it ends at graceful shutdown. Nothing is fetched past the first batch until it (or
    /// ``shards``) is iterated.
    public var envelopes: Envelopes { Envelopes(delivery: delivery) }

    /// One session per shard this worker gains, each with its own ordered envelopes; a session
    /// ends when its lease is lost or its shard is finished. Iterate it once, instead of
    /// ``envelopes``; it ends at graceful shutdown.
    public var shards: ShardSessions { ShardSessions(delivery: delivery) }

    /// Same as `envelope.checkpoint()`.
    public func checkpoint(_ envelope: Envelope) async throws {
        try await envelope.checkpoint()
    }

    /// Stops the consumer gracefully (what a service group's graceful shutdown does).
    public func triggerGracefulShutdown() {
        shutdownSignal.request()
    }

    /// Counters and buffer levels, for progress reports and tests.
    public var statistics: Statistics { statisticsStore.snapshot(budget: delivery.budget) }

    /// Runs the consumer until a graceful shutdown completes or the task is cancelled (then the
    /// leases are not released; other workers take them after the failover time).
    ///
    /// Throws ``KinesisConsumerError`` for an invalid configuration, and when the consumer cannot
    /// go on (the stream is missing, access is denied): with code
    /// ``KinesisConsumerError/Code/consumerFailed`` and the cause.
    public func run() async throws {
        guard !running.exchange(true, ordering: .relaxed) else {
            throw KinesisConsumerError(code: .invalidConfiguration, message: "run() was called twice; a consumer runs once")
        }
        try configuration.validate()
        try await withGracefulShutdownHandler {
            let context = try await makeContext()
            let coordinator = LeaseCoordinatorActor(
                context: context, workerID: configuration.workerID, leases: configuration.leases,
                initialPosition: configuration.initialPosition.checkpoint, gracePeriod: configuration.shutdownGracePeriod,
                shutdown: shutdownSignal
            )
            do {
                try await coordinator.run()
            } catch {
                // Readers end too: nothing more comes.
                delivery.beginShutdown()
                throw error
            }
        } onGracefulShutdown: {
            self.shutdownSignal.request()
        }
    }

    private func makeContext() async throws -> ConsumerContext {
        var logger = configuration.logger
        logger[metadataKey: "kinesis.stream"] = "\(stream)"
        logger[metadataKey: "kinesis.application"] = "\(application)"
        let reader: any KinesisReading
        switch source {
        case .configured: reader = try await KinesisClient(configuration: configuration.aws, logger: logger)
        case .client(let client): reader = client
        case .reader(let source): reader = source
        }
        let store = try await configuration.leaseStorage.makeStore(application: application, aws: configuration.aws, logger: logger)
        var shard = ShardConsumerStateMachine.Configuration()
        shard.maxRecords = configuration.polling.maxRecords
        shard.idleTimeBetweenReads = configuration.polling.idleTimeBetweenReads
        shard.initialTimestamp = configuration.initialPosition.timestamp
        shard.maxBufferedRecords = configuration.backpressure.maxRecordsPerShard
        shard.maxBufferedBytes = configuration.backpressure.maxBytesPerShard
        shard.throttleBackoffBase = configuration.polling.backoffBase
        shard.maxBackoff = configuration.polling.maxBackoff
        shard.maxCallsPerSecond = configuration.polling.maxCallsPerSecondPerShard
        shard.dropRecordsOutsideShardRange = configuration.dropRecordsOutsideShardRange
        return ConsumerContext(
            stream: stream, reader: reader, store: store, delivery: delivery, statistics: statisticsStore,
            shardConfiguration: shard, logger: logger
        )
    }

    /// A snapshot of a consumer's counters.
    public struct Statistics: Sendable, Hashable {
        /// Envelopes the user has moved past (counted per batch).
        public var recordsDelivered: Int
        /// Envelopes fetched and waiting for the user, and their bytes of data.
        public var bufferedRecords: Int
        public var bufferedBytes: Int
        /// The most that ever waited.
        public var peakBufferedRecords: Int
        public var peakBufferedBytes: Int
        /// `GetRecords` calls that returned.
        public var getRecordsCalls: Int
        /// Calls throttled or failed and retried after a backoff.
        public var throttledCalls: Int
        /// Sub-records whose hash key was outside their shard's range (delivered, or dropped when
        /// so configured).
        public var recordsOutsideShardRange: Int
        /// Checkpoints written (the user's, automatic ones and `SHARD_END`).
        public var checkpointsWritten: Int
        /// Each held shard's `millisBehindLatest` at its last fetch.
        public var millisBehindLatest: [String: Int64]
    }
}
