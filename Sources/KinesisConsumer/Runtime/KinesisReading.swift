public import KinesisAPI

/// What the consumer needs of Kinesis: the shard list, iterators and records. ``KinesisClient``
/// is the implementation; the benchmarks put an in-memory source here to measure the runtime
/// alone.
@_spi(Benchmarks)
public protocol KinesisReading: Sendable {
    func listShards(_ stream: StreamIdentifier) async throws -> [Shard]
    func getShardIterator(_ stream: StreamIdentifier, shardID: String, position: IteratorPosition) async throws -> String
    func getRecords(iterator: String, limit: Int, streamARN: String?) async throws -> GetRecordsOutput
}

@_spi(Benchmarks)
extension KinesisClient: KinesisReading {
    public func listShards(_ stream: StreamIdentifier) async throws -> [Shard] {
        try await listShards(stream, filter: nil, exclusiveStartShardID: nil)
    }

    public func getRecords(iterator: String, limit: Int, streamARN: String?) async throws -> GetRecordsOutput {
        try await getRecords(iterator: iterator, limit: Optional(limit), streamARN: streamARN)
    }
}
