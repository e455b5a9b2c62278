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

    static func handle(_ operation: String, body: [UInt8], state: inout State, now: Date, failingEntries: Set<Int> = []) throws -> HTTPResponse {
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
        case "PutRecords": return try putRecords(input(PutRecordsInput.self), failing: failingEntries, &state, now)
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

    /// `count` shards covering the whole hash-key space as AWS divides it: shard `i` starts at
    /// `i * floor(2^128 / count)`, and the last one ends at `2^128 - 1`.
    static func evenRanges(_ count: Int) -> [HashKeyRange] {
        precondition(count >= 1, "at least one shard")
        if count == 1 { return [HashKeyRange(startingHashKey: 0, endingHashKey: UInt128.max)] }
        let n = UInt128(count)
        // floor(2^128 / n): floor((2^128 - 1) / n), plus one when n divides 2^128 (a power of two).
        let step = UInt128.max / n + (n & (n - 1) == 0 ? 1 : 0)
        return (0..<count).map { index in
            let start = step * UInt128(index)
            let end = index == count - 1 ? UInt128.max : step * UInt128(index + 1) - 1
            return HashKeyRange(startingHashKey: start, endingHashKey: end)
        }
    }

    static func newShard(_ stream: inout StreamState, _ range: HashKeyRange, parent: String? = nil, adjacentParent: String? = nil, _ state: inout State, _ now: Date) -> String {
        let ordinal = stream.nextShardIndex
        let id = "shardId-" + State.padded(ordinal, 12)
        stream.nextShardIndex += 1
        stream.shards.append(ShardState(
            id: id, ordinal: ordinal, parent: parent, adjacentParent: adjacentParent, range: range,
            startingSequenceNumber: state.nextSequenceNumber(shard: ordinal), openedAt: now
        ))
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
        /// A page's position: the whole request (stream, filter with its argument, start) and the last
        /// shard returned, so that a shard that closes between pages is neither lost nor repeated.
        struct Token: Codable {
            var stream: String; var filterType: String?; var filterShardID: String?; var filterTimestamp: Double?
            var exclusiveStart: String?; var last: String
        }
        let limit = min(max(input.MaxResults ?? 1000, 1), 10_000)
        let streamName: String
        var exclusiveStart = input.ExclusiveStartShardId
        var filter = input.ShardFilter
        var after: String?
        if let text = input.NextToken {
            guard input.StreamName == nil, input.StreamARN == nil, input.ShardFilter == nil, input.ExclusiveStartShardId == nil else {
                throw ServiceError.invalid("NextToken cannot be combined with StreamName, StreamARN, ShardFilter or ExclusiveStartShardId")
            }
            guard let data = Data(base64Encoded: text), let token = try? JSONDecoder().decode(Token.self, from: data) else {
                throw ServiceError(code: "ExpiredNextTokenException", message: "NextToken is not valid")
            }
            streamName = token.stream
            exclusiveStart = token.exclusiveStart
            filter = token.filterType.map { ListShardsInput.Filter(Type: $0, ShardId: token.filterShardID, Timestamp: token.filterTimestamp.map(Date.init(timeIntervalSince1970:))) }
            after = token.last
        } else {
            streamName = try self.streamName(input.StreamName, input.StreamARN)
        }
        guard let stream = state.streams[streamName] else { throw ServiceError.notFound("Stream \(streamName) not found.") }
        /// Open at `time`: opened at or before it, and not closed before it.
        func openAt(_ shard: ShardState, _ time: Date) -> Bool { shard.openedAt <= time && (shard.closedAt.map { $0 >= time } ?? true) }
        func openAtOrAfter(_ shard: ShardState, _ time: Date) -> Bool { shard.closedAt.map { $0 >= time } ?? true }
        var shards = stream.shards
        if let exclusiveStart { shards = shards.filter { $0.id > exclusiveStart } }
        if let filter {
            let horizon = max(now.addingTimeInterval(-Double(stream.retentionHours) * 3600), stream.createdAt)
            switch filter.Type {
            case "AT_LATEST": shards = shards.filter(\.isOpen)
            case "AT_TRIM_HORIZON": shards = shards.filter { openAt($0, horizon) }
            case "FROM_TRIM_HORIZON": shards = shards.filter { openAtOrAfter($0, horizon) }
            case "AFTER_SHARD_ID":
                guard let id = filter.ShardId else { throw ServiceError.invalid("AFTER_SHARD_ID needs ShardId") }
                shards = shards.filter { $0.id > id }
            case "AT_TIMESTAMP":
                guard let time = filter.Timestamp else { throw ServiceError.invalid("AT_TIMESTAMP needs Timestamp") }
                shards = shards.filter { openAt($0, time) }
            case "FROM_TIMESTAMP":
                guard let time = filter.Timestamp else { throw ServiceError.invalid("FROM_TIMESTAMP needs Timestamp") }
                shards = shards.filter { openAtOrAfter($0, time) }
            default: throw ServiceError.invalid("unknown ShardFilter type \(filter.Type)")
            }
        }
        if let after { shards = shards.filter { $0.id > after } }
        let page = Array(shards.prefix(limit))
        var token: String?
        if shards.count > page.count, let last = page.last?.id {
            token = try JSONEncoder().encode(Token(
                stream: streamName, filterType: filter?.Type, filterShardID: filter?.ShardId,
                filterTimestamp: filter?.Timestamp?.timeIntervalSince1970, exclusiveStart: exclusiveStart, last: last
            )).base64EncodedString()
        }
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
            guard let ordinal = State.shardOrdinal(of: value) else {
                throw ServiceError.invalid("StartingSequenceNumber \(value) used in GetShardIterator on shard \(shard.id) in stream \(stream.name) under account \(accountID) is invalid because it did not come from this stream.")
            }
            guard ordinal == shard.ordinal else {
                throw ServiceError.invalid("Invalid StartingSequenceNumber. It encodes shardId-\(State.padded(ordinal, 12)), while it was used in a call to a shard with \(shard.id)")
            }
            return value
        }
        if ["TRIM_HORIZON", "LATEST", "AT_TIMESTAMP"].contains(input.ShardIteratorType), input.StartingSequenceNumber != nil {
            throw ServiceError.invalid("StartingSequenceNumber is only for AT_SEQUENCE_NUMBER and AFTER_SEQUENCE_NUMBER")
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
        state.iteratorNonce += 1
        let token = Iterator(stream: stream.name, shard: shard.id, position: position, issued: now).encoded(nonce: state.iteratorNonce)
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
            if let blocked = shard.readBlockedUntil, now < blocked {
                throw ServiceError.throughput("Rate exceeded for shard \(shard.id): the last reads used the 2 MiB a second until \(blocked).")
            }
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
        // A read of b bytes uses b / 2 MiB seconds of the shard's budget (a 10 MiB read blocks the
        // next 5 s, as the API reference says), counted in whole milliseconds.
        let blockedMillis = bytes * 1000 / (2 * 1024 * 1024)
        if state.limitsEnabled, blockedMillis > 0 {
            shard.readBlockedUntil = now.addingTimeInterval(Double(blockedMillis) / 1000)
        }
        stream.shards[index] = shard
        state.streams[stream.name] = stream
        let behind: Int64 = position >= shard.end ? 0 : Int64(max(0, now.timeIntervalSince(shard.record(at: position).arrival)) * 1000)
        if !shard.isOpen, position >= shard.end {
            let children = shard.children.compactMap { id in stream.shards.first { $0.id == id } }.map { child in
                ChildShardOutput(ShardId: child.id, ParentShards: [child.parent, child.adjacentParent].compactMap { $0 }, HashKeyRange: output(child.range))
            }
            return try ok(Output(Records: records, NextShardIterator: nil, MillisBehindLatest: behind, ChildShards: children))
        }
        state.iteratorNonce += 1
        let next = Iterator(stream: stream.name, shard: shard.id, position: position, issued: now).encoded(nonce: state.iteratorNonce)
        return try ok(Output(Records: records, NextShardIterator: next, MillisBehindLatest: behind, ChildShards: nil))
    }

    // MARK: Writing

    /// A validated record and the shard it goes to.
    struct Routed {
        var shardIndex: Int
        var partitionKey: String
        var data: [UInt8]
        var explicitHashKey: UInt128?
    }

    /// Validates one record and routes it; writes nothing.
    static func route(_ data: String, _ partitionKey: String, _ explicitHashKey: String?, in stream: StreamState) throws -> Routed {
        guard (1...256).contains(partitionKey.count) else { throw ServiceError.invalid("PartitionKey must be 1 to 256 characters long") }
        guard let decoded = Data(base64Encoded: data) else { throw ServiceError(code: "SerializationException", message: "Data is not valid base64") }
        guard decoded.count + partitionKey.utf8.count <= maxRecordBytes else {
            throw ServiceError(code: "ValidationException", message: "a record's data and partition key exceed 1 MiB")
        }
        var hashKey = HashKey.of(partitionKey: partitionKey)
        var explicit: UInt128?
        if let explicitHashKey {
            guard let value = HashKey.parse(explicitHashKey) else { throw ServiceError.invalid("ExplicitHashKey '\(explicitHashKey)' is not a decimal number below 2^128") }
            hashKey = value
            explicit = value
        }
        guard let index = stream.shards.firstIndex(where: { $0.isOpen && $0.range.contains(hashKey) }) else {
            throw ServiceError(status: 500, code: "InternalFailure", message: "no open shard holds hash key \(hashKey)")
        }
        return Routed(shardIndex: index, partitionKey: partitionKey, data: Array(decoded), explicitHashKey: explicit)
    }

    /// Appends a routed record to its shard, within the write limits when they are on.
    static func commit(_ record: Routed, to name: String, _ state: inout State, _ now: Date) throws -> (shardID: String, sequenceNumber: SequenceNumber) {
        guard var stream = state.streams[name] else { throw ServiceError.notFound("Stream \(name) under account \(accountID) not found.") }
        var shard = stream.shards[record.shardIndex]
        if state.limitsEnabled {
            shard.writes.removeAll { now.timeIntervalSince($0.0) >= 1 }
            guard shard.writes.count < 1000, shard.writes.reduce(0, { $0 + $1.1 }) + record.data.count <= 1024 * 1024 else {
                throw ServiceError.throughput("Rate exceeded for shard \(shard.id) in stream \(name) under account \(accountID).")
            }
        }
        let sequence = state.nextSequenceNumber(shard: shard.ordinal)
        shard.records.append(StoredRecord(sequenceNumber: sequence, partitionKey: record.partitionKey, data: record.data, arrival: now, explicitHashKey: record.explicitHashKey))
        shard.writes.append((now, record.data.count))
        stream.shards[record.shardIndex] = shard
        state.streams[name] = stream
        return (shard.id, sequence)
    }

    static func putRecord(_ input: PutRecordInput, _ state: inout State, _ now: Date) throws -> HTTPResponse {
        let stream = try stream(input.StreamName, input.StreamARN, state)
        let routed = try route(input.Data, input.PartitionKey, input.ExplicitHashKey, in: stream)
        let (shardID, sequence) = try commit(routed, to: stream.name, &state, now)
        return try ok(["ShardId": shardID, "SequenceNumber": sequence.rawValue, "EncryptionType": "NONE"])
    }

    static func putRecords(_ input: PutRecordsInput, failing: Set<Int>, _ state: inout State, _ now: Date) throws -> HTTPResponse {
        struct Result: Encodable { var SequenceNumber: String?; var ShardId: String?; var ErrorCode: String?; var ErrorMessage: String? }
        struct Output: Encodable { var FailedRecordCount: Int; var Records: [Result]; var EncryptionType = "NONE" }
        let stream = try stream(input.StreamName, input.StreamARN, state)
        guard (1...500).contains(input.Records.count) else { throw ServiceError.invalid("PutRecords takes 1 to 500 records, not \(input.Records.count)") }
        // The whole request is validated before anything is written, as the service does.
        let routed = try input.Records.map { try route($0.Data, $0.PartitionKey, $0.ExplicitHashKey, in: stream) }
        guard routed.reduce(0, { $0 + $1.data.count + $1.partitionKey.utf8.count }) <= 5 * 1024 * 1024 else {
            throw ServiceError.invalid("a PutRecords request holds at most 5 MiB")
        }
        var results: [Result] = []
        for (index, record) in routed.enumerated() {
            if failing.contains(index) {
                results.append(Result(ErrorCode: "InternalFailure", ErrorMessage: "Internal service failure."))
                continue
            }
            do {
                let (shardID, sequence) = try commit(record, to: stream.name, &state, now)
                results.append(Result(SequenceNumber: sequence.rawValue, ShardId: shardID))
            } catch let failure as ServiceError where failure.code == "ProvisionedThroughputExceededException" {
                results.append(Result(ErrorCode: failure.code, ErrorMessage: failure.message))
            }
        }
        return try ok(Output(FailedRecordCount: results.filter { $0.ErrorCode != nil }.count, Records: results))
    }

    // MARK: Resharding

    /// Closes a shard: its ending sequence number comes before any of its children's numbers.
    static func close(_ shard: inout ShardState, _ state: inout State, _ now: Date) {
        shard.endingSequenceNumber = state.nextSequenceNumber(shard: shard.ordinal)
        shard.closedAt = now
    }

    static func splitShard(_ input: SplitShardInput, _ state: inout State, _ now: Date) throws -> HTTPResponse {
        var stream = try stream(input.StreamName, input.StreamARN, state)
        guard let index = stream.index(of: input.ShardToSplit), stream.shards[index].isOpen else {
            throw ServiceError.notFound("Open shard \(input.ShardToSplit) not found in stream \(stream.name)")
        }
        let range = stream.shards[index].range
        guard let key = HashKey.parse(input.NewStartingHashKey), range.endingHashKey - range.startingHashKey >= 3,
            key > range.startingHashKey + 1, key < range.endingHashKey
        else {
            throw ServiceError.invalid("NewStartingHashKey \(input.NewStartingHashKey) must lie strictly inside the shard's range \(range.startingHashKey)...\(range.endingHashKey) (above its start plus one, below its end)")
        }
        close(&stream.shards[index], &state, now)
        let first = newShard(&stream, HashKeyRange(startingHashKey: range.startingHashKey, endingHashKey: key - 1), parent: input.ShardToSplit, &state, now)
        let second = newShard(&stream, HashKeyRange(startingHashKey: key, endingHashKey: range.endingHashKey), parent: input.ShardToSplit, &state, now)
        stream.shards[index].children = [first, second]
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
        close(&stream.shards[a], &state, now)
        close(&stream.shards[b], &state, now)
        let child = newShard(&stream, merged, parent: input.ShardToMerge, adjacentParent: input.AdjacentShardToMerge, &state, now)
        stream.shards[a].children = [child]
        stream.shards[b].children = [child]
        state.streams[stream.name] = stream
        return try ok(Empty())
    }

    /// `UNIFORM_SCALING` as real splits and merges, so that every child names all its parents:
    /// doubling splits every open shard in two, halving merges adjacent pairs. Other targets are
    /// refused with a message saying so (AWS reaches them through intermediate shards, which the
    /// simulator does not model).
    static func updateShardCount(_ input: UpdateShardCountInput, _ state: inout State, _ now: Date) throws -> HTTPResponse {
        struct Output: Encodable { var StreamName: String; var CurrentShardCount: Int; var TargetShardCount: Int }
        var stream = try stream(input.StreamName, input.StreamARN, state)
        let open = stream.shards.indices.filter { stream.shards[$0].isOpen }.sorted { stream.shards[$0].range.startingHashKey < stream.shards[$1].range.startingHashKey }
        let target = input.TargetShardCount
        if target == open.count * 2 {
            for index in open {
                let range = stream.shards[index].range
                let middle = range.startingHashKey + (range.endingHashKey - range.startingHashKey) / 2 + 1
                close(&stream.shards[index], &state, now)
                let first = newShard(&stream, HashKeyRange(startingHashKey: range.startingHashKey, endingHashKey: middle - 1), parent: stream.shards[index].id, &state, now)
                let second = newShard(&stream, HashKeyRange(startingHashKey: middle, endingHashKey: range.endingHashKey), parent: stream.shards[index].id, &state, now)
                stream.shards[index].children = [first, second]
            }
        } else if target * 2 == open.count {
            for pair in stride(from: 0, to: open.count, by: 2) {
                let (a, b) = (open[pair], open[pair + 1])
                close(&stream.shards[a], &state, now)
                close(&stream.shards[b], &state, now)
                let merged = HashKeyRange(startingHashKey: stream.shards[a].range.startingHashKey, endingHashKey: stream.shards[b].range.endingHashKey)
                let child = newShard(&stream, merged, parent: stream.shards[a].id, adjacentParent: stream.shards[b].id, &state, now)
                stream.shards[a].children = [child]
                stream.shards[b].children = [child]
            }
        } else if target != open.count {
            throw ServiceError(code: "LimitExceededException", message: "the simulator scales from \(open.count) open shards only to \(open.count * 2) (every shard split) or \(open.count / 2) (adjacent pairs merged), not \(target)")
        }
        state.streams[stream.name] = stream
        return try ok(Output(StreamName: stream.name, CurrentShardCount: open.count, TargetShardCount: target))
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
