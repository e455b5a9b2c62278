// swift-tools-version:6.0
import PackageDescription

let strictSwift: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "swift-kinesis-client",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "AWSCore", targets: ["AWSCore"]),
        .library(name: "KinesisAPI", targets: ["KinesisAPI"]),
        .library(name: "DynamoDBAPI", targets: ["DynamoDBAPI"]),
        .library(name: "KinesisLeases", targets: ["KinesisLeases"]),
        .library(name: "KinesisTestKit", targets: ["KinesisTestKit"]),
        .library(name: "KinesisConsumer", targets: ["KinesisConsumer"]),
        .library(name: "KinesisProducer", targets: ["KinesisProducer"]),
        .executable(name: "kinesis", targets: ["kinesis"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.6.0"),
    ],
    targets: [
        // libcurl as a system library; only CCurlShims and AWSCore's transport see it.
        .systemLibrary(
            name: "CCurl",
            pkgConfig: "libcurl",
            providers: [.apt(["libcurl4-openssl-dev"])]
        ),
        // Typed, non-variadic wrappers for curl_easy_setopt / getinfo / multi_setopt.
        .target(
            name: "CCurlShims",
            dependencies: ["CCurl"]
        ),
        // libcrypto (OpenSSL 3) as a system library: HMAC, SHA-256, MD5.
        .systemLibrary(
            name: "COpenSSL",
            pkgConfig: "libcrypto",
            providers: [.apt(["libssl-dev"])]
        ),
        .target(
            name: "AWSCore",
            dependencies: [
                "CCurlShims",
                "COpenSSL",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSwift
        ),
        .target(
            name: "KinesisAPI",
            dependencies: [
                "AWSCore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: strictSwift
        ),
        .target(
            name: "DynamoDBAPI",
            dependencies: [
                "AWSCore",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSwift
        ),
        // libsqlite3 as a system library, for the embedded lease store.
        .systemLibrary(
            name: "CSQLite",
            pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev"])]
        ),
        .target(
            name: "KinesisLeases",
            dependencies: [
                "AWSCore",
                "KinesisAPI",
                "DynamoDBAPI",
                "CSQLite",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSwift
        ),
        // An in-process Kinesis behind the transport seam, for our tests and our users'.
        .target(
            name: "KinesisTestKit",
            dependencies: ["AWSCore", "KinesisAPI"],
            swiftSettings: strictSwift
        ),
        // The consumer runtime: actors, state machines, shard sync, the envelope sequences.
        .target(
            name: "KinesisConsumer",
            dependencies: [
                "AWSCore",
                "KinesisAPI",
                "DynamoDBAPI",
                "KinesisLeases",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSwift
        ),
        // The producer: batching PutRecords, KPL aggregation, retries, backpressure.
        .target(
            name: "KinesisProducer",
            dependencies: [
                "AWSCore",
                "KinesisAPI",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "DequeModule", package: "swift-collections"),
            ],
            swiftSettings: strictSwift
        ),
        .executableTarget(
            name: "kinesis",
            dependencies: [
                "AWSCore",
                "KinesisAPI",
                "KinesisLeases",
                "KinesisConsumer",
                "KinesisProducer",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSwift
        ),
        .testTarget(
            name: "AWSCoreTests",
            dependencies: ["AWSCore"],
            swiftSettings: strictSwift
        ),
        .testTarget(
            name: "KinesisAPITests",
            dependencies: ["KinesisAPI"],
            swiftSettings: strictSwift
        ),
        .testTarget(
            name: "KinesisConsumerTests",
            dependencies: ["KinesisConsumer", "KinesisAPI", "KinesisLeases", "KinesisTestKit", "AWSCore"],
            swiftSettings: strictSwift
        ),
        .testTarget(
            name: "KinesisProducerTests",
            dependencies: ["KinesisProducer", "KinesisAPI", "KinesisTestKit", "AWSCore"],
            swiftSettings: strictSwift
        ),
        .testTarget(
            name: "KinesisTestKitTests",
            dependencies: ["KinesisTestKit", "KinesisAPI", "AWSCore"],
            swiftSettings: strictSwift
        ),
        // A second process for the SQLite store's two-process test.
        .executableTarget(
            name: "LeaseContender",
            dependencies: ["KinesisLeases"],
            path: "Tests/LeaseContender",
            swiftSettings: strictSwift
        ),
        // The lease stores' conformance suite: in memory, SQLite on disk, and DynamoDB through the
        // moto server (`scripts/test` starts it), with boto3 for KCL's table layout.
        .testTarget(
            name: "KinesisLeasesIntegrationTests",
            dependencies: ["KinesisLeases", "LeaseContender", "IntegrationSupport"],
            swiftSettings: strictSwift
        ),
        // Needs the local servers that `scripts/test` starts: the moto server and the HTTP fixture.
        .testTarget(
            name: "AWSCoreIntegrationTests",
            dependencies: ["AWSCore", "IntegrationSupport"],
            swiftSettings: strictSwift
        ),
        // The integration tests' peers: boto3 and aws-kinesis-agg (scripts/testing/kinesis_peer.py),
        // the moto server's address, the fault-injection proxy, and the records both readers report.
        .target(
            name: "IntegrationSupport",
            dependencies: ["AWSCore", "KinesisAPI", "KinesisConsumer"],
            path: "Tests/IntegrationSupport",
            swiftSettings: strictSwift
        ),
        // Needs the moto server (`scripts/test` starts it), Python's boto3 and aws-kinesis-agg.
        .testTarget(
            name: "KinesisAPIIntegrationTests",
            dependencies: ["KinesisAPI", "KinesisTestKit", "IntegrationSupport"],
            swiftSettings: strictSwift
        ),
        // The consumer against the moto server (Kinesis and DynamoDB), with boto3 as the writer.
        .testTarget(
            name: "KinesisConsumerIntegrationTests",
            dependencies: ["KinesisConsumer", "KinesisAPI", "KinesisLeases", "DynamoDBAPI", "AWSCore", "IntegrationSupport"],
            swiftSettings: strictSwift
        ),
        // The producer against the moto server (directly and through the fault-injection proxy),
        // read back by boto3, aws-kinesis-agg and our consumer.
        .testTarget(
            name: "KinesisProducerIntegrationTests",
            dependencies: ["KinesisProducer", "KinesisConsumer", "KinesisLeases", "KinesisAPI", "AWSCore", "IntegrationSupport"],
            swiftSettings: strictSwift
        ),
        // The `kinesis` binary run as a user runs it, against the moto server, with boto3 as the
        // reference reader.
        .testTarget(
            name: "KinesisCLIIntegrationTests",
            dependencies: ["kinesis", "IntegrationSupport"],
            swiftSettings: strictSwift
        ),
    ],
    swiftLanguageModes: [.v6]
)
