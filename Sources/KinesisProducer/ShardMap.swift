import KinesisAPI

/// The stream's shards by hash key: open ones to predict where a record goes, all of them to
/// check where one went.
struct ShardMap: Sendable {
    /// Open shards sorted by starting hash key.
    private let open: [(start: UInt128, end: UInt128, shardID: String)]
    private let ranges: [String: HashKeyRange]

    init(shards: [Shard]) {
        open = shards.filter { !$0.isClosed }
            .map { ($0.hashKeyRange.startingHashKey, $0.hashKeyRange.endingHashKey, $0.shardID) }
            .sorted { $0.start < $1.start }
        ranges = Dictionary(shards.map { ($0.shardID, $0.hashKeyRange) }, uniquingKeysWith: { first, _ in first })
    }

    var isEmpty: Bool { open.isEmpty }

    /// The open shard whose range holds `hashKey`, if any.
    func shardID(for hashKey: UInt128) -> String? {
        var low = 0
        var high = open.count
        while low < high {
            let middle = (low + high) / 2
            if open[middle].end < hashKey { low = middle + 1 } else { high = middle }
        }
        guard low < open.count, open[low].start <= hashKey else { return nil }
        return open[low].shardID
    }

    /// The hash key range of any shard of the map, open or closed.
    func range(of shardID: String) -> HashKeyRange? { ranges[shardID] }
}
