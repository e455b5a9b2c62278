#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif
public import Logging
import Metrics

/// A record as the user sees it: a plain record, or one user record of an aggregated one.
public struct DeaggregatedRecord: Sendable, Hashable {
    /// The Kinesis record's sequence number (shared by every user record of an aggregate).
    public var sequenceNumber: SequenceNumber
    /// The user record's index in its aggregate; 0 for a plain record.
    public var subSequenceNumber: UInt64
    public var partitionKey: String
    /// The user record's explicit hash key, when the producer gave one.
    public var explicitHashKey: UInt128?
    public var data: ArraySlice<UInt8>
    public var approximateArrivalTimestamp: Date?
    public var encryptionType: EncryptionType?
    /// Whether this came out of a KPL aggregated record.
    public var isAggregated: Bool

    /// The hash key that routes this record: its explicit hash key, or the MD5 of its partition key.
    public var effectiveHashKey: UInt128 { explicitHashKey ?? HashKey.of(partitionKey: partitionKey) }

    public init(
        sequenceNumber: SequenceNumber,
        subSequenceNumber: UInt64,
        partitionKey: String,
        explicitHashKey: UInt128?,
        data: ArraySlice<UInt8>,
        approximateArrivalTimestamp: Date?,
        encryptionType: EncryptionType?,
        isAggregated: Bool
    ) {
        self.sequenceNumber = sequenceNumber
        self.subSequenceNumber = subSequenceNumber
        self.partitionKey = partitionKey
        self.explicitHashKey = explicitHashKey
        self.data = data
        self.approximateArrivalTimestamp = approximateArrivalTimestamp
        self.encryptionType = encryptionType
        self.isAggregated = isAggregated
    }
}

/// Unpacks KPL aggregated records, for one shard.
///
/// A record that does not start with the magic bytes is passed on as it is. A record that starts
/// with them but fails to parse or fails its MD5 check is also passed on whole, as one plain record:
/// never dropped. Each such record increments the `kinesis_deaggregation_failures` counter, and the
/// first one per deaggregator (that is, per shard) is logged at `info`.
public struct Deaggregator: Sendable {
    public let shardID: String
    private let logger: Logger
    private let failures: Counter
    private var loggedFailure = false
    /// How many records could not be deaggregated and were passed on whole.
    public private(set) var failureCount = 0

    public init(shardID: String, logger: Logger = Logger(label: "swift-kinesis-client.deaggregation")) {
        self.shardID = shardID
        self.logger = logger
        self.failures = Counter(label: "kinesis_deaggregation_failures")
    }

    /// Appends the user records of `records`, in order, to `output`.
    public mutating func deaggregate(_ records: [Record], into output: inout [DeaggregatedRecord]) {
        output.reserveCapacity(output.count + records.count)
        for record in records {
            deaggregate(record, into: &output)
        }
    }

    /// Appends the user records of `record`, in order, to `output`.
    public mutating func deaggregate(_ record: Record, into output: inout [DeaggregatedRecord]) {
        if AggregatedRecordFormat.hasMagic(record.data) {
            do {
                let users = try AggregatedRecordFormat.decode(record.data)
                for (index, user) in users.enumerated() {
                    output.append(DeaggregatedRecord(
                        sequenceNumber: record.sequenceNumber,
                        subSequenceNumber: UInt64(index),
                        partitionKey: user.partitionKey,
                        explicitHashKey: user.explicitHashKey,
                        data: user.data,
                        approximateArrivalTimestamp: record.approximateArrivalTimestamp,
                        encryptionType: record.encryptionType,
                        isAggregated: true
                    ))
                }
                return
            } catch {
                failureCount += 1
                failures.increment()
                if !loggedFailure {
                    loggedFailure = true
                    logger.info(
                        "A record starts like a KPL aggregated record but is not one; delivering it whole",
                        metadata: [
                            "kinesis.shard_id": "\(shardID)",
                            "kinesis.sequence_number": "\(record.sequenceNumber)",
                            "error": "\(error.message)",
                        ]
                    )
                }
            }
        }
        output.append(DeaggregatedRecord(
            sequenceNumber: record.sequenceNumber,
            subSequenceNumber: 0,
            partitionKey: record.partitionKey,
            explicitHashKey: nil,
            data: record.data,
            approximateArrivalTimestamp: record.approximateArrivalTimestamp,
            encryptionType: record.encryptionType,
            isAggregated: false
        ))
    }
}
