import AWSCore
import DynamoDBAPI
import Foundation
import Testing

/// The DynamoDB client against the moto server, with boto3 reading and writing the same items.
@Suite struct DynamoDBClientTests {
    static let everyType: Item = [
        "id": .string("all-types"),
        "n": .number("-12.5e3"),
        "b": .binary([0, 1, 2, 255]),
        "ss": .stringSet(["a", "b"]),
        "ns": .numberSet(["1", "2.5"]),
        "bs": .binarySet([[1], [2, 3]]),
        "yes": .bool(true),
        "nothing": .null,
        "m": .map(["inner": .string("x"), "deeper": .map(["k": .number(7)])]),
        "l": .list([.string("s"), .number(1), .bool(false), .null]),
    ]

    @Test func everyAttributeTypeRoundTripsWithBoto3() async throws {
        let dynamoDB = try await Moto.dynamoDB()
        let table = "types-\(UUID().uuidString.prefix(8))"
        try await dynamoDB.createTable(table, hashKey: "id", billing: .provisioned(readCapacityUnits: 5, writeCapacityUnits: 5))
        let description = try await dynamoDB.waitUntilActive(table)
        #expect(description.keySchema.map(\.attributeName) == ["id"])

        try await dynamoDB.putItem(table, item: Self.everyType)
        let seen = try await Boto3.run("""
            item = dynamodb.get_item(TableName=table, Key={"id": {"S": "all-types"}})["Item"]
            print(json.dumps({k: (sorted(v) if isinstance(v, list) else v) for k, v in {name: value for name, value in item.items()}.items()}, sort_keys=True, default=lambda b: list(b)))
            """, table: table)
        #expect(seen.contains(#""b": {"B": [0, 1, 2, 255]}"#))
        #expect(seen.contains(#""yes": {"BOOL": true}"#))
        #expect(seen.contains(#""nothing": {"NULL": true}"#))
        #expect(seen.contains(#""deeper": {"M": {"k": {"N": "7"}}}"#))

        _ = try await Boto3.run("""
            dynamodb.put_item(TableName=table, Item={"id": {"S": "from-boto3"}, "n": {"N": "42"}, "b": {"B": b"\\x00\\xff"},
                "ss": {"SS": ["x"]}, "ns": {"NS": ["3"]}, "bs": {"BS": [b"\\x01"]}, "yes": {"BOOL": False}, "nothing": {"NULL": True},
                "m": {"M": {"a": {"L": [{"S": "b"}]}}}, "l": {"L": []}})
            """, table: table)
        let item = try #require(try await dynamoDB.getItem(table, key: ["id": .string("from-boto3")]))
        #expect(item["n"] == .number("42"))
        #expect(item["b"] == .binary([0, 255]))
        #expect(item["ss"] == .stringSet(["x"]))
        #expect(item["ns"] == .numberSet(["3"]))
        #expect(item["bs"] == .binarySet([[1]]))
        #expect(item["yes"] == .bool(false))
        #expect(item["nothing"] == .null)
        #expect(item["m"] == .map(["a": .list([.string("b")])]))
        #expect(item["l"] == .list([]))
        #expect(try await dynamoDB.getItem(table, key: Self.everyType.filter { $0.key == "id" }).map { $0 == Self.everyType } == true)
    }

    @Test func conditionsUpdatesScanPagesQueryAndDelete() async throws {
        let dynamoDB = try await Moto.dynamoDB()
        let table = "ops-\(UUID().uuidString.prefix(8))"
        try await dynamoDB.createTable(table, hashKey: "id")
        _ = try await dynamoDB.waitUntilActive(table)
        for index in 0..<25 {
            try await dynamoDB.putItem(table, item: ["id": .string("item-\(index)"), "count": .number(index)], condition: .init("attribute_not_exists(id)"))
        }
        let duplicate = await #expect(throws: AWSError.self) {
            try await dynamoDB.putItem(table, item: ["id": .string("item-0")], condition: .init("attribute_not_exists(id)"))
        }
        #expect(duplicate?.code == .conditionalCheckFailed)

        let updated = try await dynamoDB.updateItem(
            table, key: ["id": .string("item-3")],
            update: .init("SET #c = #c + :one, note = :note", names: ["#c": "count"], values: [":one": .number(1), ":note": .string("bumped")]),
            condition: .init("#c = :three", names: ["#c": "count"], values: [":three": .number(3)])
        )
        #expect(updated["count"] == .number("4"))
        #expect(updated["note"] == .string("bumped"))
        let stale = await #expect(throws: AWSError.self) {
            try await dynamoDB.updateItem(table, key: ["id": .string("item-3")], update: .init("SET note = :x", values: [":x": .string("y")]), condition: .init("#c = :three", names: ["#c": "count"], values: [":three": .number(3)]))
        }
        #expect(stale?.code == .conditionalCheckFailed)

        // Pages of 4: seven Scan calls, every item once.
        let all = try await dynamoDB.scan(table, pageSize: 4)
        #expect(all.count == 25)
        #expect(Set(all.compactMap { $0["id"]?.stringValue }).count == 25)
        #expect(try await Boto3.run("print(dynamodb.scan(TableName=table)['Count'])", table: table) == "25")

        let one = try await dynamoDB.query(table, keyCondition: .init("id = :id", values: [":id": .string("item-7")]))
        #expect(one.map { $0["count"] } == [.number("7")])

        try await dynamoDB.deleteItem(table, key: ["id": .string("item-7")], condition: .init("attribute_exists(id)"))
        #expect(try await dynamoDB.getItem(table, key: ["id": .string("item-7")]) == nil)
        try await dynamoDB.deleteTable(table)
        #expect(try await dynamoDB.describeTable(table) == nil)
    }
}
