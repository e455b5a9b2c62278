import Metrics
import Synchronization

/// Counters of one producer, read through ``KinesisProducer/statistics`` and reported to
/// swift-metrics (created once, labelled with the stream; error counters once per code seen).
final class ProducerStatistics: Sendable {
    private struct Counts {
        var recordsSent = 0
        var bytesSent = 0
        var kinesisRecordsSent = 0
        var putRecordsCalls = 0
        var retries = 0
        var throttled = 0
        var recordsFailed = 0
        var shardMapRefreshes = 0
        var errors: [String: Int] = [:]
        var byShard: [String: Int] = [:]
    }
    private let counts = Mutex(Counts())
    private let errorCounters = Mutex<[String: Counter]>([:])
    private let dimensions: [(String, String)]

    private let recordsCounter: Counter
    private let bytesCounter: Counter
    private let callsCounter: Counter
    private let retriesCounter: Counter
    private let failedCounter: Counter
    private let batchRecords: Recorder
    private let batchBytes: Recorder
    private let bufferedBytesGauge: Gauge
    private let bufferedRecordsGauge: Gauge

    init(stream: String) {
        dimensions = [("stream", stream)]
        recordsCounter = Counter(label: "kinesis_producer_records_sent", dimensions: dimensions)
        bytesCounter = Counter(label: "kinesis_producer_bytes_sent", dimensions: dimensions)
        callsCounter = Counter(label: "kinesis_producer_put_records_calls", dimensions: dimensions)
        retriesCounter = Counter(label: "kinesis_producer_retries", dimensions: dimensions)
        failedCounter = Counter(label: "kinesis_producer_records_failed", dimensions: dimensions)
        batchRecords = Recorder(label: "kinesis_producer_batch_records", dimensions: dimensions)
        batchBytes = Recorder(label: "kinesis_producer_batch_bytes", dimensions: dimensions)
        bufferedBytesGauge = Gauge(label: "kinesis_producer_buffered_bytes", dimensions: dimensions)
        bufferedRecordsGauge = Gauge(label: "kinesis_producer_buffered_records", dimensions: dimensions)
    }

    func callMade(entries: Int, bytes: Int) {
        counts.withLock { $0.putRecordsCalls += 1 }
        callsCounter.increment()
        batchRecords.record(entries)
        batchBytes.record(bytes)
    }

    func shardMapRead() {
        counts.withLock { $0.shardMapRefreshes += 1 }
    }

    func recordCompletion(_ completion: ProducerStateMachine.Completion, bufferedRecords: Int, bufferedBytes: Int) {
        let records = completion.delivered.count
        let bytes = completion.delivered.reduce(0) { $0 + $1.record.data.count }
        counts.withLock { counts in
            counts.recordsSent += records
            counts.bytesSent += bytes
            counts.kinesisRecordsSent += completion.entriesWritten
            for (_, receipt) in completion.delivered { counts.byShard[receipt.shardID, default: 0] += 1 }
            counts.retries += completion.retried
            counts.throttled += completion.throttled
            counts.recordsFailed += completion.failed.count
            for code in completion.errorCodes { counts.errors[code, default: 0] += 1 }
        }
        if records > 0 {
            recordsCounter.increment(by: records)
            bytesCounter.increment(by: bytes)
        }
        if completion.retried > 0 { retriesCounter.increment(by: completion.retried) }
        if !completion.failed.isEmpty { failedCounter.increment(by: completion.failed.count) }
        for code in completion.errorCodes { errorCounter(code).increment() }
        bufferedRecordsGauge.record(bufferedRecords)
        bufferedBytesGauge.record(bufferedBytes)
    }

    private func errorCounter(_ code: String) -> Counter {
        errorCounters.withLock { counters in
            if let counter = counters[code] { return counter }
            let counter = Counter(label: "kinesis_producer_errors", dimensions: dimensions + [("code", code)])
            counters[code] = counter
            return counter
        }
    }

    func snapshot(machine: ProducerStateMachine) -> KinesisProducer.Statistics {
        let counts = counts.withLock { $0 }
        return KinesisProducer.Statistics(
            recordsSent: counts.recordsSent,
            bytesSent: counts.bytesSent,
            recordsSentByShard: counts.byShard,
            kinesisRecordsSent: counts.kinesisRecordsSent,
            putRecordsCalls: counts.putRecordsCalls,
            retries: counts.retries,
            throttled: counts.throttled,
            recordsFailed: counts.recordsFailed,
            errors: counts.errors,
            bufferedRecords: machine.bufferedRecords,
            bufferedBytes: machine.bufferedBytes,
            peakBufferedRecords: machine.peakBufferedRecords,
            peakBufferedBytes: machine.peakBufferedBytes,
            shardMapRefreshes: counts.shardMapRefreshes
        )
    }
}
