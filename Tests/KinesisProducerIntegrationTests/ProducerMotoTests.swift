import AWSCore
import Foundation
import IntegrationSupport
import KinesisAPI
import KinesisConsumer
import KinesisProducer
import Testing

/// The producer against the moto server, read back by boto3 (with aws-kinesis-agg for aggregates)
/// and by our consumer; and through the fault-injection proxy.
///
/// moto computes a shard's next sequence number without a lock, so two `PutRecords` calls in
/// flight on one shard can both succeed with the same number and one record lost (seen: 192 of
/// 20,000). The producer runs with one call in flight against it; `KinesisTestKit` covers
/// concurrency.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct ProducerMotoTests {
    static func aws(proxy: CurlTransport.Proxy? = nil) throws -> AWSConfiguration {
        var aws = AWSConfiguration(
            region: .usEast1, endpoint: try Moto.endpoint(),
            credentialProvider: StaticCredentialProvider.static(accessKeyID: "AKIDTEST", secretAccessKey: "test-secret")
        )
        aws.environment = AWSEnvironment([:])
        aws.http.proxy = proxy
        return aws
    }

    static func producer(_ stream: String, aggregate: Bool, proxy: CurlTransport.Proxy? = nil) throws -> KinesisProducer {
        var configuration = KinesisProducer.Configuration()
        configuration.aws = try aws(proxy: proxy)
        configuration.aggregation.isEnabled = aggregate
        configuration.maxRequestsInFlight = 1
        configuration.linger = .milliseconds(20)
        configuration.retry.maxDelay = .milliseconds(500)
        return KinesisProducer(stream: stream, configuration: configuration)
    }

    static func read(_ stream: String) async throws -> [StoredRecord] {
        try await Peer.userRecords(endpoint: try Moto.endpoint(), stream: stream)
    }

    static func data(key: Int, index: Int) -> [UInt8] { Array("key \(key) record \(index)".utf8) }

    /// Each key's records in the stream's order (shard, then sequence and sub-sequence number),
    /// duplicates after the first copy left out.
    static func keyOrder(_ stored: [StoredRecord]) -> [String: [String]] {
        let ordered = stored.sorted {
            ($0.shardID, Int($0.sequenceNumber) ?? 0, $0.subSequenceNumber) < ($1.shardID, Int($1.sequenceNumber) ?? 0, $1.subSequenceNumber)
        }
        var byKey: [String: [String]] = [:]
        for record in ordered where !(byKey[record.partitionKey]?.contains(record.data) ?? false) {
            byKey[record.partitionKey, default: []].append(record.data)
        }
        return byKey
    }

    static func expected(keys: Int, perKey: Int) -> [String: [String]] {
        Dictionary(uniqueKeysWithValues: (0..<keys).map { key in
            ("key-\(key)", (0..<perKey).map { Data(data(key: key, index: $0)).base64EncodedString() })
        })
    }

    @Test(arguments: [(false, false), (true, false), (true, true)])
    func recordsAreReadBackEqualByBoto3AndByOurConsumer(aggregate: Bool, explicitHashKeys: Bool) async throws {
        let kinesis = try await Moto.client()
        let stream = Moto.uniqueStream("producer")
        try await kinesis.createStream(stream, shardCount: 4)
        let producer = try Self.producer(stream, aggregate: aggregate)
        let keys = 20, perKey = 15
        let hashKey: @Sendable (Int) -> UInt128? = { explicitHashKeys ? UInt128($0) * (UInt128.max / 20) : nil }
        let receipts = try await withThrowingTaskGroup(of: [(String, KinesisProducer.Receipt)].self) { group in
            group.addTask { try await producer.run(); return [] }
            var receipts: [(String, KinesisProducer.Receipt)] = []
            for index in 0..<perKey {
                for key in 0..<keys {
                    if key == 0 {
                        // One key through `send`, waiting for each receipt.
                        let data = Self.data(key: key, index: index)
                        receipts.append((Data(data).base64EncodedString(), try await producer.send(data, partitionKey: "key-\(key)", explicitHashKey: hashKey(key))))
                    } else {
                        try await producer.submit(Self.data(key: key, index: index), partitionKey: "key-\(key)", explicitHashKey: hashKey(key))
                    }
                }
            }
            try await producer.flush()
            producer.triggerGracefulShutdown()
            try await group.waitForAll()
            return receipts
        }

        let stored = try await Self.read(stream)
        #expect(stored.count == keys * perKey, "each record once")
        #expect(Self.keyOrder(stored) == Self.expected(keys: keys, perKey: perKey), "every record, in per-key order")
        for (data, receipt) in receipts {
            let match = stored.first { $0.shardID == receipt.shardID && $0.sequenceNumber == receipt.sequenceNumber.rawValue && $0.subSequenceNumber == (receipt.subSequenceNumber ?? 0) }
            #expect(match?.data == data, "receipt \(receipt)")
        }
        let statistics = producer.statistics
        if aggregate {
            #expect(statistics.kinesisRecordsSent < keys * perKey / 4)
            #expect(stored.contains { $0.subSequenceNumber > 0 })
            if explicitHashKeys {
                // aws-kinesis-agg reads each sub-record's explicit hash key from the protobuf.
                let inAggregates = stored.filter { $0.explicitHashKey != nil }
                #expect(!inAggregates.isEmpty)
                #expect(inAggregates.allSatisfy { $0.explicitHashKey == hashKey(Int($0.partitionKey.dropFirst(4))!)?.description })
            }
        }

        // Our consumer reads the same records with the same fields.
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("producer-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var configuration = KinesisConsumer.Configuration()
        configuration.aws = try Self.aws()
        configuration.leaseStorage = .sqlite(path: "\(directory)/leases.sqlite")
        configuration.initialPosition = .trimHorizon
        configuration.polling.idleTimeBetweenReads = .milliseconds(100)
        let consumer = KinesisConsumer(stream: stream, application: "producer-check", configuration: configuration)
        let run = Task { try await consumer.run() }
        let consumed = try await consume(consumer, count: keys * perKey, checkpointLast: false)
        consumer.triggerGracefulShutdown()
        try await run.value
        #expect(Set(consumed) == Set(stored))
        #expect(consumed.count == stored.count)
    }

    @Test func throughTheFaultProxyEveryRecordIsWrittenOrItsSendFails() async throws {
        let kinesis = try await Moto.client()
        let stream = Moto.uniqueStream("producer-faults")
        try await kinesis.createStream(stream, shardCount: 2)
        let proxy = try await FaultProxy.start(seed: 7, faults: [
            "PutRecords": .init(throttle: 0.2, error500: 0.15, reset: 0.05, resetAfter: 0.05, failEntries: 0.3),
        ])
        let keys = 12, perKey = 15
        typealias Outcome = (data: String, receipt: KinesisProducer.Receipt?, error: KinesisProducerError?)
        let outcomes: [Outcome]
        let producer: KinesisProducer
        do {
            producer = try Self.producer(stream, aggregate: false, proxy: proxy.proxy)
            outcomes = try await withThrowingTaskGroup(of: [Outcome].self) { group in
                group.addTask { try await producer.run(); return [] }
                group.addTask {
                    // A full outage of one second, part way through: every connection reset.
                    try await Task.sleep(for: .seconds(1))
                    try await proxy.outage(seconds: 1)
                    return []
                }
                let outcomes = try await withThrowingTaskGroup(of: [Outcome].self) { senders in
                    // One task per key, each waiting for its receipts in turn.
                    for key in 0..<keys {
                        senders.addTask {
                            var outcomes: [Outcome] = []
                            for index in 0..<perKey {
                                let data = Self.data(key: key, index: index)
                                let name = Data(data).base64EncodedString()
                                do {
                                    outcomes.append((name, try await producer.send(data, partitionKey: "key-\(key)"), nil))
                                } catch let error as KinesisProducerError {
                                    outcomes.append((name, nil, error))
                                }
                            }
                            return outcomes
                        }
                    }
                    return try await senders.reduce(into: []) { $0 += $1 }
                }
                producer.triggerGracefulShutdown()
                try await group.waitForAll()
                return outcomes
            }
        } catch {
            await proxy.stop()
            throw error
        }
        let stats = try await proxy.stats()
        await proxy.stop()

        let stored = try await Self.read(stream)
        #expect(outcomes.count == keys * perKey, "every send returned or threw")
        let failed = outcomes.compactMap(\.error)
        #expect(failed.isEmpty, "with a 30 s record TTL every record gets through: \(failed.prefix(3))")
        let storedData = Set(stored.map(\.data))
        for outcome in outcomes {
            if let receipt = outcome.receipt { #expect(storedData.contains(outcome.data), "written record \(receipt) is in the stream") }
        }
        // Resets after a call took effect make copies; each key's first copies keep the order.
        #expect(Self.keyOrder(stored) == Self.expected(keys: keys, perKey: perKey))
        // The frequent faults are drawn many times; resets come at least from the outage.
        for fault in ["PutRecords.throttle", "PutRecords.error500", "PutRecords.fail_entries"] {
            #expect(stats.injected[fault, default: 0] > 0, "\(fault) was injected: \(stats.injected)")
        }
        #expect(stats.injected["outage.reset", default: 0] + stats.injected["PutRecords.reset", default: 0] + stats.injected["PutRecords.reset_after", default: 0] > 0)
        #expect(stats.requests > stats.forwarded, "faults answered by the proxy never reached moto")
        #expect(producer.statistics.retries > 0)
    }
}
