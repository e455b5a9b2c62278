#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Dispatch

/// A snapshot of environment variables, injected so that resolution of credentials, regions and
/// endpoints can be tested without touching the process environment.
///
/// - Important: Its descriptions and mirror list the variable names only, never values, so that
///   secrets in `AWS_SECRET_ACCESS_KEY` or `AWS_SESSION_TOKEN` stay out of logs.
public struct AWSEnvironment: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The variables.
    public var variables: [String: String]

    public init(_ variables: [String: String]) {
        self.variables = variables
    }

    public var description: String {
        "AWSEnvironment(\(variables.keys.sorted().joined(separator: ", ")); values redacted)"
    }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: ["variables": variables.keys.sorted()]) }

    /// The current process's environment.
    public static var process: AWSEnvironment {
        AWSEnvironment(ProcessInfo.processInfo.environment)
    }

    /// The value of `name`, or `nil` when it is unset or empty.
    public subscript(name: String) -> String? {
        guard let value = variables[name], !value.isEmpty else { return nil }
        return value
    }

    /// The home directory, for `~/.aws/...`.
    var homeDirectory: String? { self["HOME"] ?? self["USERPROFILE"] }

    /// `path` with a leading `~` replaced by the home directory.
    func expandingTilde(_ path: String) -> String {
        guard path == "~" || path.hasPrefix("~/"), let home = homeDirectory else { return path }
        return home + path.dropFirst()
    }

    /// Whether the variable is set to `true` (case-insensitively).
    func isTrue(_ name: String) -> Bool {
        self[name]?.lowercased() == "true"
    }
}

/// Runs blocking work (file reads) on a dispatch queue of its own, off Swift's cooperative pool.
enum BlockingIO {
    private static let queue = DispatchQueue(label: "swift-kinesis-client.blocking-io", attributes: .concurrent)

    static func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async { continuation.resume(with: Result { try body() }) }
        }
    }

    /// The file's text, or `nil` when it does not exist.
    static func readFile(_ path: String) throws -> String? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw AWSError.configuration("could not read \(path)")
        }
        return String(decoding: data, as: UTF8.self)
    }
}
