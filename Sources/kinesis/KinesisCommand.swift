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
        discussion: """
            Region, credentials and endpoint are resolved as the AWS CLI does (AWS_REGION, AWS_PROFILE, \
            the shared config files, AWS_ENDPOINT_URL); --region, --profile and --endpoint-url override them.
            """,
        subcommands: [Consume.self, Put.self, Streams.self, Shards.self, Leases.self]
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
        var configuration = AWSConfiguration()
        apply(to: &configuration)
        return configuration
    }

    /// Puts the options given on the command line over `configuration`.
    func apply(to configuration: inout AWSConfiguration) {
        if let region { configuration.region = Region(rawValue: region) }
        if let endpointURL { configuration.endpoint = endpointURL }
        if let profile { configuration.profile = profile }
    }

    /// Runs `body`, turning any error into one line on standard error and exit status 1.
    func run(_ body: () async throws -> Void) async throws {
        bootstrapLogging()
        do {
            try await body()
        } catch let exit as ExitCode {
            throw exit
        } catch let error as CLIError {
            printError("kinesis: \(error.message)")
            throw ExitCode.failure
        } catch {
            printError("kinesis: \(error)")
            throw ExitCode.failure
        }
    }
}

/// An error of the tool's own, printed as it is.
struct CLIError: Error {
    var message: String
    init(_ message: String) { self.message = message }
}

func printError(_ line: String) {
    StandardError.write(line + "\n")
}

enum StandardError {
    static func write(_ text: String) {
        var text = text
        _ = text.withUTF8 { bytes in FileDescriptor.writeAll(2, bytes) }
    }
}

enum FileDescriptor {
    /// Writes every byte, retrying after interruptions and partial writes; `false` when the file
    /// is closed (a pipe whose reader went away) or fails.
    @discardableResult
    static func writeAll(_ descriptor: Int32, _ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        guard var pointer = bytes.baseAddress else { return true }
        var remaining = bytes.count
        while remaining > 0 {
            let written = Glibc.write(descriptor, pointer, remaining)
            if written < 0 {
                if errno == EINTR { continue }
                return false
            }
            pointer += written
            remaining -= written
        }
        return true
    }

    static func isTerminal(_ descriptor: Int32) -> Bool { isatty(descriptor) == 1 }
}

/// The time since `start` as `12.3 s`, for summaries.
func secondsText(since start: ContinuousClock.Instant) -> String {
    let tenths = Int((ContinuousClock.now - start) / .milliseconds(100))
    return "\(tenths / 10).\(tenths % 10) s"
}
