public import AWSCore
public import Logging

/// The DynamoDB operations a lease table needs, over an ``AWSJSONClient`` (SigV4, retries, error
/// decoding). Conditional writes that fail throw ``AWSError`` with code
/// ``AWSError/Code/conditionalCheckFailed``.
///
/// - Important: A value type, safe to share between tasks.
public struct DynamoDBClient: Sendable {
    public let client: AWSJSONClient

    public init(client: AWSJSONClient) {
        precondition(client.service == .dynamoDB, "DynamoDBClient needs an AWSJSONClient for the dynamodb service")
        self.client = client
    }

    /// Creates a client, resolving region, endpoint and credentials as ``AWSJSONClient`` does.
    public init(configuration: AWSConfiguration, transport: (any HTTPTransport)? = nil, logger: Logger = Logger(label: "swift-kinesis-client.dynamodb")) async throws {
        self.client = try await AWSJSONClient(service: .dynamoDB, configuration: configuration, transport: transport, logger: logger)
    }

    /// A condition or update expression with its placeholders.
    public struct Expression: Sendable {
        public var text: String
        public var names: [String: String]
        public var values: [String: AttributeValue]
        public init(_ text: String, names: [String: String] = [:], values: [String: AttributeValue] = [:]) {
            self.text = text
            self.names = names
            self.values = values
        }
    }

    /// How a table is billed.
    public struct BillingMode: Sendable, Hashable {
        let mode: String
        let read: Int?
        let write: Int?
        /// On-demand capacity (the default).
        public static let payPerRequest = BillingMode(mode: "PAY_PER_REQUEST", read: nil, write: nil)
        /// Provisioned capacity units.
        public static func provisioned(readCapacityUnits: Int, writeCapacityUnits: Int) -> BillingMode {
            BillingMode(mode: "PROVISIONED", read: readCapacityUnits, write: writeCapacityUnits)
        }
    }

    /// A table's description.
    public struct TableDescription: Sendable, Decodable {
        public var tableName: String
        /// `CREATING`, `ACTIVE`, `UPDATING`, `DELETING`, ...
        public var tableStatus: String
        public var keySchema: [KeySchemaElement]
        public var itemCount: Int?

        public struct KeySchemaElement: Sendable, Decodable, Hashable {
            public var attributeName: String
            public var keyType: String
            enum CodingKeys: String, CodingKey { case attributeName = "AttributeName", keyType = "KeyType" }
        }

        enum CodingKeys: String, CodingKey {
            case tableName = "TableName", tableStatus = "TableStatus", keySchema = "KeySchema", itemCount = "ItemCount"
        }
    }

    // MARK: Tables

    /// Creates a table with a string hash key `hashKey` (and no sort key).
    public func createTable(_ name: String, hashKey: String, billing: BillingMode = .payPerRequest) async throws {
        struct Attribute: Encodable { var AttributeName: String; var AttributeType: String }
        struct Key: Encodable { var AttributeName: String; var KeyType: String }
        struct Throughput: Encodable { var ReadCapacityUnits: Int; var WriteCapacityUnits: Int }
        struct Input: Encodable {
            var TableName: String
            var AttributeDefinitions: [Attribute]
            var KeySchema: [Key]
            var BillingMode: String
            var ProvisionedThroughput: Throughput?
        }
        let throughput = billing.read.map { Throughput(ReadCapacityUnits: $0, WriteCapacityUnits: billing.write ?? $0) }
        _ = try await send("CreateTable", Input(
            TableName: name, AttributeDefinitions: [Attribute(AttributeName: hashKey, AttributeType: "S")],
            KeySchema: [Key(AttributeName: hashKey, KeyType: "HASH")], BillingMode: billing.mode, ProvisionedThroughput: throughput
        ), as: Ignored.self)
    }

    /// The table's description; `nil` when it does not exist.
    public func describeTable(_ name: String) async throws -> TableDescription? {
        struct Input: Encodable { var TableName: String }
        struct Output: Decodable { var Table: TableDescription }
        do {
            return try await send("DescribeTable", Input(TableName: name), as: Output.self).Table
        } catch let error as AWSError where error.code == .resourceNotFound {
            return nil
        }
    }

    /// Waits (bounded) until the table is `ACTIVE`, polling every `interval`.
    public func waitUntilActive(_ name: String, timeout: Duration = .seconds(60), interval: Duration = .milliseconds(250)) async throws -> TableDescription {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while true {
            if let table = try await describeTable(name), table.tableStatus == "ACTIVE" { return table }
            guard clock.now < deadline else {
                throw AWSError(code: .timeout, message: "table \(name) did not become ACTIVE within \(timeout)", service: "dynamodb", operation: "DescribeTable")
            }
            try await clock.sleep(for: interval)
        }
    }

    /// Deletes a table.
    public func deleteTable(_ name: String) async throws {
        struct Input: Encodable { var TableName: String }
        _ = try await send("DeleteTable", Input(TableName: name), as: Ignored.self)
    }

    // MARK: Items

    /// The item with this key, read consistently by default; `nil` when there is none.
    public func getItem(_ table: String, key: Item, consistentRead: Bool = true) async throws -> Item? {
        struct Input: Encodable { var TableName: String; var Key: Item; var ConsistentRead: Bool }
        struct Output: Decodable { var Item: DynamoDBAPI.Item? }
        return try await send("GetItem", Input(TableName: table, Key: key, ConsistentRead: consistentRead), as: Output.self).Item
    }

    /// Writes a whole item, if `condition` holds.
    public func putItem(_ table: String, item: Item, condition: Expression? = nil) async throws {
        struct Input: Encodable {
            var TableName: String
            var Item: DynamoDBAPI.Item
            var ConditionExpression: String?
            var ExpressionAttributeNames: [String: String]?
            var ExpressionAttributeValues: DynamoDBAPI.Item?
        }
        _ = try await send("PutItem", Input(
            TableName: table, Item: item, ConditionExpression: condition?.text,
            ExpressionAttributeNames: condition?.names.nilIfEmpty, ExpressionAttributeValues: condition?.values.nilIfEmpty
        ), as: Ignored.self)
    }

    /// Updates attributes of an item, if `condition` holds; returns the item as it is after the update.
    /// Attributes the update does not name are left as they are.
    @discardableResult
    public func updateItem(_ table: String, key: Item, update: Expression, condition: Expression? = nil) async throws -> Item {
        struct Input: Encodable {
            var TableName: String
            var Key: Item
            var UpdateExpression: String
            var ConditionExpression: String?
            var ExpressionAttributeNames: [String: String]?
            var ExpressionAttributeValues: Item?
            var ReturnValues: String
        }
        struct Output: Decodable { var Attributes: Item? }
        let names = update.names.merging(condition?.names ?? [:]) { first, _ in first }
        let values = update.values.merging(condition?.values ?? [:]) { first, _ in first }
        return try await send("UpdateItem", Input(
            TableName: table, Key: key, UpdateExpression: update.text, ConditionExpression: condition?.text,
            ExpressionAttributeNames: names.nilIfEmpty, ExpressionAttributeValues: values.nilIfEmpty, ReturnValues: "ALL_NEW"
        ), as: Output.self).Attributes ?? [:]
    }

    /// Deletes an item, if `condition` holds.
    public func deleteItem(_ table: String, key: Item, condition: Expression? = nil) async throws {
        struct Input: Encodable {
            var TableName: String
            var Key: Item
            var ConditionExpression: String?
            var ExpressionAttributeNames: [String: String]?
            var ExpressionAttributeValues: Item?
        }
        _ = try await send("DeleteItem", Input(
            TableName: table, Key: key, ConditionExpression: condition?.text,
            ExpressionAttributeNames: condition?.names.nilIfEmpty, ExpressionAttributeValues: condition?.values.nilIfEmpty
        ), as: Ignored.self)
    }

    /// Every item of the table (all pages), read consistently by default.
    /// - Parameter pageSize: Items per `Scan` call (`Limit`); `nil` for DynamoDB's 1 MB pages.
    public func scan(_ table: String, consistentRead: Bool = true, filter: Expression? = nil, pageSize: Int? = nil) async throws -> [Item] {
        struct Input: Encodable {
            var TableName: String
            var Limit: Int?
            var ConsistentRead: Bool
            var ExclusiveStartKey: Item?
            var FilterExpression: String?
            var ExpressionAttributeNames: [String: String]?
            var ExpressionAttributeValues: Item?
        }
        struct Output: Decodable { var Items: [Item]?; var LastEvaluatedKey: Item? }
        var items: [Item] = []
        var start: Item?
        repeat {
            let page = try await send("Scan", Input(
                TableName: table, Limit: pageSize, ConsistentRead: consistentRead, ExclusiveStartKey: start, FilterExpression: filter?.text,
                ExpressionAttributeNames: filter?.names.nilIfEmpty, ExpressionAttributeValues: filter?.values.nilIfEmpty
            ), as: Output.self)
            items += page.Items ?? []
            start = page.LastEvaluatedKey
        } while start != nil
        return items
    }

    /// The items matching `keyCondition` (all pages), optionally on a secondary index.
    public func query(_ table: String, keyCondition: Expression, indexName: String? = nil, consistentRead: Bool = false) async throws -> [Item] {
        struct Input: Encodable {
            var TableName: String
            var IndexName: String?
            var KeyConditionExpression: String
            var ExpressionAttributeNames: [String: String]?
            var ExpressionAttributeValues: Item?
            var ConsistentRead: Bool
            var ExclusiveStartKey: Item?
        }
        struct Output: Decodable { var Items: [Item]?; var LastEvaluatedKey: Item? }
        var items: [Item] = []
        var start: Item?
        repeat {
            let page = try await send("Query", Input(
                TableName: table, IndexName: indexName, KeyConditionExpression: keyCondition.text,
                ExpressionAttributeNames: keyCondition.names.nilIfEmpty, ExpressionAttributeValues: keyCondition.values.nilIfEmpty,
                ConsistentRead: consistentRead, ExclusiveStartKey: start
            ), as: Output.self)
            items += page.Items ?? []
            start = page.LastEvaluatedKey
        } while start != nil
        return items
    }

    // MARK: Helpers

    private struct Ignored: Decodable {}

    private func send<Input: Encodable, Output: Decodable>(_ operation: String, _ input: Input, as: Output.Type) async throws -> Output {
        try await client.send(operation, input: input, as: Output.self)
    }
}

extension Dictionary {
    var nilIfEmpty: Self? { isEmpty ? nil : self }
}
