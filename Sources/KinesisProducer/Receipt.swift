public import KinesisAPI

extension KinesisProducer {
    /// Where a record was written.
    public struct Receipt: Sendable, Hashable, CustomStringConvertible {
        public var shardID: String
        /// The Kinesis record's sequence number (shared by every user record of an aggregate).
        public var sequenceNumber: SequenceNumber
        /// The record's position inside its aggregated record; `nil` when it was written alone.
        public var subSequenceNumber: UInt64?
        /// How many `PutRecords` calls carried it (1 when it needed no retry).
        public var attempts: Int

        public init(shardID: String, sequenceNumber: SequenceNumber, subSequenceNumber: UInt64? = nil, attempts: Int) {
            self.shardID = shardID
            self.sequenceNumber = sequenceNumber
            self.subSequenceNumber = subSequenceNumber
            self.attempts = attempts
        }

        public var description: String {
            "\(shardID)/\(sequenceNumber)\(subSequenceNumber.map { "/\($0)" } ?? "")"
        }
    }

    /// A record given to `submit` that could not be written, for
    /// ``Configuration/onUndeliverable``.
    public struct UndeliverableRecord: Sendable {
        public var partitionKey: String
        public var explicitHashKey: UInt128?
        public var data: [UInt8]
        public var error: KinesisProducerError
    }

    /// A snapshot of a producer's counters.
    public struct Statistics: Sendable, Hashable {
        /// User records written, and their bytes of data.
        public var recordsSent: Int
        public var bytesSent: Int
        /// User records written, by shard.
        public var recordsSentByShard: [String: Int]
        /// Kinesis records written (fewer than ``recordsSent`` with aggregation).
        public var kinesisRecordsSent: Int
        /// `PutRecords` calls made (failed ones included).
        public var putRecordsCalls: Int
        /// Times a user record was put back for another attempt.
        public var retries: Int
        /// Entries or calls refused with throttling.
        public var throttled: Int
        /// User records that failed for good (their `send` threw, or `onUndeliverable` was called).
        public var recordsFailed: Int
        /// Entry and call errors seen, by AWS error code.
        public var errors: [String: Int]
        /// Records and bytes held now, and the most ever held.
        public var bufferedRecords: Int
        public var bufferedBytes: Int
        public var peakBufferedRecords: Int
        public var peakBufferedBytes: Int
        /// Shard map reads (`ListShards`), the first one included.
        public var shardMapRefreshes: Int
    }
}
