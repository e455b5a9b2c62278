// swift-tools-version:6.1
import Foundation
import PackageDescription

// A path dependency's identity is its folder's name, which depends on where the repository was
// cloned: read it from this file's location.
let mainPackage = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().lastPathComponent

// Benchmarks live in a package of their own so that the main package's build and tests never pay
// for ordo-one/benchmark. Run them with `scripts/bench` (or `swift package benchmark` in this folder).
let package = Package(
    name: "swift-kinesis-client-benchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark.git", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "AWSCoreBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "AWSCore", package: mainPackage),
            ],
            path: "Benchmarks/AWSCoreBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        // What the decoding benchmarks share: GetRecords bodies as Kinesis writes them, and
        // Foundation's way of decoding them.
        .target(name: "BenchmarkSupport", path: "Sources/BenchmarkSupport"),
        .executableTarget(
            name: "KinesisAPIBenchmarks",
            dependencies: [
                "BenchmarkSupport",
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "KinesisAPI", package: mainPackage),
            ],
            path: "Benchmarks/KinesisAPIBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "LeaseStoreBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "KinesisLeases", package: mainPackage),
                .product(name: "DynamoDBAPI", package: mainPackage),
                .product(name: "AWSCore", package: mainPackage),
            ],
            path: "Benchmarks/LeaseStoreBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "ConsumerBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "KinesisConsumer", package: mainPackage),
                .product(name: "KinesisAPI", package: mainPackage),
                .product(name: "KinesisLeases", package: mainPackage),
            ],
            path: "Benchmarks/ConsumerBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "ProducerBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "KinesisProducer", package: mainPackage),
                .product(name: "KinesisAPI", package: mainPackage),
                .product(name: "AWSCore", package: mainPackage),
            ],
            path: "Benchmarks/ProducerBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        // A plain program for counting instructions under valgrind (`scripts/count-instructions`).
        .executableTarget(
            name: "DecodeInstructions",
            dependencies: ["BenchmarkSupport", .product(name: "KinesisAPI", package: mainPackage)],
            path: "Sources/DecodeInstructions"
        ),
    ],
    swiftLanguageModes: [.v6]
)
