#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import AWSCore
import KinesisAPI

extension SimulatedKinesis {
    static let iteratorLifetime: TimeInterval = 300
    static let maxRecordBytes = 1024 * 1024

    static func handle(_ operation: String, body: [UInt8], state: inout State, now: Date) throws -> HTTPResponse {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .secondsSince1970
        func input<T: Decodable>(_ type: T.Type) throws -> T {
            do {
                return try decoder.decode(T.self, from: Data(body.isEmpty ? Array("{}".utf8) : body))
            } catch {
                throw ServiceError(code: "SerializationException", message: "could not read the \(operation) request: \(error)")
            }
        }
        switch operation {
        case "CreateStream": return try createStream(input(CreateStreamInput.self), &state, now)
        case "DeleteStream": return try deleteStream(input(StreamInput.self), &state)
        case "DescribeStreamSummary": return try describeStreamSummary(input(StreamInput.self), state)
        case "ListStreams": return try listStreams(input(ListStreamsInput.self), state)
        case "ListShards": return try listShards(input(ListShardsInput.self), state, now)
        case "GetShardIterator": return try getShardIterator(input(GetShardIteratorInput.self), &state, now)
        case "GetRecords": return try getRecords(input(GetRecordsInput.self), &state, now)
        case "PutRecord": return try putRecord(input(PutRecordInput.self), &state, now)
        case "PutRecords": return try putRecords(input(PutRecordsInput.self), &state, now)
        case "SplitShard": return try splitShard(input(SplitShardInput.self), &state, now)
        case "MergeShards": return try mergeShards(input(MergeShardsInput.self), &state, now)
        case "UpdateShardCount": return try updateShardCount(input(UpdateShardCountInput.self), &state, now)
        case "RegisterStreamConsumer": return try registerConsumer(input(ConsumerInput.self), &state, now)
        case "DeregisterStreamConsumer": return try deregisterConsumer(input(ConsumerInput.self), &state)
        case "DescribeStreamConsumer": return try describeConsumer(input(ConsumerInput.self), state)
        case "ListStreamConsumers": return try listConsumers(input(ConsumerInput.self), state)
        default: throw ServiceError(code: "UnknownOperationException", message: "\(operation) is not simulated")
        }
    }

    // MARK: Inputs

    struct StreamInput: Decodable { var StreamName: String?; var StreamARN: String? }
    struct CreateStreamInput: Decodable { var StreamName: String; var ShardCount: Int?; var StreamModeDetails: [String: String]? }
    struct ListStreamsInput: Decodable { var Limit: Int?; var ExclusiveStartStreamName: String?; var NextToken: String? }
    struct ListShardsInput: Decodable {
        var StreamName: String?; var StreamARN: String?; var NextToken: String?; var ExclusiveStartShardId: String?
        var MaxResults: Int?; var ShardFilter: Filter?
        struct Filter: Decodable { var `Type`: String; var ShardId: String?; var Timestamp: Date? }
    }
    struct GetShardIteratorInput: Decodable {
        var StreamName: String?; var StreamARN: String?; var ShardId: String; var ShardIteratorType: String
        var StartingSequenceNumber: String?; var Timestamp: Date?
    }
    struct GetRecordsInput: Decodable { var ShardIterator: String; var Limit: Int?; var StreamARN: String? }
    struct PutRecordInput: Decodable {
        var StreamName: String?; var StreamARN: String?; var Data: String; var PartitionKey: String
        var ExplicitHashKey: String?; var SequenceNumberForOrdering: String?
    }
    struct PutRecordsInput: Decodable {
        var StreamName: String?; var StreamARN: String?; var Records: [Entry]
        struct Entry: Decodable { var Data: String; var PartitionKey: String; var ExplicitHashKey: String? }
    }
    struct SplitShardInput: Decodable { var StreamName: String?; var StreamARN: String?; var ShardToSplit: String; var NewStartingHashKey: String }
    struct MergeShardsInput: Decodable { var StreamName: String?; var StreamARN: String?; var ShardToMerge: String; var AdjacentShardToMerge: String }
    struct UpdateShardCountInput: Decodable { var StreamName: String?; var StreamARN: String?; var TargetShardCount: Int; var ScalingType: String? }
    struct ConsumerInput: Decodable { var StreamARN: String?; var ConsumerName: String?; var ConsumerARN: String?; var NextToken: String? }

    // MARK: Outputs

    struct HashKeyRangeOutput: Encodable { var StartingHashKey: String; var EndingHashKey: String }
    struct ShardOutput: Encodable {
        var ShardId: String; var ParentShardId: String?; var AdjacentParentShardId: String?
        var HashKeyRange: HashKeyRangeOutput; var SequenceNumberRange: [String: String]
    }
    struct ChildShardOutput: Encodable { var ShardId: String; var ParentShards: [String]; var HashKeyRange: HashKeyRangeOutput }
    struct RecordOutput: Encodable { var SequenceNumber: String; var ApproximateArrivalTimestamp: Double; var Data: String; var PartitionKey: String }
    struct Empty: Encodable {}

    static func output(_ range: HashKeyRange) -> HashKeyRangeOutput {
        HashKeyRangeOutput(StartingHashKey: range.startingHashKey.description, EndingHashKey: range.endingHashKey.description)
    }

    // MARK: Streams

    static func arn(_ name: String) -> String { "arn:aws:kinesis:\(region.rawValue):\(accountID):stream/\(name)" }

    static func streamName(_ name: String?, _ arn: String?) throws -> String {
        if let name { return name }
        if let arn, let slash = arn.lastIndex(of: "/"), arn.hasPrefix("arn:aws:kinesis:") { return String(arn[arn.index(after: slash)...]) }
        throw ServiceError.invalid("StreamName or a valid StreamARN is required")
    }

    static func stream(_ name: String?, _ arn: String?, _ state: State) throws -> StreamState {
        let name = try streamName(name, arn)
        guard let stream = state.streams[name] else { throw ServiceError.notFound("Stream \(name) under account \(accountID) not found.") }
        return stream
    }

    /// `count` shards covering the whole hash-key space evenly.
    static func evenRanges(_ count: Int) -> [HashKeyRange] {
        let step = UInt128.max / UInt128(count)
        return (0..<count).map { index in
            let start = index == 0 ? 0 : step * UInt128(index) + UInt128(index)
            let end = index == count - 1 ? UInt128.max : step * UInt128(index + 1) + UInt128(index)
            return HashKeyRange(startingHashKey: start, endingHashKey: end)
        }
    }

    static func newShard(_ stream: inout StreamState, _ range: HashKeyRange, parent: String? = nil, adjacentParent: String? = nil, _ state: inout State, _ now: Date) -> String {
        let id = "shardId-" + String(repeating: "0", count: 12 - String(stream.nextShardIndex).count) + String(stream.nextShardIndex)
        stream.nextShardIndex += 1
        stream.shards.append(ShardState(id: id, parent: parent, adjacentParent: adjacentParent, range: range, startingSequenceNumber: state.nextSequenceNumber(), openedAt: now))
        return id
    }

    static func createStream(_ input: CreateStreamInput, _ state: inout State, _ now: Date) throws -> HTTPResponse {
        let name = input.StreamName
        guard (1...128).contains(name.count), name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "_.-".contains($0)) }) else {
            throw ServiceError.invalid("StreamName '\(name)' must be 1 to 128 letters, digits, '_', '.' or '-'")
        }
        guard state.streams[name] == nil else { throw ServiceError.inUse("Stream \(name) under account \(accountID) already exists.") }
        let mode = StreamMode(rawValue: input.StreamModeDetails?["StreamMode"] ?? "PROVISIONED")
        let count: Int
        if mode == .onDemand {
            count = 4
        } else {
            guard let shardCount = input.ShardCount, (1...10_000).contains(shardCount) else {
                throw ServiceError.invalid("ShardCount between 1 and 10000 is required for a provisioned stream")
            }
            count = shardCount
        }
        var stream = StreamState(name: name, arn: arn(name), mode: mode, createdAt: now)
        for range in evenRanges(count) { _ = newShard(&stream, range, &state, now) }
        state.streams[name] = stream
        return try ok(Empty())
    }

    static func deleteStream(_ input: StreamInput, _ state: inout State) throws -> HTTPResponse {
        let stream = try stream(input.StreamName, input.StreamARN, state)
        state.streams[stream.name] = nil
        return try ok(Empty())
    }

    static func describeStreamSummary(_ input: StreamInput, _ state: State) throws -> HTTPResponse {
        struct Summary: Encodable {
            var StreamName: String; var StreamARN: String; var StreamStatus = "ACTIVE"; var StreamModeDetails: [String: String]
            var RetentionPeriodHours: Int; var StreamCreationTimestamp: Date; var EncryptionType = "NONE"
            var OpenShardCount: Int; var ConsumerCount: Int; var EnhancedMonitoring: [[String: [String]]] = [["ShardLevelMetrics": []]]
        }
        let stream = try stream(input.StreamName, input.StreamARN, state)
        return try ok(["StreamDescriptionSummary": Summary(
            StreamName: stream.name, StreamARN: stream.arn, StreamModeDetails: ["StreamMode": stream.mode.rawValue],
            RetentionPeriodHours: stream.retentionHours, StreamCreationTimestamp: stream.createdAt,
            OpenShardCount: stream.shards.filter(\.isOpen).count, ConsumerCount: stream.consumers.count
        )])
    }

    static func listStreams(_ input: ListStreamsInput, _ state: State) throws -> HTTPResponse {
        struct Output: Encodable { var StreamNames: [String]; var HasMoreStreams: Bool; var NextToken: String? }
        let limit = min(max(input.Limit ?? 100, 1), 10_000)
        let after = input.NextToken ?? input.ExclusiveStartStreamName
        let names = state.streams.keys.sorted().filter { after == nil || $0 > after! }
        let page = Array(names.prefix(limit))
        let more = names.count > page.count
        return try ok(Output(StreamNames: page, HasMoreStreams: more, NextToken: more ? page.last : nil))
    }

    // MARK: Shards

    static func listShards(_ input: ListShardsInput, _ state: State, _ now: Date) throws -> HTTPResponse {
        struct Output: Encodable { var Shards: [ShardOutput]; var NextToken: String? }
        struct Token: Codable { var stream: String; var offset: Int; var filter: String?; var after: String? }
        let limit = min(max(input.MaxResults ?? 1000, 1), 10_000)
        var streamName: String
        var offset = 0
        var after = input.ExclusiveStartShardId
        var filter = input.ShardFilter
        if let text = input.NextToken {
            guard input.StreamName == nil, input.StreamARN == nil, input.ShardFilter == nil, input.ExclusiveStartShardId == nil else {
                throw ServiceError.invalid("NextToken cannot be combined with StreamName, StreamARN, ShardFilter or ExclusiveStartShardId")
            }
            guard let data = Data(base64Encoded: text), let token = try? JSONDecoder().decode(Token.self, from: data) else {
                throw ServiceError(code: "ExpiredNextTokenException", message: "NextToken is not valid")
            }
            streamName = token.stream
            offset = token.offset
            after = token.after
            filter = token.filter.map { ListShardsInput.Filter(Type: $0, ShardId: nil, Timestamp: nil) }
        } else {
            streamName = try self.streamName(input.StreamName, input.StreamARN)
        }
        guard let stream = state.streams[streamName] else { throw ServiceError.notFound("Stream \(streamName) not found.") }
        var shards = stream.shards
        if let after { shards = shards.filter { $0.id > after } }
        if let filter {
            switch filter.Type {
            case "AT_LATEST": shards = shards.filter(\.isOpen)
            case "AT_TRIM_HORIZON", "FROM_TRIM_HORIZON":
                // Every shard whose records are not all past retention.
                let horizon = now.addingTimeInterval(-Double(stream.retentionHours) * 3600)
                shards = shards.filter { $0.closedAt.map { $0 >= horizon } ?? true }
            case "AFTER_SHARD_ID":
                guard let id = filter.ShardId else { throw ServiceError.invalid("AFTER_SHARD_ID needs ShardId") }
                shards = shards.filter { $0.id > id }
            case "AT_TIMESTAMP", "FROM_TIMESTAMP":
                guard let time = filter.Timestamp else { throw ServiceError.invalid("\(filter.Type) needs Timestamp") }
                shards = shards.filter { filter.Type == "AT_TIMESTAMP" ? ($0.openedAt <= time && ($0.closedAt.map { $0 > time } ?? true)) : ($0.closedAt.map { $0 > time } ?? true) }
            default: throw ServiceError.invalid("unknown ShardFilter type \(filter.Type)")
            }
        }
        let page = Array(shards.dropFirst(offset).prefix(limit))
        let more = offset + page.count < shards.count
        let token = more ? try JSONEncoder().encode(Token(stream: streamName, offset: offset + page.count, filter: filter?.Type, after: after)).base64EncodedString() : nil
        return try ok(Output(Shards: page.map { shard in
            var range = ["StartingSequenceNumber": shard.startingSequenceNumber.rawValue]
            if let end = shard.endingSequenceNumber { range["EndingSequenceNumber"] = end.rawValue }
            return ShardOutput(ShardId: shard.id, ParentShardId: shard.parent, AdjacentParentShardId: shard.adjacentParent, HashKeyRange: output(shard.range), SequenceNumberRange: range)
        }, NextToken: token))
    }

    // MARK: Iterators

    struct Iterator {
        var stream: String
        var shard: String
        var position: Int
        var issued: Date

        func encoded(nonce: UInt64) -> String {
            let text = "v1|\(stream)|\(shard)|\(position)|\(Int64((issued.timeIntervalSince1970 * 1000).rounded()))|\(nonce)"
            return Data(text.utf8).base64EncodedString()
        }

        init(stream: String, shard: String, position: Int, issued: Date) {
            self.stream = stream
            self.shard = shard
            self.position = position
            self.issued = issued
        }

        init(decoding token: String) throws {
            guard let data = Data(base64Encoded: token), let text = String(data: data, encoding: .utf8) else {
                throw ServiceError.invalid("Invalid ShardIterator.")
            }
            let parts = text.split(separator: "|", omittingEmptySubsequences: false)
            guard parts.count == 6, parts[0] == "v1", let position = Int(parts[3]), position >= 0, let millis = Int64(parts[4]) else {
                throw ServiceError.invalid("Invalid ShardIterator.")
            }
            self.init(stream: String(parts[1]), shard: String(parts[2]), position: position, issued: Date(timeIntervalSince1970: Double(millis) / 1000))
        }
    }

    static func getShardIterator(_ input: GetShardIteratorInput, _ state: inout State, _ now: Date) throws -> HTTPResponse {
        let stream = try stream(input.StreamName, input.StreamARN, state)
        guard let index = stream.index(of: input.ShardId) else {
            throw ServiceError.notFound("Shard \(input.ShardId) in stream \(stream.name) under account \(accountID) does not exist")
        }
        let shard = stream.shards[index]
        let position: Int
        func sequence() throws -> SequenceNumber {
            guard let text = input.StartingSequenceNumber, let value = SequenceNumber(text) else {
                throw ServiceError.invalid("StartingSequenceNumber is required for \(input.ShardIteratorType)")
            }
            guard value >= shard.startingSequenceNumber, shard.endingSequenceNumber.map({ value <= $0 }) ?? true else {
                throw ServiceError.invalid("StartingSequenceNumber \(value) used in GetShardIterator on shard \(shard.id) in stream \(stream.name) under account \(accountID) is invalid because it did not come from this stream.")
            }
            return value
        }
        let available = shard.records.indices.map { $0 + shard.trimmed }
        switch input.ShardIteratorType {
        case "TRIM_HORIZON": position = shard.trimmed
        case "LATEST": position = shard.end
        case "AT_SEQUENCE_NUMBER":
            let value = try sequence()
            position = available.first { shard.record(at: $0).sequenceNumber >= value } ?? shard.end
        case "AFTER_SEQUENCE_NUMBER":
            let value = try sequence()
            position = available.first { shard.record(at: $0).sequenceNumber > value } ?? shard.end
        case "AT_TIMESTAMP":
            guard let time = input.Timestamp else { throw ServiceError.invalid("Timestamp is required for AT_TIMESTAMP") }
            position = available.first { shard.record(at: $0).arrival >= time } ?? shard.end
        default:
            throw ServiceError.invalid("ShardIteratorType \(input.ShardIteratorType) is not one of TRIM_HORIZON, LATEST, AT_SEQUENCE_NUMBER, AFTER_SEQUENCE_NUMBER, AT_TIMESTAMP")
        }
        let token = Iterator(stream: stream.name, shard: shard.id, position: position, issued: now).encoded(nonce: UInt64(state.random.nextUnit() * 1e15))
        return try ok(["ShardIterator": token])
    }

    // MARK: Reading

    static func getRecords(_ input: GetRecordsInput, _ state: inout State, _ now: Date) throws -> HTTPResponse {
        struct Output: Encodable { var Records: [RecordOutput]; var NextShardIterator: String?; var MillisBehindLatest: Int64; var ChildShards: [ChildShardOutput]? }
        let iterator = try Iterator(decoding: input.ShardIterator)
        guard now.timeIntervalSince(iterator.issued) <= iteratorLifetime else {
            throw ServiceError(code: "ExpiredIteratorException", message: "Iterator expired. The iterator was created at time \(iterator.issued) while right now it is \(now) which is further in the future than the tolerated delay of 300000 milliseconds.")
        }
        let limit = input.Limit ?? 10_000
        guard (1...10_000).contains(limit) else { throw ServiceError.invalid("Limit must be between 1 and 10000, not \(limit)") }
        guard var stream = state.streams[iterator.stream], let index = stream.index(of: iterator.shard) else {
            throw ServiceError.notFound("Shard \(iterator.shard) in stream \(iterator.stream) under account \(accountID) does not exist")
        }
        var shard = stream.shards[index]
        if state.limitsEnabled {
            shard.reads.removeAll { now.timeIntervalSince($0.0) >= 1 }
            guard shard.reads.count < 5 else { throw ServiceError.throughput("Rate exceeded for shard \(shard.id) in stream \(stream.name) under account \(accountID).") }
            guard shard.reads.reduce(0, { $0 + $1.1 }) < 2 * 1024 * 1024 else { throw ServiceError.throughput("Rate exceeded for shard \(shard.id): more than 2 MiB read in the last second.") }
        }
        var position = max(iterator.position, shard.trimmed)
        var records: [RecordOutput] = []
        var bytes = 0
        while position < shard.end, records.count < limit {
            let record = shard.record(at: position)
            if !records.isEmpty, bytes + record.data.count > 10 * 1024 * 1024 { break }
            records.append(RecordOutput(
                SequenceNumber: record.sequenceNumber.rawValue,
                ApproximateArrivalTimestamp: (record.arrival.timeIntervalSince1970 * 1000).rounded() / 1000,
                Data: Data(record.data).base64EncodedString(),
                PartitionKey: record.partitionKey
            ))
            bytes += record.data.count
            position += 1
        }
        shard.reads.append((now, bytes))
        stream.shards[index] = shard
        state.streams[stream.name] = stream
        let behind: Int64 = position >= shard.end ? 0 : Int64(max(0, now.timeIntervalSince(shard.record(at: position).arrival)) * 1000)
        if !shard.isOpen, position >= shard.end {
            let children = shard.children.compactMap { id in stream.shards.first { $0.id == id } }.map { child in
                ChildShardOutput(ShardId: child.id, ParentShards: [child.parent, child.adjacentParent].compactMap { $0 }, HashKeyRange: output(child.range))
            }
            return try ok(Output(Records: records, NextShardIterator: nil, MillisBehindLatest: behind, ChildShards: children))
        }
        let next = Iterator(stream: stream.name, shard: shard.id, position: position, issued: now).encoded(nonce: UInt64(state.random.nextUnit() * 1e15))
        return try ok(Output(Records: records, NextShardIterator: next, MillisBehindLatest: behind, ChildShards: nil))
    }

    // MARK: Writing

    /// Validates and routes one record; appends it to its shard.
    static func append(_ data: String, _ partitionKey: String, _ explicitHashKey: String?, to name: String, _ state: inout State, _ now: Date) throws -> (shardID: String, sequenceNumber: SequenceNumber) {
        guard (1...256).contains(partitionKey.count) else { throw ServiceError.invalid("PartitionKey must be 1 to 256 characters long") }
        guard let decoded = Data(base64Encoded: data) else { throw ServiceError(code: "SerializationException", message: "Data is not valid base64") }
        guard decoded.count + partitionKey.utf8.count <= maxRecordBytes else {
            throw ServiceError(code: "ValidationException", message: "a record's data and partition key exceed 1 MiB")
        }
        var hashKey = HashKey.of(partitionKey: partitionKey)
        if let explicitHashKey {
            guard let value = HashKey.parse(explicitHashKey) else { throw ServiceError.invalid("ExplicitHashKey '\(explicitHashKey)' is not a decimal number below 2^128") }
            hashKey = value
        }
        guard var stream = state.streams[name] else { throw ServiceError.notFound("Stream \(name) under account \(accountID) not found.") }
        guard let index = stream.shards.firstIndex(where: { $0.isOpen && $0.range.contains(hashKey) }) else {
            throw ServiceError(status: 500, code: "InternalFailure", message: "no open shard holds hash key \(hashKey)")
        }
        if state.limitsEnabled {
            stream.shards[index].writes.removeAll { now.timeIntervalSince($0.0) >= 1 }
            let recent = stream.shards[index].writes
            guard recent.count < 1000, recent.reduce(0, { $0 + $1.1 }) + decoded.count <= 1024 * 1024 else {
                throw ServiceError.throughput("Rate exceeded for shard \(stream.shards[index].id) in stream \(name) under account \(accountID).")
            }
        }
        let sequence = state.nextSequenceNumber()
        stream.shards[index].records.append(StoredRecord(sequenceNumber: sequence, partitionKey: partitionKey, data: Array(decoded), arrival: now, explicitHashKey: explicitHashKey.flatMap(HashKey.parse)))
        stream.shards[index].writes.append((now, decoded.count))
        state.streams[name] = stream
        return (stream.shards[index].id, sequence)
    }

    static func putRecord(_ input: PutRecordInput, _ state: inout State, _ now: Date) throws -> HTTPResponse {
        let name = try stream(input.StreamName, input.StreamARN, state).name
        let (shardID, sequence) = try append(input.Data, input.PartitionKey, input.ExplicitHashKey, to: name, &state, now)
        return try ok(["ShardId": shardID, "SequenceNumber": sequence.rawValue, "EncryptionType": "NONE"])
    }

    static func putRecords(_ input: PutRecordsInput, _ state: inout State, _ now: Date) throws -> HTTPResponse {
        struct Result: Encodable { var SequenceNumber: String?; var ShardId: String?; var ErrorCode: String?; var ErrorMessage: String? }
        struct Output: Encodable { var FailedRecordCount: Int; var Records: [Result]; var EncryptionType = "NONE" }
        let name = try stream(input.StreamName, input.StreamARN, state).name
        guard (1...500).contains(input.Records.count) else { throw ServiceError.invalid("PutRecords takes 1 to 500 records, not \(input.Records.count)") }
        let total = input.Records.reduce(0) { $0 + ($1.Data.count / 4 * 3) + $1.PartitionKey.utf8.count }
        guard total <= 5 * 1024 * 1024 + 1500 else { throw ServiceError.invalid("a PutRecords request holds at most 5 MiB") }
        let failEntry = state.faults.failPutRecordsEntry
        var results: [Result] = []
        for (index, entry) in input.Records.enumerated() {
            if let failEntry, failEntry(index, entry.PartitionKey) {
                results.append(Result(ErrorCode: "InternalFailure", ErrorMessage: "Internal service failure."))
                continue
            }
            do {
                let (shardID, sequence) = try append(entry.Data, entry.PartitionKey, entry.ExplicitHashKey, to: name, &state, now)
                results.append(Result(SequenceNumber: sequence.rawValue, ShardId: shardID))
            } catch let failure as ServiceError where failure.code == "ProvisionedThroughputExceededException" || failure.code == "InternalFailure" {
                results.append(Result(ErrorCode: failure.code, ErrorMessage: failure.message))
            }
        }
        return try ok(Output(FailedRecordCount: results.filter { $0.ErrorCode != nil }.count, Records: results))
    }

    // MARK: Resharding

    static func close(_ shard: inout ShardState, children: [String], _ state: inout State, _ now: Date) {
        shard.endingSequenceNumber = state.nextSequenceNumber()
        shard.closedAt = now
        shard.children = children
    }

    static func splitShard(_ input: SplitShardInput, _ state: inout State, _ now: Date) throws -> HTTPResponse {
        var stream = try stream(input.StreamName, input.StreamARN, state)
        guard let index = stream.index(of: input.ShardToSplit), stream.shards[index].isOpen else {
            throw ServiceError.notFound("Open shard \(input.ShardToSplit) not found in stream \(stream.name)")
        }
        let range = stream.shards[index].range
        guard let key = HashKey.parse(input.NewStartingHashKey), key > range.startingHashKey, key <= range.endingHashKey else {
            throw ServiceError.invalid("NewStartingHashKey \(input.NewStartingHashKey) must lie within the shard's range and above its start")
        }
        let first = newShard(&stream, HashKeyRange(startingHashKey: range.startingHashKey, endingHashKey: key - 1), parent: input.ShardToSplit, &state, now)
        let second = newShard(&stream, HashKeyRange(startingHashKey: key, endingHashKey: range.endingHashKey), parent: input.ShardToSplit, &state, now)
        close(&stream.shards[index], children: [first, second], &state, now)
        state.streams[stream.name] = stream
        return try ok(Empty())
    }

    static func mergeShards(_ input: MergeShardsInput, _ state: inout State, _ now: Date) throws -> HTTPResponse {
        var stream = try stream(input.StreamName, input.StreamARN, state)
        guard let a = stream.index(of: input.ShardToMerge), let b = stream.index(of: input.AdjacentShardToMerge),
            stream.shards[a].isOpen, stream.shards[b].isOpen
        else { throw ServiceError.notFound("Both shards must exist and be open in stream \(stream.name)") }
        let left = stream.shards[a].range, right = stream.shards[b].range
        let adjacent = (left.endingHashKey != UInt128.max && left.endingHashKey + 1 == right.startingHashKey)
            || (right.endingHashKey != UInt128.max && right.endingHashKey + 1 == left.startingHashKey)
        guard adjacent else { throw ServiceError.invalid("Shards \(input.ShardToMerge) and \(input.AdjacentShardToMerge) are not adjacent") }
        let merged = HashKeyRange(startingHashKey: min(left.startingHashKey, right.startingHashKey), endingHashKey: max(left.endingHashKey, right.endingHashKey))
        let child = newShard(&stream, merged, parent: input.ShardToMerge, adjacentParent: input.AdjacentShardToMerge, &state, now)
        close(&stream.shards[a], children: [child], &state, now)
        close(&stream.shards[b], children: [child], &state, now)
        state.streams[stream.name] = stream
        return try ok(Empty())
    }

    static func updateShardCount(_ input: UpdateShardCountInput, _ state: inout State, _ now: Date) throws -> HTTPResponse {
        var stream = try stream(input.StreamName, input.StreamARN, state)
        let open = stream.shards.indices.filter { stream.shards[$0].isOpen }
        guard input.TargetShardCount >= 1, input.TargetShardCount <= open.count * 2, input.TargetShardCount * 2 >= open.count else {
            throw ServiceError(code: "LimitExceededException", message: "TargetShardCount must be between half and double the open shard count (\(open.count))")
        }
        var children: [String: [String]] = [:]
        for range in evenRanges(input.TargetShardCount) {
            // Parents: the old open shards this range overlaps (the first, and an adjacent second).
            let parents = open.filter { let r = stream.shards[$0].range; return r.startingHashKey <= range.endingHashKey && range.startingHashKey <= r.endingHashKey }
            let ids = parents.prefix(2).map { stream.shards[$0].id }
            let id = newShard(&stream, range, parent: ids.first, adjacentParent: ids.count > 1 ? ids[1] : nil, &state, now)
            for parent in parents { children[stream.shards[parent].id, default: []].append(id) }
        }
        for index in open { close(&stream.shards[index], children: children[stream.shards[index].id] ?? [], &state, now) }
        state.streams[stream.name] = stream
        struct Output: Encodable { var StreamName: String; var CurrentShardCount: Int; var TargetShardCount: Int }
        return try ok(Output(StreamName: stream.name, CurrentShardCount: open.count, TargetShardCount: input.TargetShardCount))
    }

    // MARK: Consumers

    struct ConsumerOutput: Encodable { var ConsumerName: String; var ConsumerARN: String; var ConsumerStatus = "ACTIVE"; var ConsumerCreationTimestamp: Date; var StreamARN: String? }

    static func consumer(_ input: ConsumerInput, _ state: State) throws -> (StreamState, String) {
        if let arn = input.ConsumerARN, let range = arn.firstRange(of: "/consumer/") {
            let streamARN = String(arn[..<range.lowerBound])
            let name = arn[range.upperBound...].split(separator: ":").first.map(String.init) ?? ""
            return (try stream(nil, streamARN, state), name)
        }
        guard let name = input.ConsumerName else { throw ServiceError.invalid("ConsumerName or ConsumerARN is required") }
        return (try stream(nil, input.StreamARN, state), name)
    }

    static func registerConsumer(_ input: ConsumerInput, _ state: inout State, _ now: Date) throws -> HTTPResponse {
        var (stream, name) = try consumer(input, state)
        guard stream.consumers[name] == nil else { throw ServiceError.inUse("Consumer \(name) already exists") }
        let arn = "\(stream.arn)/consumer/\(name):\(Int(now.timeIntervalSince1970))"
        stream.consumers[name] = (arn, now)
        state.streams[stream.name] = stream
        return try ok(["Consumer": ConsumerOutput(ConsumerName: name, ConsumerARN: arn, ConsumerCreationTimestamp: now)])
    }

    static func deregisterConsumer(_ input: ConsumerInput, _ state: inout State) throws -> HTTPResponse {
        var (stream, name) = try consumer(input, state)
        guard stream.consumers.removeValue(forKey: name) != nil else { throw ServiceError.notFound("Consumer \(name) not found") }
        state.streams[stream.name] = stream
        return try ok(Empty())
    }

    static func describeConsumer(_ input: ConsumerInput, _ state: State) throws -> HTTPResponse {
        let (stream, name) = try consumer(input, state)
        guard let found = stream.consumers[name] else { throw ServiceError.notFound("Consumer \(name) not found") }
        return try ok(["ConsumerDescription": ConsumerOutput(ConsumerName: name, ConsumerARN: found.arn, ConsumerCreationTimestamp: found.createdAt, StreamARN: stream.arn)])
    }

    static func listConsumers(_ input: ConsumerInput, _ state: State) throws -> HTTPResponse {
        let stream = try stream(nil, input.StreamARN, state)
        let consumers = stream.consumers.sorted { $0.key < $1.key }.map { ConsumerOutput(ConsumerName: $0.key, ConsumerARN: $0.value.arn, ConsumerCreationTimestamp: $0.value.createdAt) }
        return try ok(["Consumers": consumers])
    }
}
