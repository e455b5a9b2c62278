import AWSCore

/// A user record packed in a KPL aggregated record, or to be packed into one.
public struct UserRecord: Sendable, Hashable {
    public var partitionKey: String
    /// The hash key the producer routed by, when it gave one.
    public var explicitHashKey: UInt128?
    /// The bytes; when decoded, a slice of the aggregated record's buffer.
    public var data: ArraySlice<UInt8>
    /// KPL tags (rarely used).
    public var tags: [Tag]

    /// A KPL tag.
    public struct Tag: Sendable, Hashable {
        public var key: String
        public var value: String?
        public init(key: String, value: String? = nil) {
            self.key = key
            self.value = value
        }
    }

    public init(partitionKey: String, explicitHashKey: UInt128? = nil, data: ArraySlice<UInt8>, tags: [Tag] = []) {
        self.partitionKey = partitionKey
        self.explicitHashKey = explicitHashKey
        self.data = data
        self.tags = tags
    }

    /// The hash key that routes this record: its explicit hash key, or the MD5 of its partition key.
    public var effectiveHashKey: UInt128 { explicitHashKey ?? HashKey.of(partitionKey: partitionKey) }
}

/// The KPL aggregated-record format: the magic bytes `F3 89 9A C2`, a protobuf
/// `AggregatedRecord` (partition-key table, explicit-hash-key table, records), and the MD5 of the
/// protobuf bytes.
///
/// See awslabs/amazon-kinesis-producer's `aggregation-format.md`. Decoding checks every length,
/// index and the checksum, and never reads or allocates beyond the input's size.
public enum AggregatedRecordFormat {
    /// The four bytes every aggregated record starts with.
    public static let magic: [UInt8] = [0xF3, 0x89, 0x9A, 0xC2]
    static let digestSize = 16

    /// Why a record that starts with the magic bytes could not be decoded.
    public struct DecodingError: Error, Sendable, CustomStringConvertible {
        public var message: String
        public var description: String { "not a valid KPL aggregated record: \(message)" }
    }

    /// Whether `data` starts with the magic bytes and is long enough to hold a checksum.
    public static func hasMagic(_ data: some Collection<UInt8>) -> Bool {
        data.count > magic.count + digestSize && data.starts(with: magic)
    }

    /// Decodes an aggregated record's user records, in order (a user record's index is its
    /// sub-sequence number). Their ``UserRecord/data`` slices share `data`'s storage.
    public static func decode(_ data: ArraySlice<UInt8>) throws(DecodingError) -> [UserRecord] {
        guard hasMagic(data) else { throw DecodingError(message: "too short or missing the magic bytes") }
        let body = data[(data.startIndex + magic.count)..<(data.endIndex - digestSize)]
        let digest = data[(data.endIndex - digestSize)...]
        guard Hashing.md5(body).elementsEqual(digest) else {
            throw DecodingError(message: "the MD5 checksum does not match")
        }
        do {
            return try decodeProtobuf(body)
        } catch {
            throw DecodingError(message: error.message)
        }
    }

    private struct RawRecord {
        var partitionKeyIndex: UInt64?
        var explicitHashKeyIndex: UInt64?
        var data: ArraySlice<UInt8>?
        var tags: [UserRecord.Tag] = []
    }

    private static func decodeProtobuf(_ body: ArraySlice<UInt8>) throws(ProtobufReader.Failure) -> [UserRecord] {
        var reader = ProtobufReader(body)
        var partitionKeys: [String] = []
        var explicitHashKeys: [UInt128] = []
        var raw: [RawRecord] = []
        while !reader.isAtEnd {
            let (field, wireType) = try reader.readTag()
            switch (field, wireType) {
            case (1, .lengthDelimited):
                partitionKeys.append(try string(reader.readLengthDelimited(), "partition key"))
            case (2, .lengthDelimited):
                let text = try string(reader.readLengthDelimited(), "explicit hash key")
                guard let key = HashKey.parse(text) else {
                    throw ProtobufReader.Failure(message: "explicit hash key '\(text.prefix(50))' is not a decimal number below 2^128")
                }
                explicitHashKeys.append(key)
            case (3, .lengthDelimited):
                raw.append(try decodeRecord(reader.readLengthDelimited(), index: raw.count))
            default:
                try reader.skip(wireType)
            }
        }
        guard !raw.isEmpty else { throw ProtobufReader.Failure(message: "it holds no records") }
        var records: [UserRecord] = []
        records.reserveCapacity(raw.count)
        for (index, record) in raw.enumerated() {
            guard let keyIndex = record.partitionKeyIndex else {
                throw ProtobufReader.Failure(message: "record \(index) has no partition key index")
            }
            guard keyIndex < UInt64(partitionKeys.count) else {
                throw ProtobufReader.Failure(message: "record \(index) points at partition key \(keyIndex) of \(partitionKeys.count)")
            }
            var explicitHashKey: UInt128?
            if let hashIndex = record.explicitHashKeyIndex {
                guard hashIndex < UInt64(explicitHashKeys.count) else {
                    throw ProtobufReader.Failure(message: "record \(index) points at explicit hash key \(hashIndex) of \(explicitHashKeys.count)")
                }
                explicitHashKey = explicitHashKeys[Int(hashIndex)]
            }
            guard let data = record.data else {
                throw ProtobufReader.Failure(message: "record \(index) has no data")
            }
            records.append(UserRecord(partitionKey: partitionKeys[Int(keyIndex)], explicitHashKey: explicitHashKey, data: data, tags: record.tags))
        }
        return records
    }

    private static func decodeRecord(_ bytes: ArraySlice<UInt8>, index: Int) throws(ProtobufReader.Failure) -> RawRecord {
        var reader = ProtobufReader(bytes)
        var record = RawRecord()
        while !reader.isAtEnd {
            let (field, wireType) = try reader.readTag()
            switch (field, wireType) {
            case (1, .varint): record.partitionKeyIndex = try reader.readVarint()
            case (2, .varint): record.explicitHashKeyIndex = try reader.readVarint()
            case (3, .lengthDelimited): record.data = try reader.readLengthDelimited()
            case (4, .lengthDelimited): record.tags.append(try decodeTag(reader.readLengthDelimited()))
            default: try reader.skip(wireType)
            }
        }
        return record
    }

    private static func decodeTag(_ bytes: ArraySlice<UInt8>) throws(ProtobufReader.Failure) -> UserRecord.Tag {
        var reader = ProtobufReader(bytes)
        var key: String?
        var value: String?
        while !reader.isAtEnd {
            let (field, wireType) = try reader.readTag()
            switch (field, wireType) {
            case (1, .lengthDelimited): key = try string(reader.readLengthDelimited(), "tag key")
            case (2, .lengthDelimited): value = try string(reader.readLengthDelimited(), "tag value")
            default: try reader.skip(wireType)
            }
        }
        guard let key else { throw ProtobufReader.Failure(message: "a tag has no key") }
        return UserRecord.Tag(key: key, value: value)
    }

    private static func string(_ bytes: ArraySlice<UInt8>, _ what: String) throws(ProtobufReader.Failure) -> String {
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw ProtobufReader.Failure(message: "a \(what) is not valid UTF-8")
        }
        return text
    }
}

/// Packs user records into one KPL aggregated record, up to a size limit, for the producer.
///
/// Partition keys and explicit hash keys are stored once each in their tables. ``encodedSize``
/// is exact at every step, so the caller knows before ``append(_:)`` whether a record fits.
public struct AggregatedRecordBuilder: Sendable {
    /// The largest aggregated record (magic and checksum included) the builder makes; KPL's
    /// default `AggregationMaxSize` is 51,200 bytes, Kinesis's limit 1 MiB with the partition key.
    public let maxBytes: Int
    // Tables keyed by UTF-8 bytes: `String` equality is canonical equivalence, which would merge
    // keys whose bytes (and so whose MD5 hash keys) differ.
    private var partitionKeys: [[UInt8]] = []
    private var partitionKeyIndex: [[UInt8]: UInt64] = [:]
    private var explicitHashKeys: [[UInt8]] = []
    private var explicitHashKeyIndex: [[UInt8]: UInt64] = [:]
    private var firstRecordHashKey: UInt128?
    private var recordMessages = ProtobufWriter()
    private var protobufSize = 0
    /// How many user records have been added.
    public private(set) var count = 0

    public init(maxBytes: Int = 51_200) {
        precondition(maxBytes > AggregatedRecordFormat.magic.count + AggregatedRecordFormat.digestSize, "maxBytes is too small for any aggregated record")
        self.maxBytes = maxBytes
    }

    /// The size of the aggregated record built now.
    public var encodedSize: Int { AggregatedRecordFormat.magic.count + protobufSize + AggregatedRecordFormat.digestSize }

    /// The partition key to send the aggregated record with: the first user record's (as KPL does).
    ///
    /// - Important: Send the aggregated record with ``explicitHashKey`` too, so that it lands on the
    ///   shard of its first user record whatever that record's routing; and keep ``maxBytes`` plus
    ///   the partition key's size within Kinesis's 1 MiB record limit.
    public var partitionKey: String? { partitionKeys.first.map { String(decoding: $0, as: UTF8.self) } }

    /// The explicit hash key to send the aggregated record with: the first user record's hash key
    /// (its explicit one, or the MD5 of its partition key), as KPL does.
    public var explicitHashKey: UInt128? { firstRecordHashKey }

    /// The size the aggregated record would have with `record` added.
    public func encodedSize(adding record: UserRecord) -> Int {
        encodedSize + addedSize(record).total
    }

    private func addedSize(_ record: UserRecord) -> (total: Int, newPartitionKey: Bool, newHashKey: Bool) {
        var size = 0
        let partitionKey = Array(record.partitionKey.utf8)
        let newPartitionKey = partitionKeyIndex[partitionKey] == nil
        if newPartitionKey { size += ProtobufWriter.lengthDelimitedFieldSize(partitionKey.count) }
        let keyIndex = partitionKeyIndex[partitionKey] ?? UInt64(partitionKeys.count)
        var message = 1 + ProtobufWriter.varintSize(keyIndex)
        var newHashKey = false
        if let hashKey = record.explicitHashKey.map({ Array($0.description.utf8) }) {
            newHashKey = explicitHashKeyIndex[hashKey] == nil
            if newHashKey { size += ProtobufWriter.lengthDelimitedFieldSize(hashKey.count) }
            message += 1 + ProtobufWriter.varintSize(explicitHashKeyIndex[hashKey] ?? UInt64(explicitHashKeys.count))
        }
        message += ProtobufWriter.lengthDelimitedFieldSize(record.data.count)
        for tag in record.tags {
            let tagSize = ProtobufWriter.lengthDelimitedFieldSize(tag.key.utf8.count) + (tag.value.map { ProtobufWriter.lengthDelimitedFieldSize($0.utf8.count) } ?? 0)
            message += ProtobufWriter.lengthDelimitedFieldSize(tagSize)
        }
        size += ProtobufWriter.lengthDelimitedFieldSize(message)
        return (size, newPartitionKey, newHashKey)
    }

    /// Adds `record` if the result stays within ``maxBytes``; returns whether it was added.
    @discardableResult
    public mutating func append(_ record: UserRecord) -> Bool {
        append(record, ifSizeAtMost: maxBytes)
    }

    /// Adds `record` if the result stays within ``maxBytes`` and `limit` (a caller's own budget,
    /// such as what is left of a `PutRecords` call); returns whether it was added. The size is
    /// computed once.
    @discardableResult
    public mutating func append(_ record: UserRecord, ifSizeAtMost limit: Int) -> Bool {
        let (added, newPartitionKey, newHashKey) = addedSize(record)
        guard encodedSize + added <= min(maxBytes, limit) else { return false }
        let partitionKey = Array(record.partitionKey.utf8)
        if newPartitionKey {
            partitionKeyIndex[partitionKey] = UInt64(partitionKeys.count)
            partitionKeys.append(partitionKey)
        }
        if count == 0 { firstRecordHashKey = record.effectiveHashKey }
        var message = ProtobufWriter()
        message.writeVarintField(field: 1, partitionKeyIndex[partitionKey]!)
        if let hashKey = record.explicitHashKey.map({ Array($0.description.utf8) }) {
            if newHashKey {
                explicitHashKeyIndex[hashKey] = UInt64(explicitHashKeys.count)
                explicitHashKeys.append(hashKey)
            }
            message.writeVarintField(field: 2, explicitHashKeyIndex[hashKey]!)
        }
        message.writeLengthDelimited(field: 3, record.data)
        for tag in record.tags {
            var tagMessage = ProtobufWriter()
            tagMessage.writeLengthDelimited(field: 1, Array(tag.key.utf8))
            if let value = tag.value { tagMessage.writeLengthDelimited(field: 2, Array(value.utf8)) }
            message.writeLengthDelimited(field: 4, tagMessage.bytes)
        }
        recordMessages.writeLengthDelimited(field: 3, message.bytes)
        protobufSize += added
        count += 1
        return true
    }

    /// The aggregated record's bytes: magic, protobuf, MD5.
    public func build() -> [UInt8] {
        var protobuf = ProtobufWriter()
        protobuf.bytes.reserveCapacity(protobufSize)
        for key in partitionKeys { protobuf.writeLengthDelimited(field: 1, key) }
        for key in explicitHashKeys { protobuf.writeLengthDelimited(field: 2, key) }
        protobuf.bytes.append(contentsOf: recordMessages.bytes)
        precondition(protobuf.bytes.count == protobufSize, "aggregated record size bookkeeping is off")
        var output = AggregatedRecordFormat.magic
        output.reserveCapacity(encodedSize)
        output.append(contentsOf: protobuf.bytes)
        output.append(contentsOf: Hashing.md5(protobuf.bytes))
        return output
    }
}
