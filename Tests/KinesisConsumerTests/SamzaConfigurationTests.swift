import AWSCore
import Foundation
import KinesisConsumer
import Testing

/// Java properties syntax, and Samza's Kinesis keys turned into consumer configurations.
@Suite struct SamzaConfigurationTests {
    // MARK: Java properties

    @Test func javaPropertiesSyntax() throws {
        let text = """
            # a comment
            ! another comment
            // Samza's documentation writes comments like this
              equals = value one
            colon:value two
            blank   value three
            continued = first \\
                        second \\
              third
            escapes = tab\\there\\nnew\\u0041\\\\end
            key\\=with\\:separators = yes
            empty =
            trailing = kept  \r
            crlf = a\r
            cr = b\rlast = c
            dup = 1
            dup = 2
            """
        let properties = try JavaProperties(parsing: text)
        #expect(properties["equals"] == "value one")
        #expect(properties["colon"] == "value two")
        #expect(properties["blank"] == "value three")
        #expect(properties["continued"] == "first second third")
        #expect(properties["escapes"] == "tab\there\nnewA\\end")
        #expect(properties["key=with:separators"] == "yes")
        #expect(properties["empty"] == "")
        #expect(properties["trailing"] == "kept  ")
        #expect(properties["crlf"] == "a")
        #expect(properties["cr"] == "b")
        #expect(properties["last"] == "c")
        #expect(properties["dup"] == "2")
        #expect(properties["//"] == nil)
        #expect(properties.entries.count == 12)
        #expect(properties.entries.first { $0.key == "equals" }?.line == 4)
        #expect(properties.entries.first { $0.key == "escapes" }?.line == 10)
        #expect(properties.entries.first { $0.key == "dup" }?.line == 18)
    }

    @Test func surrogatePairsAndAByteOrderMark() throws {
        let properties = try JavaProperties(parsing: "\u{FEFF}first = \\uD83D\\uDE00 and \\u00e9")
        #expect(properties["first"] == "\u{1F600} and \u{E9}")
        #expect(throws: KinesisConsumerError.self) { _ = try JavaProperties(parsing: "lone = \\uD83D") }
    }

    @Test func descriptionsLeaveSecretsOut() throws {
        let properties = try JavaProperties(parsing: "sensitive.systems.k.streams.s.aws.secretKey=very-secret-key-42\nsystems.k.aws.clientConfig.ProxyPassword=proxy-secret\nplain=shown")
        for text in ["\(properties)", String(reflecting: properties), "\(properties.entries)", String(reflecting: properties.entries)] {
            #expect(!text.contains("very-secret-key-42") && !text.contains("proxy-secret"), "\(text)")
        }
        #expect("\(properties)".contains("plain=shown"))
        let system = KinesisSystemDescriptor(systemName: "k").withAWSConfig(["ProxyPassword": "proxy-secret"])
        let input = system.inputDescriptor(streamID: "s").withSecretKey("very-secret-key-42")
        for text in ["\(system)", String(reflecting: system), "\(input)", String(reflecting: input)] {
            #expect(!text.contains("very-secret-key-42") && !text.contains("proxy-secret"), "\(text)")
        }
    }

    @Test func aValueContinuedIntoASecretLineIsNotShown() {
        let text = """
            systems.k.samza.factory=org.apache.samza.system.kinesis.KinesisSystemFactory
            task.inputs=k.s
            job.name=j
            systems.k.streams.s.aws.region=us-east-1\\
            sensitive.systems.k.streams.s.aws.secretKey=very-secret-key-42
            """
        #expect {
            _ = try Self.load(text)
        } throws: { error in
            "\(error)".contains("job.properties:4: systems.k.streams.s.aws.region: <value withheld") && !"\(error)".contains("very-secret-key-42")
        }
    }

    @Test func aCommentLineDoesNotContinue() throws {
        let properties = try JavaProperties(parsing: "# comment \\\nkey = value")
        #expect(properties["key"] == "value")
    }

    @Test func aMalformedUnicodeEscapeNamesTheLine() {
        #expect {
            _ = try JavaProperties(parsing: "a = 1\nb = \\u12G4", source: "job.properties")
        } throws: { error in
            "\(error)".contains("job.properties:2") && "\(error)".contains("\\uXXXX")
        }
    }

    // MARK: Samza's keys

    /// Samza's documentation's example, placeholders replaced.
    static let documentationExample = """
        // Define a Kinesis system factory with your identifier. eg: kinesis-system
        systems.kinesis-system.samza.factory=org.apache.samza.system.kinesis.KinesisSystemFactory

        // Kinesis consumer works with only AllSspToSingleTaskGrouperFactory
        job.systemstreampartition.grouper.factory=org.apache.samza.container.grouper.stream.AllSspToSingleTaskGrouperFactory

        // Define your streams
        task.inputs=kinesis-system.input0

        // Define required properties for your streams
        systems.kinesis-system.streams.input0.aws.region=us-west-2
        systems.kinesis-system.streams.input0.aws.accessKey=AKIDEXAMPLE
        sensitive.systems.kinesis-system.streams.input0.aws.secretKey=very-secret-key-42

        job.name=orders-job
        job.id=7
        """

    static func load(_ text: String, environment: [String: String] = [:]) throws -> SamzaKinesisConfiguration {
        try SamzaKinesisConfiguration(properties: JavaProperties(parsing: text, source: "job.properties"), source: "job.properties", environment: AWSEnvironment(environment))
    }

    @Test func theDocumentationExampleBuildsAConsumerAsSamzaWould() async throws {
        let job = try Self.load(Self.documentationExample)
        #expect(job.jobName == "orders-job")
        #expect(job.jobID == "7")
        #expect(job.inputs.map(\.streamID) == ["input0"])
        let (application, configuration) = try job.consumerConfiguration(for: try #require(job.input("input0")))
        #expect(application == "orders-job-7-input0")
        #expect(configuration.leaseStorage.description == "dynamodb:orders-job-7-input0")
        #expect(configuration.initialPosition == .latest)
        #expect(configuration.aws.region?.rawValue == "us-west-2")
        let credentials = try await #require(configuration.aws.credentialProvider).credentials()
        #expect(credentials.accessKeyID == "AKIDEXAMPLE")
        #expect(credentials.secretAccessKey == "very-secret-key-42")
        let consumer = try job.makeConsumer(stream: "input0")
        #expect(consumer.application == "orders-job-7-input0")
        #expect("\(consumer.stream)" == "input0")
        #expect(!"\(job.inputs)".contains("very-secret-key-42"))
    }

    @Test func tableNameAndInitialPositionResetCheckpointsAndStreamSettingsWinOverTheSystems() throws {
        let job = try Self.load(Self.documentationExample + """

            systems.kinesis-system.aws.kcl.InitialPositionInStream=TRIM_HORIZON
            systems.kinesis-system.aws.kcl.maxRecords=500
            systems.kinesis-system.streams.input0.aws.kcl.TableName=my-app-table-name
            systems.kinesis-system.streams.input0.aws.kcl.InitialPositionInStream=at_timestamp
            systems.kinesis-system.streams.input0.aws.kcl.TimestampAtInitialPositionInStream=2026-11-21T08:00:00Z
            systems.kinesis-system.streams.input0.aws.kcl.failoverTimeMillis=20000
            systems.kinesis-system.streams.input0.aws.kcl.IdleTimeBetweenReadsInMillis=250
            systems.kinesis-system.streams.input0.aws.kcl.maxLeasesForWorker=3
            systems.kinesis-system.streams.input0.aws.kcl.maxLeasesToStealAtOneTime=2
            systems.kinesis-system.streams.input0.aws.kcl.shardSyncIntervalMillis=30000
            systems.kinesis-system.streams.input0.aws.kcl.workerIdentifier=worker-a
            systems.kinesis-system.streams.input0.aws.kcl.ApplicationName=orders-app
            systems.kinesis-system.streams.input0.aws.kcl.callProcessRecordsEvenForEmptyRecordList=true
            """)
        let (application, configuration) = try job.consumerConfiguration(for: job.inputs[0])
        #expect(application == "orders-app")
        #expect(configuration.leaseStorage.description == "dynamodb:my-app-table-name")
        #expect(configuration.initialPosition == .atTimestamp(Date(timeIntervalSince1970: 1_795_248_000)))
        #expect(configuration.polling.maxRecords == 500)
        #expect(configuration.polling.idleTimeBetweenReads == .milliseconds(250))
        #expect(configuration.leases.failoverTime == .seconds(20))
        #expect(configuration.leases.maxLeasesForWorker == 3)
        #expect(configuration.leases.maxLeasesToStealAtOneTime == 2)
        #expect(configuration.leases.shardSyncInterval == .seconds(30))
        #expect(configuration.workerID == "worker-a")
        try configuration.validate()
    }

    @Test func clientSettingsReachTheTransportAndTheRetryPolicy() throws {
        let job = try Self.load(Self.documentationExample + """

            systems.kinesis-system.aws.clientConfig.ProxyHost=127.0.0.1
            systems.kinesis-system.aws.clientConfig.ProxyPort=3128
            systems.kinesis-system.aws.clientConfig.ProxyUsername=proxy-user
            systems.kinesis-system.aws.clientConfig.ProxyPassword=proxy-secret
            systems.kinesis-system.aws.clientConfig.ConnectionTimeout=2500
            systems.kinesis-system.aws.clientConfig.SocketTimeout=30000
            systems.kinesis-system.aws.clientConfig.RequestTimeout=45000
            systems.kinesis-system.aws.clientConfig.MaxConnections=12
            systems.kinesis-system.aws.clientConfig.MaxErrorRetry=5
            systems.kinesis-system.aws.clientConfig.UserAgent=orders-job
            systems.kinesis-system.aws.clientConfig.UseGzip=TRUE
            """)
        let (_, configuration) = try job.consumerConfiguration(for: job.inputs[0])
        let http = configuration.aws.http
        #expect(http.proxy == CurlTransport.Proxy(host: "127.0.0.1", port: 3128, username: "proxy-user", password: "proxy-secret"))
        #expect(http.connectTimeout == .milliseconds(2500))
        #expect(http.idleTimeout == .seconds(30))
        #expect(http.requestTimeout == .seconds(45))
        #expect(http.maxConnections == 12)
        #expect(http.userAgent.hasPrefix("orders-job "))
        #expect(http.acceptCompressedResponses)
        #expect(configuration.aws.retry.maxAttempts == 6)
    }

    @Test func leftOutRegionAndCredentialsFallBackToTheAWSChain() throws {
        let job = try Self.load("""
            systems.k.samza.factory=org.apache.samza.system.kinesis.KinesisSystemFactory
            task.inputs=k.a.dotted.stream,k.b
            job.name=j
            systems.k.aws.region=eu-central-1
            systems.k.streams.b.aws.region=ap-southeast-2
            """, environment: ["AWS_ENDPOINT_URL": "http://127.0.0.1:5000"])
        #expect(job.jobID == "1")
        #expect(job.inputs.map(\.streamID) == ["a.dotted.stream", "b"])
        let a = try job.consumerConfiguration(for: job.inputs[0])
        #expect(a.application == "j-1-a.dotted.stream")
        #expect(a.configuration.aws.region?.rawValue == "eu-central-1")
        #expect(a.configuration.aws.credentialProvider == nil)
        #expect(a.configuration.aws.environment["AWS_ENDPOINT_URL"] == "http://127.0.0.1:5000")
        let b = try job.consumerConfiguration(for: job.inputs[1])
        #expect(b.configuration.aws.region?.rawValue == "ap-southeast-2")
        #expect(try job.makeConsumers().map(\.application) == ["j-1-a.dotted.stream", "j-1-b"])
    }

    @Test func descriptorsBuildWhatTheFileBuilds() throws {
        let input = KinesisSystemDescriptor(systemName: "kinesis-system")
            .withProxyHost("127.0.0.1").withProxyPort(3128)
            .withKCLConfig(["maxRecords": "500"])
            .inputDescriptor(streamID: "input0")
            .withRegion("us-west-2").withAccessKey("AKIDEXAMPLE").withSecretKey("very-secret-key-42")
            .withKCLConfig(["TableName": "my-app-table-name", "InitialPositionInStream": "TRIM_HORIZON"])
        let (application, configuration) = try input.consumerConfiguration(jobName: "orders-job", jobID: "7", environment: AWSEnvironment([:]))
        #expect(application == "orders-job-7-input0")
        #expect(configuration.leaseStorage.description == "dynamodb:my-app-table-name")
        #expect(configuration.initialPosition == .trimHorizon)
        #expect(configuration.polling.maxRecords == 500)
        #expect(configuration.aws.http.proxy?.port == 3128)
        #expect(!"\(input)".contains("very-secret-key-42"))
        #expect(!String(reflecting: input).contains("very-secret-key-42"))
        #expect(throws: KinesisConsumerError.self) {
            _ = try input.withKCLConfig(["maxRecords": "0"]).makeConsumer(jobName: "orders-job")
        }
    }

    /// Each bad file: the error names the file and line, the key, and what is accepted; the
    /// secret never appears.
    @Test(arguments: [
        ("systems.kinesis-system.streams.input0.aws.kcl.maxRecords=lots", "job.properties:17: systems.kinesis-system.streams.input0.aws.kcl.maxRecords: 'lots' is not accepted; accepted: a whole number, 1 to 10000"),
        ("systems.kinesis-system.streams.input0.aws.kcl.InitialPositionInStream=OLDEST", "InitialPositionInStream: 'OLDEST' is not accepted; accepted: TRIM_HORIZON, LATEST, AT_TIMESTAMP"),
        ("systems.kinesis-system.streams.input0.aws.kcl.InitialPositionInStream=AT_TIMESTAMP", "no TimestampAtInitialPositionInStream"),
        ("systems.kinesis-system.streams.input0.aws.kcl.TimestampAtInitialPositionInStream=yesterday", "'yesterday' is not accepted; accepted: an ISO 8601 time"),
        ("systems.kinesis-system.streams.input0.aws.kcl.failoverTimeMillis=-5", "failoverTimeMillis: '-5' is not accepted; accepted: a whole number, 300 or more milliseconds"),
        ("systems.kinesis-system.streams.input0.aws.kcl.TableName=a b", "TableName: 'a b' is not accepted; accepted: a DynamoDB table name"),
        ("systems.kinesis-system.streams.input0.aws.kcl.cleanupLeasesUponShardCompletion=true", "cleanupLeasesUponShardCompletion: not a KCL setting this library knows; accepted: TableName, InitialPositionInStream"),
        ("systems.kinesis-system.aws.clientConfig.ProxyPort=99999", "ProxyPort: '99999' is not accepted; accepted: a whole number, 1 to 65535"),
        ("systems.kinesis-system.aws.clientConfig.ProxyHost=proxy.example", "ProxyPort: missing, but ProxyHost is set"),
        ("systems.kinesis-system.aws.clientConfig.ProxyPassword=", "job.properties"),  // empty: skipped as in Samza, so the file loads
        ("systems.kinesis-system.aws.clientConfig.UseGzip=maybe", "UseGzip: 'maybe' is not accepted; accepted: true or false"),
        ("systems.kinesis-system.aws.clientConfig.Protocol=HTTP", "Protocol: not a client setting this library knows; accepted: ProxyHost, ProxyPort"),
        ("systems.kinesis-system.streams.input0.aws.region=YOUR-STREAM-REGION", "job.properties:17: systems.kinesis-system.streams.input0.aws.region: 'YOUR-STREAM-REGION' is not a region; accepted: an AWS region name such as us-east-1"),
        ("systems.kinesis-system.streams.input1.aws.region=us-east-1", "configures stream 'input1', which is not in task.inputs; accepted: the streams of task.inputs (kinesis-system.input0)"),
        ("systems.kinesis-system.streams.input0.aws.endpoint=http://x", "not a key this library accepts for a stream"),
        ("task.class=samza.examples.MyTask", "job.properties:17: task.class: not a key this library accepts; accepted: job.name, job.id, task.inputs"),
        ("systems.kafka.samza.factory=org.apache.samza.system.kafka.KafkaSystemFactory", "systems.kafka.samza.factory: 'org.apache.samza.system.kafka.KafkaSystemFactory' is not accepted; accepted: org.apache.samza.system.kinesis.KinesisSystemFactory"),
    ] as [(String, String)])
    func aBadLineGivesAnErrorNamingIt(line: String, expected: String) throws {
        let text = Self.documentationExample + "\n" + line
        do {
            let job = try Self.load(text)
            // Only the empty value loads (Samza skips empty settings).
            #expect(line.hasSuffix("="), "loaded: \(job.inputs)")
        } catch let error as KinesisConsumerError {
            #expect(error.code == .invalidConfiguration)
            #expect("\(error)".contains(expected), "\(error)")
            #expect(!"\(error)".contains("very-secret-key-42"))
        }
    }

    @Test(arguments: [
        ("task.inputs=kinesis-system.input0\njob.name=j", "task.inputs: 'kinesis-system.input0' names no Kinesis system"),
        ("systems.k.samza.factory=org.apache.samza.system.kinesis.KinesisSystemFactory\njob.name=j", "task.inputs: missing"),
        ("systems.k.samza.factory=org.apache.samza.system.kinesis.KinesisSystemFactory\ntask.inputs=k.s", "job.name: missing"),
        ("systems.k.samza.factory=org.apache.samza.system.kinesis.KinesisSystemFactory\ntask.inputs=kafka.s\njob.name=j", "'kafka.s' names no Kinesis system"),
        ("systems.k.samza.factory=org.apache.samza.system.kinesis.KinesisSystemFactory\ntask.inputs=k.s\njob.name=j\nsystems.k.streams.s.aws.accessKey=AKID", "sensitive.systems.k.streams.s.aws.secretKey: missing, but systems.k.streams.s.aws.accessKey is set"),
        ("systems.k.samza.factory=org.apache.samza.system.kinesis.KinesisSystemFactory\ntask.inputs=k.s\njob.name=j\nsensitive.systems.k.streams.s.aws.secretKey=very-secret-key-42", "systems.k.streams.s.aws.accessKey: missing, but sensitive.systems.k.streams.s.aws.secretKey is set"),
        ("systems.k.samza.factory=org.apache.samza.system.kinesis.KinesisSystemFactory\ntask.inputs=k.s\njob.name=j\nsensitive.systems.k.streams.s.aws.secretKeyy=very-secret-key-42", "job.properties:4: sensitive.systems.k.streams.s.aws.secretKeyy: not a key this library accepts for a stream"),
    ] as [(String, String)])
    func aMissingOrMisplacedValueGivesAnErrorNamingIt(text: String, expected: String) {
        #expect {
            _ = try Self.load(text)
        } throws: { error in
            "\(error)".contains(expected) && !"\(error)".contains("very-secret-key-42")
        }
    }

    @Test func theREADMEsExampleFileLoads() async throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("docs/samza-kinesis.properties").path
        let job = try await SamzaKinesisConfiguration.load(contentsOf: path, environment: AWSEnvironment([:]))
        let (application, configuration) = try job.consumerConfiguration(for: try #require(job.input("orders")))
        #expect(application == "billing-1-orders")
        #expect(configuration.leaseStorage.description == "dynamodb:billing-orders-checkpoints")
        #expect(configuration.initialPosition == .trimHorizon)
        #expect(configuration.aws.http.connectTimeout == .seconds(5))
        #expect(configuration.aws.retry.maxAttempts == 6)
    }

    @Test func aMissingFileIsNamed() async {
        await #expect {
            _ = try await SamzaKinesisConfiguration.load(contentsOf: "/nonexistent/job.properties")
        } throws: { error in
            "\(error)".contains("/nonexistent/job.properties")
        }
    }
}
