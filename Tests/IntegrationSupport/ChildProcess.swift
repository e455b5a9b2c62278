import Dispatch
public import Foundation

/// A child process run to its end (Python peers, boto3 scripts, a second test process), waited for
/// on a dispatch thread, never on the cooperative pool: a test that waits seconds for boto3 must
/// not hold one of this machine's two cooperative threads, or every other test's tasks stall.
public enum ChildProcess {
    public struct Output: Sendable {
        public var status: Int32
        public var stdout: Data
        public var stderr: Data
        public var errorText: String { String(decoding: stderr, as: UTF8.self) }
    }

    /// Runs `executable` with `arguments`, `input` on its standard input, and the test process's
    /// environment without proxy variables (and without the names in `unset`).
    public static func run(_ executable: String, _ arguments: [String], input: Data = Data(), unset: [String] = []) async throws -> Output {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(with: Result { try runBlocking(executable, arguments, input: input, unset: unset) })
            }
        }
    }

    private static func runBlocking(_ executable: String, _ arguments: [String], input: Data, unset: [String]) throws -> Output {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        for name in ["http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"] + unset { environment[name] = nil }
        process.environment = environment
        let stdin = Pipe(), stdout = Pipe(), stderr = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = stderr
        try process.run()
        // Standard error is drained on another thread, so that neither pipe can fill and stall
        // the child while the other is read.
        let errors = DispatchGroup()
        nonisolated(unsafe) var err = Data()
        DispatchQueue.global().async(group: errors) { err = stderr.fileHandleForReading.readDataToEndOfFile() }
        stdin.fileHandleForWriting.write(input)
        try stdin.fileHandleForWriting.close()
        let out = stdout.fileHandleForReading.readDataToEndOfFile()
        errors.wait()
        process.waitUntilExit()
        return Output(status: process.terminationStatus, stdout: out, stderr: err)
    }
}
