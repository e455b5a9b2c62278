import AWSCore
import DequeModule
import KinesisAPI

/// The producer's bookkeeping, without I/O or clocks: what is held, what goes into the next
/// `PutRecords` call, what a call's results mean for each record (written, retried, failed), the
/// per-key order, the per-shard pauses after throttling, flush epochs and the buffer bound.
/// `KinesisProducer` keeps it behind its lock and performs the calls it asks for.
struct ProducerStateMachine {
    typealias Instant = ContinuousClock.Instant

    struct Settings {
        var linger: Duration
        var maxInFlight: Int
        var maxEntries: Int
        var maxBatchBytes: Int
        var recordTTL: Duration
        /// `nil` when aggregation is off.
        var aggregationMaxBytes: Int?
        var preservesKeyOrder: Bool
        var maxBufferedRecords: Int
        var maxBufferedBytes: Int
        var retry: KinesisProducer.Configuration.Retry

        init(_ configuration: KinesisProducer.Configuration) {
            linger = configuration.linger
            maxInFlight = configuration.maxRequestsInFlight
            maxEntries = configuration.maxRecordsPerRequest
            maxBatchBytes = configuration.maxBytesPerRequest
            recordTTL = configuration.recordTTL
            aggregationMaxBytes = configuration.aggregation.isEnabled ? configuration.aggregation.maxBytes : nil
            preservesKeyOrder = configuration.ordering.preservesKeyOrder
            maxBufferedRecords = configuration.backpressure.maxRecords
            maxBufferedBytes = configuration.backpressure.maxBytes
            retry = configuration.retry
        }
    }

    /// A user record while the producer holds it.
    struct Record: Sendable {
        let id: UInt64
        let partitionKey: String
        let explicitHashKey: UInt128?
        let hashKey: UInt128
        let data: [UInt8]
        /// Data and partition key bytes: what Kinesis counts, and what the buffer bound counts.
        let size: Int
        let submitted: Instant
        let deadline: Instant
        let epoch: UInt64
        var attempts = 0
        var notBefore: Instant
        var lastError: AWSError?
    }

    /// One `PutRecords` entry: a record alone, or several in an aggregated record.
    struct Entry: Sendable {
        var records: [Record]
        var predictedShardID: String?
        var isAggregated: Bool
        var request: PutRecordsEntry
    }

    struct Batch: Sendable {
        let id: UInt64
        var entries: [Entry]
        var bytes: Int
        var userRecords: Int
    }

    enum Outcome: Sendable {
        case results([PutRecordsOutput.EntryResult])
        case failed(any Error)
    }

    /// What a finished call (or the passing of time) meant for the records it carried.
    struct Completion {
        var delivered: [(record: Record, receipt: KinesisProducer.Receipt)] = []
        var failed: [(record: Record, error: KinesisProducerError)] = []
        /// Kinesis records written (an aggregate counts once).
        var entriesWritten = 0
        var retried = 0
        var throttled = 0
        var errorCodes: [String] = []
        /// Shards that throttled in this call: each is paused once.
        var throttledShards: Set<String> = []
    }

    let settings: Settings
    private var nextID: UInt64 = 0
    private var nextBatchID: UInt64 = 0
    /// Records never sent, in `send` order.
    private var pending = Deque<Record>()
    private var pendingBytes = 0
    /// Records waiting for another attempt.
    private var retrying: [Record] = []
    private(set) var inFlightBatches = 0

    private(set) var bufferedRecords = 0
    private(set) var bufferedBytes = 0
    private(set) var peakBufferedRecords = 0
    private(set) var peakBufferedBytes = 0

    // Per-key order (only with `preservesKeyOrder`): records of a key in flight, and waiting to retry.
    private var inFlightKeys: [String: Int] = [:]
    private var retryingKeys: [String: Int] = [:]

    // Flushes: records carry the epoch they came in; a flush waits for its epoch and older ones.
    private var epoch: UInt64 = 0
    private var outstandingByEpoch: [UInt64: Int] = [:]
    /// Records with IDs up to this one go out without lingering (a flush asked for them).
    private var sendAtOnceThroughID: UInt64 = 0
    private(set) var isShuttingDown = false

    // Shards: the map, whether it must be read again, and pauses after throttling.
    private(set) var shardMap: ShardMap?
    private(set) var shardMapIsStale = true
    /// With aggregation on, nothing is sent until the first shard map is read (or could not be).
    private var waitsForShardMap: Bool
    /// Aggregates written to a shard the map did not know (a reshard): which of their records lie
    /// in that shard's range is decided once the map is read again.
    private var landedOnUnknownShards: [(Entry, String, SequenceNumber)] = []
    /// No shard map read before this (at most two a second; after a failed read, `retry.maxDelay`).
    private(set) var shardMapNotBefore = ContinuousClock.now
    private var pausedUntil: [String: Instant] = [:]
    private var throttleStreak: [String: Int] = [:]

    init(settings: Settings) {
        self.settings = settings
        self.waitsForShardMap = settings.aggregationMaxBytes != nil
    }

    // MARK: Taking records

    /// Whether a record of `size` bytes fits in the buffer now. An empty buffer takes any record.
    func hasRoom(forBytes size: Int) -> Bool {
        bufferedRecords == 0
            || (bufferedRecords < settings.maxBufferedRecords && bufferedBytes + size <= settings.maxBufferedBytes)
    }

    /// Takes a validated record; returns its ID and whether the sender should be woken (a new
    /// linger period starts, or a batch is due at once).
    mutating func admit(partitionKey: String, explicitHashKey: UInt128?, data: [UInt8], now: Instant) -> (id: UInt64, wake: Bool) {
        nextID += 1
        let size = data.count + partitionKey.utf8.count
        let record = Record(
            id: nextID, partitionKey: partitionKey, explicitHashKey: explicitHashKey,
            hashKey: explicitHashKey ?? HashKey.of(partitionKey: partitionKey), data: data, size: size,
            submitted: now, deadline: now + settings.recordTTL, epoch: epoch, notBefore: now
        )
        let wasEmpty = pending.isEmpty
        let dueBefore = pendingIsDue(now: now)
        pending.append(record)
        pendingBytes += size
        bufferedRecords += 1
        bufferedBytes += size
        peakBufferedRecords = max(peakBufferedRecords, bufferedRecords)
        peakBufferedBytes = max(peakBufferedBytes, bufferedBytes)
        outstandingByEpoch[epoch, default: 0] += 1
        // Wake the sender when a linger period starts or a batch just became due; not for every
        // record after that.
        return (nextID, wasEmpty || (!dueBefore && pendingIsDue(now: now)))
    }

    /// Starts a flush: everything taken so far goes out without lingering. Returns the epoch to
    /// wait for with ``isFlushed(through:)``.
    mutating func requestFlush() -> UInt64 {
        sendAtOnceThroughID = nextID
        let flushed = epoch
        epoch += 1
        return flushed
    }

    /// Whether every record of `epoch` and older ones is written or failed.
    func isFlushed(through epoch: UInt64) -> Bool {
        !outstandingByEpoch.keys.contains { $0 <= epoch }
    }

    /// From now on nothing lingers; the caller stops taking records.
    mutating func beginShutdown() {
        isShuttingDown = true
    }

    /// Whether nothing is held (nothing pending, retrying or in flight).
    var isDrained: Bool { bufferedRecords == 0 && inFlightBatches == 0 }

    // MARK: The shard map

    /// Installs a freshly read map, and settles the aggregates that landed on shards the old map
    /// did not know.
    mutating func installShardMap(_ map: ShardMap, now: Instant) -> Completion {
        shardMap = map.isEmpty ? nil : map
        shardMapIsStale = false
        shardMapNotBefore = now + .milliseconds(500)
        waitsForShardMap = false
        return settleLandedOnUnknownShards(now: now)
    }

    /// The shard map could not be read: go on without (records are sent unaggregated) and try
    /// again after `retry.maxDelay`.
    mutating func shardMapUnavailable(now: Instant) -> Completion {
        waitsForShardMap = false
        shardMapIsStale = false
        shardMapNotBefore = now + settings.retry.maxDelay
        return settleLandedOnUnknownShards(now: now)
    }

    /// Decides, with the map as it now is (or none), which records of the aggregates that landed
    /// on unknown shards were delivered and which go out again.
    private mutating func settleLandedOnUnknownShards(now: Instant) -> Completion {
        var completion = Completion()
        let unresolved = landedOnUnknownShards
        landedOnUnknownShards = []
        for (entry, shardID, sequenceNumber) in unresolved {
            settle(entry, landedOn: shardID, sequenceNumber: sequenceNumber, range: shardMap?.range(of: shardID), now: now, into: &completion)
        }
        return completion
    }

    /// Whether the map should be read now: it is stale (or missing) and the last read is not too
    /// recent.
    func wantsShardMap(now: Instant) -> Bool {
        (shardMapIsStale || shardMap == nil) && now >= shardMapNotBefore
    }

    // MARK: Batches

    /// Fails every record whose deadline has passed while it waited (never sent, or waiting to
    /// be sent again). Records in flight wait for their call's answer.
    mutating func expire(now: Instant) -> Completion {
        var completion = Completion()
        while let first = pending.first, first.deadline <= now {
            pending.removeFirst()
            pendingBytes -= first.size
            completion.failed.append((first, expired(first)))
        }
        if retrying.contains(where: { $0.deadline <= now }) {
            var keep: [Record] = []
            for record in retrying {
                if record.deadline <= now {
                    if settings.preservesKeyOrder { Self.decrement(&retryingKeys, record.partitionKey) }
                    completion.failed.append((record, expired(record)))
                } else {
                    keep.append(record)
                }
            }
            retrying = keep
        }
        for (record, _) in completion.failed { release(record) }
        return completion
    }

    private func expired(_ record: Record) -> KinesisProducerError {
        KinesisProducerError(
            code: .recordExpired,
            message: record.attempts == 0
                ? "the record could not be sent within recordTTL (\(settings.recordTTL))"
                : "the record was not written within recordTTL (\(settings.recordTTL))",
            underlying: record.lastError, attempts: record.attempts
        )
    }

    /// The next `PutRecords` call to make, if one is due and a request slot is free.
    mutating func nextBatch(now: Instant) -> Batch? {
        guard inFlightBatches < settings.maxInFlight, !waitsForShardMap else { return nil }
        let retriesReady = retrying.contains { $0.notBefore <= now }
        let pendingDue = pendingIsDue(now: now)
        guard retriesReady || pendingDue else { return nil }

        var assembly = Assembly(settings: settings)
        var skippedKeys: Set<String> = []
        let ordered = settings.preservesKeyOrder

        if retriesReady {
            retrying.sort { $0.id < $1.id }
            var keep: [Record] = []
            for record in retrying {
                let shardID = shardMap?.shardID(for: record.hashKey)
                let blocked = ordered && (skippedKeys.contains(record.partitionKey) || inFlightKeys[record.partitionKey, default: 0] > 0)
                if record.notBefore > now || isPaused(shardID, now: now) || blocked
                    || !assembly.add(record, shardID: shardID, ordered: ordered) {
                    keep.append(record)
                    if ordered { skippedKeys.insert(record.partitionKey) }
                } else if ordered {
                    Self.decrement(&retryingKeys, record.partitionKey)
                }
            }
            retrying = keep
        }

        if pendingDue || !assembly.isEmpty {
            var skipped: [Record] = []
            // Held-back records are looked at up to a bound, so that a hot key's backlog does not
            // make every pass (under the producer's lock) walk the whole buffer.
            while !assembly.isFull, skipped.count < 2 * settings.maxEntries, let record = pending.popFirst() {
                let shardID = shardMap?.shardID(for: record.hashKey)
                if shardID == nil, shardMap != nil { shardMapIsStale = true }
                let blocked = ordered && (skippedKeys.contains(record.partitionKey)
                    || inFlightKeys[record.partitionKey, default: 0] > 0 || retryingKeys[record.partitionKey, default: 0] > 0)
                if !blocked, !isPaused(shardID, now: now), assembly.add(record, shardID: shardID, ordered: ordered) {
                    pendingBytes -= record.size
                } else {
                    skipped.append(record)
                    if ordered { skippedKeys.insert(record.partitionKey) }
                }
            }
            pending.prepend(contentsOf: skipped)
        }

        guard !assembly.isEmpty else { return nil }
        nextBatchID += 1
        let batch = assembly.finish(id: nextBatchID)
        if ordered {
            for entry in batch.entries { for record in entry.records { inFlightKeys[record.partitionKey, default: 0] += 1 } }
        }
        inFlightBatches += 1
        return batch
    }

    /// Whether records that never went out should go now.
    private func pendingIsDue(now: Instant) -> Bool {
        guard let first = pending.first else { return false }
        if isShuttingDown || first.id <= sendAtOnceThroughID || first.submitted + settings.linger <= now { return true }
        if settings.aggregationMaxBytes == nil, pending.count >= settings.maxEntries { return true }
        if pendingBytes >= settings.maxBatchBytes { return true }
        // Half the buffer waiting: lingering longer only makes senders wait.
        return bufferedRecords * 2 >= settings.maxBufferedRecords || bufferedBytes * 2 >= settings.maxBufferedBytes
    }

    private func isPaused(_ shardID: String?, now: Instant) -> Bool {
        guard let shardID, let until = pausedUntil[shardID] else { return false }
        return until > now
    }

    /// The next instant something becomes due by time alone (a linger period ends, a retry's
    /// backoff or a shard's pause ends, a deadline passes); `nil` when only a call's answer or a
    /// new record can change anything.
    func nextWakeup(now: Instant) -> Instant? {
        var candidates: [Instant] = []
        if let first = pending.first {
            candidates.append(first.deadline)
            let lingerEnd = first.submitted + settings.linger
            // Due but held back (its key or shard waits): records behind it may be free to go,
            // so look again after a linger period rather than only when a call answers.
            candidates.append(lingerEnd > now ? lingerEnd : now + max(settings.linger, .milliseconds(1)))
        }
        if shardMapIsStale || shardMap == nil, shardMapNotBefore > now {
            candidates.append(shardMapNotBefore)
        }
        for record in retrying {
            candidates.append(record.deadline)
            if record.notBefore > now { candidates.append(record.notBefore) }
        }
        for until in pausedUntil.values where until > now { candidates.append(until) }
        return candidates.filter { $0 > now }.min()
    }

    // MARK: Results

    /// Applies a call's outcome: records written (with their receipts), put back for another
    /// attempt, or failed for good.
    mutating func complete(_ batch: Batch, outcome: Outcome, now: Instant) -> Completion {
        inFlightBatches -= 1
        if settings.preservesKeyOrder {
            for entry in batch.entries { for record in entry.records { Self.decrement(&inFlightKeys, record.partitionKey) } }
        }
        var completion = Completion()
        switch outcome {
        case .results(let results) where results.count == batch.entries.count:
            for (entry, result) in zip(batch.entries, results) {
                switch result {
                case .success(let shardID, let sequenceNumber):
                    entryWritten(entry, shardID: shardID, sequenceNumber: sequenceNumber, now: now, into: &completion)
                case .failure(let code, let message):
                    let error = AWSError(code: code, message: message, service: "kinesis", operation: "PutRecords")
                    completion.errorCodes.append(code.rawValue)
                    entryFailed(entry, error: error, now: now, into: &completion)
                }
            }
        case .results(let results):
            // Which entries were written cannot be told: nothing is sent again (that could write
            // twice) and every record fails with the reason.
            let error = AWSError(code: .malformedResponse, message: "PutRecords answered \(results.count) results for \(batch.entries.count) entries", service: "kinesis", operation: "PutRecords")
            completion.errorCodes.append(error.code.rawValue)
            for entry in batch.entries { for record in entry.records { fail(record, error: error, into: &completion) } }
        case .failed(let error):
            let awsError = error as? AWSError
            completion.errorCodes.append(awsError?.code.rawValue ?? "\(type(of: error))")
            for entry in batch.entries {
                if let awsError {
                    entryFailed(entry, error: awsError, now: now, into: &completion)
                } else {
                    for record in entry.records {
                        release(record)
                        completion.failed.append((record, KinesisProducerError(code: .shutDown, message: "the call carrying the record was cancelled (\(error)); it may or may not have been written", attempts: record.attempts)))
                    }
                }
            }
        }
        for shardID in completion.throttledShards { pause(shardID, now: now) }
        return completion
    }

    private mutating func entryWritten(_ entry: Entry, shardID: String, sequenceNumber: SequenceNumber, now: Instant, into completion: inout Completion) {
        throttleStreak[shardID] = nil
        completion.entriesWritten += 1
        let unexpected = entry.predictedShardID.map { $0 != shardID } ?? false
        if unexpected { shardMapIsStale = true }
        guard entry.isAggregated else {
            let record = entry.records[0]
            release(record)
            completion.delivered.append((record, KinesisProducer.Receipt(shardID: shardID, sequenceNumber: sequenceNumber, attempts: record.attempts)))
            return
        }
        guard unexpected else {
            settle(entry, landedOn: shardID, sequenceNumber: sequenceNumber, range: nil, now: now, into: &completion)
            return
        }
        // An aggregate landed where its first record's hash key lies. After a reshard the others
        // may lie outside that shard's range, where KCL drops them: those go out again. Until the
        // map is read again nothing more is sent, so that no other aggregate goes astray.
        waitsForShardMap = true
        if let range = shardMap?.range(of: shardID) {
            settle(entry, landedOn: shardID, sequenceNumber: sequenceNumber, range: range, now: now, into: &completion)
        } else {
            landedOnUnknownShards.append((entry, shardID, sequenceNumber))
        }
    }

    /// Delivers an aggregate's records that lie in `range` (all of them when `range` is `nil` and
    /// the aggregate landed where predicted) and sends the others again.
    private mutating func settle(_ entry: Entry, landedOn shardID: String, sequenceNumber: SequenceNumber, range: HashKeyRange?, now: Instant, into completion: inout Completion) {
        let unexpected = entry.predictedShardID.map { $0 != shardID } ?? false
        for (index, record) in entry.records.enumerated() {
            if !unexpected || range?.contains(record.hashKey) == true {
                release(record)
                completion.delivered.append((record, KinesisProducer.Receipt(shardID: shardID, sequenceNumber: sequenceNumber, subSequenceNumber: UInt64(index), attempts: record.attempts)))
            } else {
                let error = AWSError(code: AWSError.Code("UnexpectedShard"), message: "the aggregated record went to \(shardID), not the predicted \(entry.predictedShardID ?? "-"), and this record's hash key may lie outside it", service: "kinesis", operation: "PutRecords")
                retry(record, error: error, throttling: false, now: now, into: &completion)
            }
        }
    }

    private mutating func entryFailed(_ entry: Entry, error: AWSError, now: Instant, into completion: inout Completion) {
        switch RetryPolicy.classify(error) {
        case .throttling:
            completion.throttled += 1
            if let shardID = entry.predictedShardID { completion.throttledShards.insert(shardID) }
            for record in entry.records { retry(record, error: error, throttling: true, now: now, into: &completion) }
        case .transient:
            for record in entry.records { retry(record, error: error, throttling: false, now: now, into: &completion) }
        case .final:
            for record in entry.records { fail(record, error: error, into: &completion) }
        }
    }

    private mutating func retry(_ record: Record, error: AWSError, throttling: Bool, now: Instant, into completion: inout Completion) {
        var record = record
        record.lastError = error
        guard now < record.deadline else {
            release(record)
            completion.failed.append((record, expired(record)))
            return
        }
        record.notBefore = now + backoff(attempt: record.attempts, throttling: throttling)
        retrying.append(record)
        if settings.preservesKeyOrder { retryingKeys[record.partitionKey, default: 0] += 1 }
        completion.retried += 1
    }

    private mutating func fail(_ record: Record, error: AWSError, into completion: inout Completion) {
        release(record)
        completion.failed.append((record, KinesisProducerError(code: .recordFailed, message: "Kinesis refused the record", underlying: error, attempts: record.attempts)))
    }

    private mutating func pause(_ shardID: String, now: Instant) {
        let streak = throttleStreak[shardID, default: 0] + 1
        throttleStreak[shardID] = streak
        let until = now + backoff(attempt: streak, throttling: true)
        pausedUntil[shardID] = max(pausedUntil[shardID] ?? until, until)
    }

    /// Exponential backoff with "equal jitter": between half and all of `base * 2^(attempt-1)`,
    /// capped, so that a retry never comes right back.
    private func backoff(attempt: Int, throttling: Bool) -> Duration {
        let policy = RetryPolicy(
            maxAttempts: 1, baseDelay: settings.retry.baseDelay,
            throttlingBaseDelay: settings.retry.throttlingBaseDelay, maxBackoff: settings.retry.maxDelay, quota: nil
        )
        let ceiling = policy.delay(afterAttempt: max(attempt, 1), errorClass: throttling ? .throttling : .transient, random: 1)
        return ceiling * (0.5 + Double.random(in: 0..<0.5))
    }

    /// Everything still held and not in flight, released (the producer is stopping). Records of
    /// aggregates that await the shard map are among them: written, but maybe outside their shard.
    mutating func removeAll() -> [Record] {
        let records = Array(pending) + retrying + landedOnUnknownShards.flatMap(\.0.records)
        landedOnUnknownShards = []
        pending.removeAll()
        pendingBytes = 0
        retrying.removeAll()
        retryingKeys.removeAll()
        for record in records { release(record) }
        return records
    }

    private mutating func release(_ record: Record) {
        bufferedRecords -= 1
        bufferedBytes -= record.size
        let left = outstandingByEpoch[record.epoch, default: 1] - 1
        outstandingByEpoch[record.epoch] = left == 0 ? nil : left
    }

    private static func decrement(_ counts: inout [String: Int], _ key: String) {
        let left = counts[key, default: 1] - 1
        counts[key] = left == 0 ? nil : left
    }
}

/// One `PutRecords` call being put together: plain entries, and one open aggregated record per
/// shard (with aggregation on), within the call's entry and byte limits.
private struct Assembly {
    let settings: ProducerStateMachine.Settings
    private var entries: [ProducerStateMachine.Entry] = []
    private var open: [String: OpenAggregate] = [:]
    private var generation: UInt64 = 0
    /// With per-key order: where each key's record went in this call (an open aggregate's shard
    /// and generation, or `nil` for a closed entry).
    private var placements: [String: (shardID: String, generation: UInt64)?] = [:]
    private var bytes = 0
    private var userRecords = 0

    private struct OpenAggregate {
        var builder: AggregatedRecordBuilder
        var records: [ProducerStateMachine.Record] = []
        var generation: UInt64
        /// The entry's bytes: the aggregated record and its partition key.
        var bytes: Int { builder.encodedSize + (records.first?.partitionKey.utf8.count ?? 0) }

        /// Adds the record if the aggregate stays within its limit and grows by at most
        /// `callRoom` bytes; returns how much it grew, or `nil`.
        mutating func add(_ user: UserRecord, _ record: ProducerStateMachine.Record, callRoom: Int) -> Int? {
            let before = builder.encodedSize
            guard builder.append(user, ifSizeAtMost: before + callRoom) else { return nil }
            records.append(record)
            return builder.encodedSize - before
        }
    }

    init(settings: ProducerStateMachine.Settings) {
        self.settings = settings
    }

    var isEmpty: Bool { userRecords == 0 }
    private var entryCount: Int { entries.count + open.count }
    /// No record can be added any more.
    var isFull: Bool { entryCount >= settings.maxEntries || bytes >= settings.maxBatchBytes }

    /// Adds `record` if the call has room and the key's order allows it; returns whether it did.
    mutating func add(_ record: ProducerStateMachine.Record, shardID: String?, ordered: Bool) -> Bool {
        var record = record
        record.attempts += 1
        // A key already in this call may only join the open aggregate that holds it.
        var joinOnly = false
        if ordered, let placement = placements[record.partitionKey] {
            guard let placement, placement.shardID == shardID, open[placement.shardID]?.generation == placement.generation else { return false }
            joinOnly = true
        }
        if let limit = settings.aggregationMaxBytes, let shardID {
            let user = UserRecord(partitionKey: record.partitionKey, explicitHashKey: record.explicitHashKey, data: record.data[...])
            if open[shardID] != nil {
                // Mutated in place: a copy out of the dictionary would copy the aggregate's
                // buffers on every record.
                if let grown = open[shardID]!.add(user, record, callRoom: settings.maxBatchBytes - bytes) {
                    bytes += grown
                    userRecords += 1
                    if ordered { placements[record.partitionKey] = (shardID, open[shardID]!.generation) }
                    return true
                }
                // Refused for the call's bytes: the call is full. Refused for the aggregate's own
                // limit (computed again on this path only): a new aggregate.
                guard open[shardID]!.builder.encodedSize(adding: user) > limit else { return false }
                if joinOnly { return false }
                close(shardID)
            } else if joinOnly {
                return false
            }
            var builder = AggregatedRecordBuilder(maxBytes: limit)
            if entryCount < settings.maxEntries,
                builder.append(user, ifSizeAtMost: settings.maxBatchBytes - bytes - record.partitionKey.utf8.count) {
                generation += 1
                let aggregate = OpenAggregate(builder: builder, records: [record], generation: generation)
                open[shardID] = aggregate
                bytes += aggregate.bytes
                userRecords += 1
                if ordered { placements[record.partitionKey] = (shardID, generation) }
                return true
            }
            // Not taken: the call is full, unless the record is too large for any aggregate.
            if builder.encodedSize(adding: user) <= limit { return false }
            // Larger than an aggregated record may be: it goes alone.
        }
        if joinOnly { return false }
        guard entryCount < settings.maxEntries, bytes + record.size <= settings.maxBatchBytes else { return false }
        entries.append(Self.plain(record, shardID: shardID))
        bytes += record.size
        userRecords += 1
        if ordered { placements[record.partitionKey] = .some(nil) }
        return true
    }

    private static func plain(_ record: ProducerStateMachine.Record, shardID: String?) -> ProducerStateMachine.Entry {
        ProducerStateMachine.Entry(
            records: [record], predictedShardID: shardID, isAggregated: false,
            request: PutRecordsEntry(data: record.data, partitionKey: record.partitionKey, explicitHashKey: record.explicitHashKey)
        )
    }

    /// Turns the shard's open aggregate into an entry (a lone record goes as it is, as KPL does).
    private mutating func close(_ shardID: String) {
        guard let aggregate = open.removeValue(forKey: shardID) else { return }
        if aggregate.records.count == 1 {
            bytes += aggregate.records[0].size - aggregate.bytes
            entries.append(Self.plain(aggregate.records[0], shardID: shardID))
        } else {
            entries.append(ProducerStateMachine.Entry(
                records: aggregate.records, predictedShardID: shardID, isAggregated: true,
                request: PutRecordsEntry(data: aggregate.builder.build(), partitionKey: aggregate.builder.partitionKey ?? aggregate.records[0].partitionKey, explicitHashKey: aggregate.builder.explicitHashKey)
            ))
        }
    }

    mutating func finish(id: UInt64) -> ProducerStateMachine.Batch {
        for shardID in open.keys.sorted() { close(shardID) }
        return ProducerStateMachine.Batch(id: id, entries: entries, bytes: bytes, userRecords: userRecords)
    }
}
