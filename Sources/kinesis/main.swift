import AWSCore
import ArgumentParser
import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

@main
struct KinesisCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kinesis",
        abstract: "Work with Amazon Kinesis Data Streams from the command line.",
        subcommands: [Streams.self]
    )
}

/// Options every subcommand takes, as in the AWS CLI.
struct GlobalOptions: ParsableArguments {
    @Option(help: "The AWS region (default: AWS_REGION, AWS_DEFAULT_REGION or the profile's region).")
    var region: String?

    @Option(help: "The profile in the shared AWS config and credentials files (default: AWS_PROFILE or 'default').")
    var profile: String?

    @Option(name: .customLong("endpoint-url"), help: "Send requests to this URL instead of the region's endpoint, e.g. http://127.0.0.1:5000.")
    var endpointURL: String?

    @Flag(help: "Log what the tool does to standard error.")
    var verbose = false

    func bootstrapLogging() {
        let level: Logger.Level = verbose ? .debug : .warning
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
    }

    func configuration() -> AWSConfiguration {
        AWSConfiguration(region: region.map(Region.init(rawValue:)), endpoint: endpointURL, profile: profile)
    }

    /// Runs `body`, turning an AWS error into one line on standard error and exit status 1.
    func run(_ body: () async throws -> Void) async throws {
        bootstrapLogging()
        do {
            try await body()
        } catch let error as AWSError {
            printError("kinesis: \(error)")
            throw ExitCode.failure
        }
    }
}

func printError(_ line: String) {
    var standardError = StandardError()
    print(line, to: &standardError)
}

struct StandardError: TextOutputStream {
    mutating func write(_ string: String) {
        _ = string.withCString { Glibc.write(2, $0, strlen($0)) }
    }
}

struct Streams: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the streams of an account and region.",
        subcommands: [List.self]
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the name of every stream, one a line.")

        @OptionGroup var global: GlobalOptions

        struct Page: Decodable {
            var StreamNames: [String]
            var HasMoreStreams: Bool?
            var NextToken: String?
        }

        struct Request: Encodable {
            var Limit: Int?
            var NextToken: String?
        }

        func run() async throws {
            try await global.run {
                let client = try await AWSJSONClient(service: .kinesis, configuration: global.configuration())
                var token: String?
                repeat {
                    let page = try await client.send("ListStreams", input: Request(Limit: 100, NextToken: token), as: Page.self)
                    for name in page.StreamNames { print(name) }
                    token = page.HasMoreStreams == true ? page.NextToken : nil
                } while token != nil
            }
        }
    }
}
