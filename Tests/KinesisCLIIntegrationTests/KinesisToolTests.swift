import Foundation
import IntegrationSupport
import Testing

/// The built `kinesis` binary against the moto server: `put`, `consume`, `leases`, errors.
///
/// Serialized, and each child process waited for on a dispatch thread, so that these tests do not
/// take the cooperative pool's threads (two on this machine) from the in-process consumer suites
/// that run beside them.
@Suite(.serialized) struct KinesisToolTests {
    static let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("kinesis").path

    struct Outcome {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Runs the tool (bounded: 90 s) on a dispatch thread, off the cooperative pool.
    static func kinesis(_ arguments: [String], stdin: String? = nil, directory: String? = nil, environment extra: [String: String] = [:]) async throws -> Outcome {
        try #require(FileManager.default.isExecutableFile(atPath: binary), "kinesis not built at \(binary)")
        return try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(with: Swift.Result { try runBlocking(arguments, stdin: stdin, directory: directory, environment: extra) })
            }
        }
    }

    private static func runBlocking(_ arguments: [String], stdin: String?, directory: String?, environment extra: [String: String]) throws -> Outcome {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        var environment = ProcessInfo.processInfo.environment
        for name in ["http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "AWS_PROFILE", "AWS_ENDPOINT_URL"] { environment[name] = nil }
        environment["AWS_ACCESS_KEY_ID"] = "AKIDTEST"
        environment["AWS_SECRET_ACCESS_KEY"] = "test-secret"
        environment["AWS_REGION"] = "us-east-1"
        environment["AWS_CONFIG_FILE"] = "/nonexistent/config"
        environment["AWS_SHARED_CREDENTIALS_FILE"] = "/nonexistent/credentials"
        environment["AWS_EC2_METADATA_DISABLED"] = "true"
        for (name, value) in extra { environment[name] = value }
        process.environment = environment
        let input = Pipe(), output = Pipe(), error = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = error
        try process.run()
        if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
        try input.fileHandleForWriting.close()
        // Read both pipes while the process runs, so neither fills up.
        nonisolated(unsafe) var out = Data(), err = Data()
        let group = DispatchGroup()
        DispatchQueue.global().async(group: group) { out = output.fileHandleForReading.readDataToEndOfFile() }
        DispatchQueue.global().async(group: group) { err = error.fileHandleForReading.readDataToEndOfFile() }
        if group.wait(timeout: .now() + 90) == .timedOut {
            process.terminate()
            throw SupportError("kinesis \(arguments.joined(separator: " ")) did not finish within 90 s")
        }
        process.waitUntilExit()
        return Outcome(status: process.terminationStatus, stdout: String(decoding: out, as: UTF8.self), stderr: String(decoding: err, as: UTF8.self))
    }

    static func temporaryDirectory() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("kinesis-cli-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    struct Line: Decodable, Hashable {
        var shardId: String
        var sequenceNumber: String
        var subSequenceNumber: UInt64
        var partitionKey: String
        var explicitHashKey: String?
        var approximateArrivalTimestamp: String
        var data: String
    }

    static let jsonKeys: Set<String> = ["shardId", "sequenceNumber", "subSequenceNumber", "partitionKey", "explicitHashKey", "approximateArrivalTimestamp", "data"]

    static func lines(_ stdout: String) throws -> [Line] {
        try stdout.split(separator: "\n").map { line in
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            #expect(Set(object.keys) == jsonKeys, "\(line)")
            return try JSONDecoder().decode(Line.self, from: Data(line.utf8))
        }
    }

    @Test func putThenConsumeReturnsEveryRecordThenNothingNewAndLeasesShowTheCheckpoints() async throws {
        let endpoint = try Moto.endpoint()
        let stream = Moto.uniqueStream("cli")
        let directory = try Self.temporaryDirectory()
        let common = ["--stream", stream, "--endpoint-url", endpoint]

        let created = try await Self.kinesis(["streams", "create", "--shard-count", "3"] + common)
        #expect(created.status == 0, "\(created.stderr)")
        // Plain generated records, aggregated ones, and lines from standard input.
        let generated = try await Self.kinesis(["put", "--generate", "150", "--size", "40", "--max-in-flight", "1"] + common)
        #expect(generated.status == 0, "\(generated.stderr)")
        #expect(generated.stdout.contains("kinesis put: 150 records"))
        let aggregated = try await Self.kinesis(["put", "--generate", "60", "--size", "30", "--aggregate", "--max-in-flight", "1"] + common)
        #expect(aggregated.status == 0, "\(aggregated.stderr)")
        let typed = try await Self.kinesis(["put", "--partition-key", "typed"] + common, stdin: "first line\nsecond \"quoted\" line\n\nfourth\n")
        #expect(typed.status == 0, "\(typed.stderr)")
        #expect(typed.stdout.contains("kinesis put: 4 records"))

        // boto3 and aws-kinesis-agg's reading is the reference.
        let raw = try await Peer.run(["read", "--endpoint", endpoint, "--stream", stream], input: [String](), as: [Peer.RawRecordJSON].self)
        let reference = raw.flatMap { record in
            record.users.map { user in
                Line(
                    shardId: record.shardId, sequenceNumber: record.seq, subSequenceNumber: user.sub ?? 0, partitionKey: user.pk,
                    explicitHashKey: user.aggregated == true ? user.ehk : nil, approximateArrivalTimestamp: "", data: user.data
                )
            }
        }
        #expect(reference.count == 214)
        #expect(raw.count < 214)  // some records were aggregates

        let consume = ["consume", "--app", "cli-app", "--from", "trim-horizon", "--lease-store", "sqlite:\(directory)/leases.sqlite", "--output", "jsonl", "--until-idle", "2"] + common
        let first = try await Self.kinesis(consume, directory: directory)
        #expect(first.status == 0, "\(first.stderr)")
        let lines = try Self.lines(first.stdout)
        var withoutTime = lines
        for index in withoutTime.indices { withoutTime[index].approximateArrivalTimestamp = "" }
        #expect(withoutTime.count == reference.count)
        #expect(Set(withoutTime) == Set(reference))
        for shard in Set(reference.map(\.shardId)) {
            #expect(withoutTime.filter { $0.shardId == shard } == reference.filter { $0.shardId == shard })
        }
        // Arrival times are ISO 8601 and match boto3's to the millisecond.
        let arrivals = Dictionary(uniqueKeysWithValues: raw.map { ("\($0.shardId)/\($0.seq)", $0.arrival) })
        for line in lines {
            let date = try Date(line.approximateArrivalTimestamp, strategy: .iso8601.year().month().day().time(includingFractionalSeconds: true))
            #expect(abs(date.timeIntervalSince1970 - (arrivals["\(line.shardId)/\(line.sequenceNumber)"] ?? 0)) < 0.002, "\(line)")
        }
        #expect(first.stderr.contains("214 records written"), "\(first.stderr)")

        // The same application again: nothing new.
        let second = try await Self.kinesis(consume, directory: directory)
        #expect(second.status == 0, "\(second.stderr)")
        #expect(second.stdout.isEmpty, "\(second.stdout.prefix(300))")

        // `leases` shows each shard's checkpoint: its last record, released.
        let leases = try await Self.kinesis(["leases", "--app", "cli-app", "--lease-store", "sqlite:\(directory)/leases.sqlite"] + common)
        #expect(leases.status == 0, "\(leases.stderr)")
        let rows = leases.stdout.split(separator: "\n").dropFirst().map { $0.split(separator: " ", omittingEmptySubsequences: true).map(String.init) }
        #expect(rows.count == 3)
        for row in rows {
            let last = try #require(lines.last { $0.shardId == row[0] })
            #expect(row[1] == "-")
            #expect(row[2] == "\(last.sequenceNumber)/\(last.subSequenceNumber)")
        }

        // The default store is a SQLite file named after the application in the current directory.
        let defaultStore = try await Self.kinesis(["consume", "--from", "trim-horizon", "--max-records", "5"] + common, directory: directory)
        #expect(defaultStore.status == 0, "\(defaultStore.stderr)")
        #expect(defaultStore.stdout.split(separator: "\n").count == 5)
        #expect(FileManager.default.fileExists(atPath: "\(directory)/kinesis-cli-\(stream).leases.sqlite"))
    }

    @Test func aSamzaFileRoutesConsumeAndLeasesToItsDynamoDBTable() async throws {
        let endpoint = try Moto.endpoint()
        let stream = Moto.uniqueStream("cli-samza")
        let directory = try Self.temporaryDirectory()
        #expect(try await Self.kinesis(["streams", "create", "--stream", stream, "--shard-count", "2", "--endpoint-url", endpoint]).status == 0)
        #expect(try await Self.kinesis(["put", "--stream", stream, "--generate", "30", "--endpoint-url", endpoint]).status == 0)
        let file = "\(directory)/job.properties"
        try Data("""
            systems.kinesis-system.samza.factory=org.apache.samza.system.kinesis.KinesisSystemFactory
            task.inputs=kinesis-system.\(stream)
            job.name=cli-job
            systems.kinesis-system.streams.\(stream).aws.region=us-east-1
            systems.kinesis-system.streams.\(stream).aws.kcl.TableName=cli-table-\(stream)
            systems.kinesis-system.streams.\(stream).aws.kcl.InitialPositionInStream=TRIM_HORIZON
            """.utf8).write(to: URL(fileURLWithPath: file))
        // The endpoint comes from AWS_ENDPOINT_URL, as it would for a Samza job's environment.
        let environment = ["AWS_ENDPOINT_URL": endpoint]
        let consumed = try await Self.kinesis(["consume", "--stream", stream, "--config", file, "--until-idle", "2"], directory: directory, environment: environment)
        #expect(consumed.status == 0, "\(consumed.stderr)")
        #expect(consumed.stdout.split(separator: "\n").count == 30)
        let leases = try await Self.kinesis(["leases", "--stream", stream, "--config", file], environment: environment)
        #expect(leases.status == 0, "\(leases.stderr)")
        #expect(leases.stdout.split(separator: "\n").count == 3)
        #expect(!leases.stdout.contains("TRIM_HORIZON"), "\(leases.stdout)")
    }

    @Test(arguments: [
        (["consume", "--stream", "s", "--from", "yesterday"], "--from is 'yesterday'; accepted: trim-horizon, latest, at-timestamp:<ISO 8601 time>"),
        (["consume", "--stream", "s", "--lease-store", "postgres:x"], "--lease-store is 'postgres:x'; accepted: sqlite:<path>, dynamodb, or dynamodb:<table>"),
        (["consume", "--stream", "s", "--config", "/nonexistent/job.properties"], "kinesis: InvalidConfiguration: cannot read the properties file /nonexistent/job.properties"),
        (["leases", "--stream", "s", "--lease-store", "sqlite:/nonexistent/leases.sqlite"], "kinesis: no lease store at /nonexistent/leases.sqlite"),
        (["shards", "--stream", "no-such-stream"], "kinesis: "),
        (["put", "--stream", "s", "--generate", "1", "--size", "0"], "--size is 0; accepted: 1 to"),
    ] as [([String], String)])
    func badInputIsOneClearLineAndANonZeroStatus(arguments: [String], expected: String) async throws {
        let result = try await Self.kinesis(arguments + ["--endpoint-url", try Moto.endpoint()])
        #expect(result.status != 0)
        #expect(result.stderr.contains(expected), "\(result.stderr)")
        #expect(result.stdout.isEmpty)
        if expected.hasPrefix("kinesis: ") {
            #expect(result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")
        }
    }

    @Test func aSamzaFileWithASecretNeverShowsItInErrors() async throws {
        let directory = try Self.temporaryDirectory()
        let file = "\(directory)/bad.properties"
        try Data("""
            systems.k.samza.factory=org.apache.samza.system.kinesis.KinesisSystemFactory
            task.inputs=k.s
            job.name=j
            systems.k.streams.s.aws.accessKey=AKIDTEST
            sensitive.systems.k.streams.s.aws.secretKey=do-not-print-me
            systems.k.aws.clientConfig.ProxyHost=127.0.0.1
            systems.k.aws.clientConfig.ProxyPort=3128
            systems.k.aws.clientConfig.ProxyPassword=nor-me
            systems.k.streams.s.aws.kcl.maxRecords=many
            """.utf8).write(to: URL(fileURLWithPath: file))
        let result = try await Self.kinesis(["consume", "--stream", "s", "--config", file])
        #expect(result.status == 1)
        #expect(result.stderr.contains("\(file):9: systems.k.streams.s.aws.kcl.maxRecords: 'many' is not accepted"), "\(result.stderr)")
        #expect(!result.stderr.contains("do-not-print-me"))
        #expect(!result.stderr.contains("nor-me"))
    }
}
