import Metrics
import Synchronization

/// Counters of one consumer, read through ``KinesisConsumer/statistics`` and reported to
/// swift-metrics (created once, labelled with the stream and application).
final class ConsumerStatistics: Sendable {
    private let recordsDelivered = Atomic<Int>(0)
    private let getRecordsCalls = Atomic<Int>(0)
    private let throttledCalls = Atomic<Int>(0)
    private let outOfRangeRecords = Atomic<Int>(0)
    private let checkpointsWritten = Atomic<Int>(0)
    private let lags = Mutex<[String: Int64]>([:])

    private let deliveredCounter: Counter
    private let getRecordsCounter: Counter
    private let throttledCounter: Counter
    private let outOfRangeCounter: Counter
    private let checkpointCounter: Counter

    init(stream: String, application: String) {
        let dimensions = [("stream", stream), ("application", application)]
        deliveredCounter = Counter(label: "kinesis_consumer_records_delivered", dimensions: dimensions)
        getRecordsCounter = Counter(label: "kinesis_consumer_get_records_calls", dimensions: dimensions)
        throttledCounter = Counter(label: "kinesis_consumer_throttled_calls", dimensions: dimensions)
        outOfRangeCounter = Counter(label: "kinesis_consumer_records_outside_shard_range", dimensions: dimensions)
        checkpointCounter = Counter(label: "kinesis_consumer_checkpoints_written", dimensions: dimensions)
    }

    func delivered(records: Int) {
        recordsDelivered.add(records, ordering: .relaxed)
        deliveredCounter.increment(by: records)
    }

    func fetched(shardID: String, millisBehindLatest: Int64?) {
        getRecordsCalls.add(1, ordering: .relaxed)
        getRecordsCounter.increment()
        if let millisBehindLatest { lags.withLock { $0[shardID] = millisBehindLatest } }
    }

    func throttled() {
        throttledCalls.add(1, ordering: .relaxed)
        throttledCounter.increment()
    }

    func outOfRange(_ count: Int) {
        outOfRangeRecords.add(count, ordering: .relaxed)
        outOfRangeCounter.increment(by: count)
    }

    func checkpointWritten() {
        checkpointsWritten.add(1, ordering: .relaxed)
        checkpointCounter.increment()
    }

    func shardReleased(_ shardID: String) {
        _ = lags.withLock { $0.removeValue(forKey: shardID) }
    }

    func snapshot(budget: BufferBudget) -> KinesisConsumer.Statistics {
        let usage = budget.usage
        return KinesisConsumer.Statistics(
            recordsDelivered: recordsDelivered.load(ordering: .relaxed),
            bufferedRecords: usage.records,
            bufferedBytes: usage.bytes,
            peakBufferedRecords: usage.peakRecords,
            peakBufferedBytes: usage.peakBytes,
            getRecordsCalls: getRecordsCalls.load(ordering: .relaxed),
            throttledCalls: throttledCalls.load(ordering: .relaxed),
            recordsOutsideShardRange: outOfRangeRecords.load(ordering: .relaxed),
            checkpointsWritten: checkpointsWritten.load(ordering: .relaxed),
            millisBehindLatest: lags.withLock { $0 }
        )
    }
}
