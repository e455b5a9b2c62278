import Foundation

/// A GetRecords response body as Kinesis writes it: 56-digit sequence numbers, scientific-notation
/// arrival times, UUID-sized partition keys, base64 data of `size` random bytes.
public func getRecordsBody(records: Int, size: Int) -> [UInt8] {
    var generator = SystemRandomNumberGenerator()
    var text = #"{"MillisBehindLatest":0,"NextShardIterator":"AAAAAAAAAAHsW8zCWf9164uy8Epue6WS3w6wmj4a4USt+CNvMd6uXQ+HL5vAJMznqqC0DLKsIjuoiTi1BpT6nW0LN2M2D56zM5H8anHm30Gbri9ua+qaGgj+3XTyvbhpERfrezgLHbPB/rIcVpykJbaSj5tmcXYRmFnqZBEyHwtZYFmh6hvWVFkIwLuMZLMrpWhG5r5hzkE=","Records":["#
    for index in 0..<records {
        let data = Data((0..<size).map { _ in UInt8.random(in: 0...255, using: &generator) }).base64EncodedString()
        if index > 0 { text += "," }
        text += #"{"SequenceNumber":"4959033827149025660855969253836157109592157598913\#(String(format: "%07d", index))","ApproximateArrivalTimestamp":1.7\#(String(format: "%08d", index))E9,"Data":"\#(data)","PartitionKey":"\#(UUID().uuidString)"}"#
    }
    return Array((text + "]}").utf8)
}

/// What Foundation offers: `JSONDecoder` (whose `Data` strategy is `Data(base64Encoded:)`).
public struct FoundationGetRecords: Decodable {
    public struct Item: Decodable {
        public var SequenceNumber: String
        public var ApproximateArrivalTimestamp: Date
        public var Data: Data
        public var PartitionKey: String
    }
    public var Records: [Item]
    public var NextShardIterator: String?
    public var MillisBehindLatest: Int64?
}

