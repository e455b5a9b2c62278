#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
public import AWSCore
public import KinesisAPI
import Synchronization

/// An in-process Kinesis Data Streams that follows the AWS API reference where the moto server does
/// not: 56-digit sequence numbers unique in a stream, iterators that expire after five minutes,
/// the end of a closed shard (no `NextShardIterator`, the `ChildShards`), resharding that closes
/// parents and routes new writes to children, `ListShards` filters and paging, the per-shard limits,
/// and fault hooks.
///
/// It answers HTTP requests at the transport seam (it is an ``HTTPTransport``), so a
/// `KinesisClient` over it runs its real encoding, signing and decoding:
///
/// ```swift
/// let clock = ManualClock()
/// let kinesis = SimulatedKinesis(clock: clock)
/// let client = kinesis.client()          // a KinesisClient talking to it
/// try await client.createStream("orders", shardCount: 2)
/// clock.advance(by: .seconds(301))       // iterators issued before now are expired
/// ```
///
/// - Important: Safe to use from many tasks; every call takes the simulator's lock briefly.
public final class SimulatedKinesis: HTTPTransport {
    /// The endpoint clients address (never contacted: requests stop at this transport).
    public static let endpoint = Endpoint(scheme: "https", host: "kinesis.simulated.invalid")
    public static let region: Region = .usEast1
    public static let accountID = "123456789012"

    let clock: @Sendable () -> Date
    let state: Mutex<State>

    /// A simulator whose time is `clock`'s.
    public init(clock: ManualClock) {
        self.clock = { clock.now }
        self.state = Mutex(State())
    }

    /// A simulator on the wall clock (iterators then really expire after five minutes).
    public init() {
        self.clock = { Date() }
        self.state = Mutex(State())
    }

    /// A `KinesisClient` whose requests this simulator answers (no retries by default, so that
    /// tests see each injected fault).
    public func client(retry: RetryPolicy = .none) -> KinesisClient {
        KinesisClient(client: AWSJSONClient(
            service: .kinesis, region: Self.region, endpoint: Self.endpoint,
            credentialProvider: StaticCredentialProvider.static(accessKeyID: "AKIDSIMULATED", secretAccessKey: "simulated"),
            transport: self, retryPolicy: retry, sleep: { _ in }
        ))
    }

    // MARK: Test controls

    /// Faults to inject from now on.
    public var faults: Faults {
        get { state.withLock { $0.faults } }
        set { state.withLock { $0.faults = newValue } }
    }

    /// Whether the per-shard limits are enforced: 5 `GetRecords` calls and 2 MiB read per second;
    /// 1,000 records or 1 MiB written per second. Off by default.
    public var limitsEnabled: Bool {
        get { state.withLock { $0.limitsEnabled } }
        set { state.withLock { $0.limitsEnabled = newValue } }
    }

    /// How many calls of `operation` were answered (faults included).
    public func callCount(_ operation: String) -> Int {
        state.withLock { $0.calls[operation, default: 0] }
    }

    /// Retention trimming: drops every record of `stream` older than `age` (as the service does after
    /// the retention period). Iterators that pointed at dropped records then read from the oldest
    /// record left.
    public func trimRecords(of stream: String, olderThan age: Duration) {
        let cutoff = clock().addingTimeInterval(-(Double(age.components.seconds) + Double(age.components.attoseconds) / 1e18))
        state.withLock { state in
            guard var value = state.streams[stream] else { return }
            for index in value.shards.indices {
                let keep = value.shards[index].records.firstIndex { $0.arrival >= cutoff } ?? value.shards[index].records.count
                value.shards[index].records.removeFirst(keep)
                value.shards[index].trimmed += keep
            }
            state.streams[stream] = value
        }
    }

    // MARK: The transport

    public func execute(_ request: HTTPRequest, timeout: Duration?) async throws -> HTTPResponse {
        let latency = state.withLock { $0.faults.latency }
        if latency > .zero { try await Task.sleep(for: latency) }
        guard let target = request.headers["x-amz-target"], target.hasPrefix("Kinesis_20131202.") else {
            return Self.error(400, "UnknownOperationException", "no X-Amz-Target for Kinesis_20131202")
        }
        guard request.headers["authorization"]?.hasPrefix("AWS4-HMAC-SHA256 Credential=") == true else {
            return Self.error(403, "MissingAuthenticationTokenException", "the request is not signed")
        }
        let operation = String(target.dropFirst("Kinesis_20131202.".count))
        // The entry hook is the test's code: run it outside the lock (it may call back in).
        var failingEntries: Set<Int> = []
        if operation == "PutRecords", let hook = state.withLock({ $0.faults.failPutRecordsEntry }),
            let input = try? JSONDecoder().decode(PutRecordsInput.self, from: Data(request.body)) {
            failingEntries = Set(input.Records.indices.filter { hook($0, input.Records[$0].PartitionKey) })
        }
        let clock = self.clock
        return state.withLock { state in
            let now = clock()  // read under the lock, so that arrival times are in order in a shard
            state.calls[operation, default: 0] += 1
            if let share = state.faults.internalFailures[operation], state.faultRandom.nextUnit() < share {
                return Self.error(500, "InternalFailure", "injected internal failure")
            }
            if let share = state.faults.throttle[operation], state.faultRandom.nextUnit() < share {
                return Self.error(400, "ProvisionedThroughputExceededException", "Rate exceeded (injected)")
            }
            do {
                return try Self.handle(operation, body: request.body, state: &state, now: now, failingEntries: failingEntries)
            } catch let failure as ServiceError {
                return Self.error(failure.status, failure.code, failure.message)
            } catch {
                return Self.error(400, "SerializationException", "\(error)")
            }
        }
    }

    struct ServiceError: Error {
        var status = 400
        var code: String
        var message: String
        static func invalid(_ message: String) -> ServiceError { ServiceError(code: "InvalidArgumentException", message: message) }
        static func notFound(_ message: String) -> ServiceError { ServiceError(code: "ResourceNotFoundException", message: message) }
        static func inUse(_ message: String) -> ServiceError { ServiceError(code: "ResourceInUseException", message: message) }
        static func throughput(_ message: String) -> ServiceError { ServiceError(code: "ProvisionedThroughputExceededException", message: message) }
    }

    static func error(_ status: Int, _ code: String, _ message: String) -> HTTPResponse {
        let body = try? JSONEncoder().encode(["__type": code, "message": message])
        return HTTPResponse(status: status, headers: ["Content-Type": "application/x-amz-json-1.1", "x-amzn-RequestId": "simulated"], body: Array(body ?? Data()))
    }

    static func ok(_ value: some Encodable) throws -> HTTPResponse {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .secondsSince1970
        return HTTPResponse(status: 200, headers: ["Content-Type": "application/x-amz-json-1.1", "x-amzn-RequestId": "simulated"], body: Array(try encoder.encode(value)))
    }
}
