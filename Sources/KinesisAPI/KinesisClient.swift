#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
public import AWSCore
public import Logging

/// Typed operations of Amazon Kinesis Data Streams, over an ``AWSJSONClient`` (SigV4, retries,
/// error decoding).
///
/// Streams are addressed by name or ARN (``StreamIdentifier``). Operations that page (`ListStreams`,
/// `ListShards`, `ListStreamConsumers`) return every page. Errors are ``AWSError``s; the ones the
/// runtime acts on have named codes (``AWSError/Code/provisionedThroughputExceeded``,
/// ``AWSError/Code/expiredIterator``, ``AWSError/Code/kmsThrottling``, ...).
///
/// - Important: A value type, safe to share between tasks.
public struct KinesisClient: Sendable {
    /// The underlying JSON client.
    public let client: AWSJSONClient

    /// Wraps a JSON client built for ``AWSService/kinesis``.
    public init(client: AWSJSONClient) {
        precondition(client.service == .kinesis, "KinesisClient needs an AWSJSONClient for the kinesis service")
        self.client = client
    }

    /// Creates a client, resolving region, endpoint and credentials as ``AWSJSONClient`` does.
    public init(
        configuration: AWSConfiguration,
        transport: (any HTTPTransport)? = nil,
        logger: Logger = Logger(label: "swift-kinesis-client.kinesis")
    ) async throws {
        self.client = try await AWSJSONClient(service: .kinesis, configuration: configuration, transport: transport, logger: logger)
    }

    // MARK: Streams

    /// Creates a stream: provisioned with `shardCount` shards, or on-demand (`shardCount` `nil`).
    public func createStream(_ name: String, shardCount: Int?, mode: StreamMode = .provisioned) async throws {
        struct Input: Encodable {
            var StreamName: String
            var ShardCount: Int?
            var StreamModeDetails: [String: String]?
        }
        _ = try await call("CreateStream", Input(StreamName: name, ShardCount: shardCount, StreamModeDetails: ["StreamMode": mode.rawValue]))
    }

    /// Deletes a stream; `enforceConsumerDeletion` also deletes its registered consumers.
    public func deleteStream(_ stream: StreamIdentifier, enforceConsumerDeletion: Bool = false) async throws {
        struct Input: Encodable {
            var StreamName: String?
            var StreamARN: String?
            var EnforceConsumerDeletion: Bool
        }
        _ = try await call("DeleteStream", Input(StreamName: stream.name, StreamARN: stream.arn, EnforceConsumerDeletion: enforceConsumerDeletion))
    }

    /// The stream's status, mode, retention, encryption and open-shard count.
    public func describeStreamSummary(_ stream: StreamIdentifier) async throws -> StreamSummary {
        struct Output: Decodable { var StreamDescriptionSummary: StreamSummary }
        return try await client.send("DescribeStreamSummary", input: StreamInput(stream), as: Output.self).StreamDescriptionSummary
    }

    /// The names of every stream in the account and region (all pages).
    public func listStreams() async throws -> [String] {
        struct Input: Encodable { var Limit: Int; var ExclusiveStartStreamName: String?; var NextToken: String? }
        struct Output: Decodable { var StreamNames: [String]; var HasMoreStreams: Bool?; var NextToken: String? }
        var names: [String] = []
        var token: String?
        var lastName: String?
        while true {
            let page = try await client.send("ListStreams", input: Input(Limit: 100, ExclusiveStartStreamName: token == nil ? lastName : nil, NextToken: token), as: Output.self)
            names += page.StreamNames
            guard page.HasMoreStreams == true, !page.StreamNames.isEmpty else { return names }
            token = page.NextToken
            lastName = page.StreamNames.last
        }
    }

    // MARK: Shards

    /// Every shard of the stream (all pages), optionally filtered or after a shard ID.
    public func listShards(
        _ stream: StreamIdentifier,
        filter: ShardFilter? = nil,
        exclusiveStartShardID: String? = nil,
        pageSize: Int = 1000
    ) async throws -> [Shard] {
        struct Input: Encodable {
            var StreamName: String?
            var StreamARN: String?
            var NextToken: String?
            var ExclusiveStartShardId: String?
            var MaxResults: Int?
            var ShardFilter: ShardFilter?
        }
        struct Output: Decodable { var Shards: [Shard]; var NextToken: String? }
        var shards: [Shard] = []
        var token: String?
        repeat {
            // With NextToken, the API takes no stream, filter or start shard.
            let input = token.map { Input(NextToken: $0, MaxResults: pageSize) }
                ?? Input(StreamName: stream.name, StreamARN: stream.arn, ExclusiveStartShardId: exclusiveStartShardID, MaxResults: pageSize, ShardFilter: filter)
            let page = try await client.send("ListShards", input: input, as: Output.self)
            shards += page.Shards
            token = page.NextToken
        } while token != nil
        return shards
    }

    /// An iterator for reading `shardID` from `position`.
    public func getShardIterator(_ stream: StreamIdentifier, shardID: String, position: IteratorPosition) async throws -> String {
        struct Input: Encodable {
            var StreamName: String?
            var StreamARN: String?
            var ShardId: String
            var ShardIteratorType: String
            var StartingSequenceNumber: String?
            var Timestamp: Date?
        }
        struct Output: Decodable { var ShardIterator: String }
        let input = Input(
            StreamName: stream.name, StreamARN: stream.arn, ShardId: shardID, ShardIteratorType: position.type,
            StartingSequenceNumber: position.sequenceNumber?.rawValue, Timestamp: position.timestamp
        )
        return try await client.send("GetShardIterator", input: input, as: Output.self).ShardIterator
    }

    /// Reads up to `limit` records (at most 10,000) from a shard iterator.
    ///
    /// The response body is decoded by ``GetRecordsDecoder`` in one pass, without `JSONDecoder`.
    /// - Parameter streamARN: The stream's ARN, for iterators obtained by ARN.
    public func getRecords(iterator: String, limit: Int? = nil, streamARN: String? = nil) async throws -> GetRecordsOutput {
        struct Input: Encodable { var ShardIterator: String; var Limit: Int?; var StreamARN: String? }
        let body = try encode(Input(ShardIterator: iterator, Limit: limit, StreamARN: streamARN), operation: "GetRecords")
        return try await client.send("GetRecords", body: body) { response in
            try GetRecordsDecoder.decode(response.body)
        }
    }

    // MARK: Writing

    /// Writes one record.
    public func putRecord(
        _ stream: StreamIdentifier,
        data: [UInt8],
        partitionKey: String,
        explicitHashKey: UInt128? = nil,
        sequenceNumberForOrdering: SequenceNumber? = nil
    ) async throws -> PutRecordOutput {
        struct Input: Encodable {
            var StreamName: String?
            var StreamARN: String?
            var Data: Base64Bytes
            var PartitionKey: String
            var ExplicitHashKey: String?
            var SequenceNumberForOrdering: String?
        }
        struct Output: Decodable { var ShardId: String; var SequenceNumber: SequenceNumber; var EncryptionType: EncryptionType? }
        let input = Input(
            StreamName: stream.name, StreamARN: stream.arn, Data: Base64Bytes(data), PartitionKey: partitionKey,
            ExplicitHashKey: explicitHashKey?.description, SequenceNumberForOrdering: sequenceNumberForOrdering?.rawValue
        )
        let output = try await client.send("PutRecord", input: input, as: Output.self)
        return PutRecordOutput(shardID: output.ShardId, sequenceNumber: output.SequenceNumber, encryptionType: output.EncryptionType)
    }

    /// Writes up to 500 records in one call. Entries fail one by one: check each result (only the
    /// failed ones need sending again).
    public func putRecords(_ stream: StreamIdentifier, entries: [PutRecordsEntry]) async throws -> PutRecordsOutput {
        struct Entry: Encodable { var Data: Base64Bytes; var PartitionKey: String; var ExplicitHashKey: String? }
        struct Input: Encodable { var StreamName: String?; var StreamARN: String?; var Records: [Entry] }
        struct ResultEntry: Decodable { var ShardId: String?; var SequenceNumber: SequenceNumber?; var ErrorCode: String?; var ErrorMessage: String? }
        struct Output: Decodable { var FailedRecordCount: Int?; var Records: [ResultEntry]; var EncryptionType: EncryptionType? }
        let input = Input(StreamName: stream.name, StreamARN: stream.arn, Records: entries.map {
            Entry(Data: Base64Bytes($0.data), PartitionKey: $0.partitionKey, ExplicitHashKey: $0.explicitHashKey?.description)
        })
        let output = try await client.send("PutRecords", input: input, as: Output.self)
        guard output.Records.count == entries.count else {
            throw AWSError(code: .malformedResponse, message: "PutRecords answered \(output.Records.count) results for \(entries.count) records", service: "kinesis", operation: "PutRecords")
        }
        let results: [PutRecordsOutput.EntryResult] = try output.Records.enumerated().map { index, entry in
            if let code = entry.ErrorCode {
                return .failure(errorCode: AWSError.Code(code), errorMessage: entry.ErrorMessage ?? "")
            }
            guard let shardID = entry.ShardId, let sequenceNumber = entry.SequenceNumber else {
                throw AWSError(code: .malformedResponse, message: "PutRecords result \(index) has neither an error nor a shard and sequence number", service: "kinesis", operation: "PutRecords")
            }
            return .success(shardID: shardID, sequenceNumber: sequenceNumber)
        }
        let failed = results.filter { if case .failure = $0 { true } else { false } }.count
        return PutRecordsOutput(failedRecordCount: output.FailedRecordCount ?? failed, results: results, encryptionType: output.EncryptionType)
    }

    // MARK: Resharding

    /// Splits `shardID` in two at `newStartingHashKey` (the first hash key of the second child).
    public func splitShard(_ stream: StreamIdentifier, shardID: String, newStartingHashKey: UInt128) async throws {
        struct Input: Encodable { var StreamName: String?; var StreamARN: String?; var ShardToSplit: String; var NewStartingHashKey: String }
        _ = try await call("SplitShard", Input(StreamName: stream.name, StreamARN: stream.arn, ShardToSplit: shardID, NewStartingHashKey: newStartingHashKey.description))
    }

    /// Merges two adjacent shards.
    public func mergeShards(_ stream: StreamIdentifier, shardID: String, adjacentShardID: String) async throws {
        struct Input: Encodable { var StreamName: String?; var StreamARN: String?; var ShardToMerge: String; var AdjacentShardToMerge: String }
        _ = try await call("MergeShards", Input(StreamName: stream.name, StreamARN: stream.arn, ShardToMerge: shardID, AdjacentShardToMerge: adjacentShardID))
    }

    /// Changes the number of open shards by uniform scaling; returns the shard count before and the target.
    @discardableResult
    public func updateShardCount(_ stream: StreamIdentifier, targetShardCount: Int) async throws -> (current: Int, target: Int) {
        struct Input: Encodable { var StreamName: String?; var StreamARN: String?; var TargetShardCount: Int; var ScalingType: String }
        struct Output: Decodable { var CurrentShardCount: Int; var TargetShardCount: Int }
        let output = try await client.send("UpdateShardCount", input: Input(StreamName: stream.name, StreamARN: stream.arn, TargetShardCount: targetShardCount, ScalingType: "UNIFORM_SCALING"), as: Output.self)
        return (output.CurrentShardCount, output.TargetShardCount)
    }

    // MARK: Enhanced fan-out consumers

    /// Every registered consumer of the stream (all pages).
    public func listStreamConsumers(streamARN: String) async throws -> [StreamConsumer] {
        struct Input: Encodable { var StreamARN: String; var NextToken: String? }
        struct Output: Decodable { var Consumers: [StreamConsumer]; var NextToken: String? }
        var consumers: [StreamConsumer] = []
        var token: String?
        repeat {
            let page = try await client.send("ListStreamConsumers", input: Input(StreamARN: streamARN, NextToken: token), as: Output.self)
            consumers += page.Consumers
            token = page.NextToken
        } while token != nil
        return consumers
    }

    /// Registers an enhanced fan-out consumer.
    public func registerStreamConsumer(streamARN: String, consumerName: String) async throws -> StreamConsumer {
        struct Input: Encodable { var StreamARN: String; var ConsumerName: String }
        struct Output: Decodable { var Consumer: StreamConsumer }
        return try await client.send("RegisterStreamConsumer", input: Input(StreamARN: streamARN, ConsumerName: consumerName), as: Output.self).Consumer
    }

    /// Deregisters a consumer, by stream ARN and name or by consumer ARN.
    public func deregisterStreamConsumer(streamARN: String? = nil, consumerName: String? = nil, consumerARN: String? = nil) async throws {
        struct Input: Encodable { var StreamARN: String?; var ConsumerName: String?; var ConsumerARN: String? }
        _ = try await call("DeregisterStreamConsumer", Input(StreamARN: streamARN, ConsumerName: consumerName, ConsumerARN: consumerARN))
    }

    /// Describes a consumer, by stream ARN and name or by consumer ARN.
    public func describeStreamConsumer(streamARN: String? = nil, consumerName: String? = nil, consumerARN: String? = nil) async throws -> StreamConsumer {
        struct Input: Encodable { var StreamARN: String?; var ConsumerName: String?; var ConsumerARN: String? }
        struct Output: Decodable { var ConsumerDescription: StreamConsumer }
        return try await client.send("DescribeStreamConsumer", input: Input(StreamARN: streamARN, ConsumerName: consumerName, ConsumerARN: consumerARN), as: Output.self).ConsumerDescription
    }

    // MARK: Helpers

    struct StreamInput: Encodable {
        var StreamName: String?
        var StreamARN: String?
        init(_ stream: StreamIdentifier) {
            StreamName = stream.name
            StreamARN = stream.arn
        }
    }

    private func call(_ operation: String, _ input: some Encodable) async throws -> HTTPResponse {
        try await client.send(operation, body: try encode(input, operation: operation))
    }

    private func encode(_ input: some Encodable, operation: String) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .secondsSince1970
        do {
            return Array(try encoder.encode(input))
        } catch {
            throw AWSError(code: .invalidArgument, message: "could not encode the request: \(error)", service: "kinesis", operation: operation)
        }
    }
}

/// Bytes that encode as a base64 JSON string (the `Blob` type of the AWS JSON protocols).
struct Base64Bytes: Encodable {
    var bytes: [UInt8]
    init(_ bytes: [UInt8]) { self.bytes = bytes }
    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(Base64.encode(bytes))
    }
}

extension AWSError.Code {
    /// The KMS key of an encrypted stream is disabled.
    public static let kmsDisabled = AWSError.Code("KMSDisabledException")
    /// The KMS key is not in a state that allows the request.
    public static let kmsInvalidState = AWSError.Code("KMSInvalidStateException")
    /// The caller may not use the stream's KMS key.
    public static let kmsAccessDenied = AWSError.Code("KMSAccessDeniedException")
    /// The stream's KMS key was not found.
    public static let kmsNotFound = AWSError.Code("KMSNotFoundException")
    /// The account is not subscribed to KMS.
    public static let kmsOptInRequired = AWSError.Code("KMSOptInRequired")
    /// The account is not allowed this operation (for example on-demand limits).
    public static let kinesisAccessDenied = AWSError.Code("AccessDeniedException")
    /// An iterator or consumer ARN is malformed, or a request is otherwise invalid.
    public static let validationException = AWSError.Code("ValidationException")
}
