import Foundation
import Testing

@testable import AWSCore

@Suite struct CredentialsTests {
    static let secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYSECRETKEY"
    static let token = "IQoJb3JpZ2luX2VjSESSIONTOKEN"

    @Test func environmentProvider() async throws {
        let provider = EnvironmentCredentialProvider(environment: AWSEnvironment([
            "AWS_ACCESS_KEY_ID": "AKIDENV", "AWS_SECRET_ACCESS_KEY": Self.secret, "AWS_SESSION_TOKEN": Self.token,
        ]))
        let credentials = try await provider.credentials()
        #expect(credentials.accessKeyID == "AKIDENV")
        #expect(credentials.secretAccessKey == Self.secret)
        #expect(credentials.sessionToken == Self.token)
    }

    @Test(arguments: [
        (["AWS_ACCESS_KEY_ID": "AKID"], AWSError.Code.invalidConfiguration, "AWS_SECRET_ACCESS_KEY is not"),
        (["AWS_SECRET_ACCESS_KEY": secret], .invalidConfiguration, "AWS_ACCESS_KEY_ID is not"),
        ([:], .credentialsNotFound, "are not set"),
        (["AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""], .credentialsNotFound, "are not set"),
    ])
    func environmentProviderErrors(_ variables: [String: String], _ code: AWSError.Code, _ text: String) async throws {
        let error = await #expect(throws: AWSError.self) {
            _ = try await EnvironmentCredentialProvider(environment: AWSEnvironment(variables)).credentials()
        }
        #expect(error?.code == code)
        #expect(error?.message.contains(text) == true, "\(error?.message ?? "")")
        #expect(error?.description.contains(Self.secret) == false)
    }

    static let credentialsFile = """
        # comment
        [default]
        aws_access_key_id = AKIDDEFAULT
        aws_secret_access_key = \(secret)

        [work]
        aws_access_key_id=AKIDWORK ; inline comment
        aws_secret_access_key=\(secret)
        aws_session_token = \(token)

        [half]
        aws_access_key_id = AKIDHALF
        """
    static let configFile = """
        [default]
        region = eu-west-1
        s3 =
          max_concurrent_requests = 10
        [profile work]
        region = us-west-2
        aws_access_key_id = AKIDFROMCONFIG
        endpoint_url = http://127.0.0.1:4566
        [profile role]
        role_arn = arn:aws:iam::123456789012:role/x
        source_profile = default
        [sso-session corp]
        sso_region = us-east-1
        [profile onlyconfig]
        aws_access_key_id = AKIDCONFIG
        aws_secret_access_key = \(secret)
        """

    func files(credentials: String? = credentialsFile, config: String? = configFile) throws -> SharedConfigFiles {
        try SharedConfigFiles(
            credentialsFile: .init(path: "/home/u/.aws/credentials", exists: credentials != nil),
            credentialsText: credentials ?? "",
            configFile: .init(path: "/home/u/.aws/config", exists: config != nil),
            configText: config ?? ""
        )
    }

    @Test func profilesAreParsedAndMerged() throws {
        let files = try files()
        #expect(files.profile("default")?["aws_access_key_id"] == "AKIDDEFAULT")
        #expect(files.profile("default")?["region"] == "eu-west-1")
        #expect(files.profile("default")?["max_concurrent_requests"] == nil, "sub-settings are skipped")
        // The credentials file wins over the config file for the same key.
        #expect(files.profile("work")?["aws_access_key_id"] == "AKIDWORK")
        #expect(files.profile("work")?["region"] == "us-west-2")
        #expect(files.profile("corp") == nil, "sso-session sections are not profiles")
        #expect(files.profile("onlyconfig")?["aws_access_key_id"] == "AKIDCONFIG")
    }

    @Test func profileProvider() throws {
        let files = try files()
        let work = try ProfileCredentialProvider(profile: "work", environment: AWSEnvironment([:])).resolve(in: files)
        #expect(work.accessKeyID == "AKIDWORK")
        #expect(work.sessionToken == Self.token)
        let fromEnvironment = try ProfileCredentialProvider(environment: AWSEnvironment(["AWS_PROFILE": "onlyconfig"])).resolve(in: files)
        #expect(fromEnvironment.accessKeyID == "AKIDCONFIG")
        let byDefault = try ProfileCredentialProvider(environment: AWSEnvironment([:])).resolve(in: files)
        #expect(byDefault.accessKeyID == "AKIDDEFAULT")
    }

    @Test(arguments: [
        ("half", AWSError.Code.invalidConfiguration, "has aws_access_key_id but no aws_secret_access_key"),
        ("role", .invalidConfiguration, "uses role_arn"),
        ("missing", .credentialsNotFound, "no profile 'missing' in /home/u/.aws/credentials and /home/u/.aws/config"),
    ])
    func profileProviderErrors(_ profile: String, _ code: AWSError.Code, _ text: String) throws {
        let files = try files()
        let error = #expect(throws: AWSError.self) {
            _ = try ProfileCredentialProvider(profile: profile, environment: AWSEnvironment([:])).resolve(in: files)
        }
        #expect(error?.code == code)
        #expect(error?.message.contains(text) == true, "\(error?.message ?? "")")
        #expect(error?.description.contains(Self.secret) == false)
    }

    @Test func malformedFileNamesFileAndLine() {
        let error = #expect(throws: AWSError.self) {
            _ = try files(credentials: "[default]\naws_access_key_id = A\nthis is not a setting\n")
        }
        #expect(error?.code == .invalidConfiguration)
        #expect(error?.message == "/home/u/.aws/credentials line 3: expected 'key = value' or '[section]', found something else")
        let unclosed = #expect(throws: AWSError.self) { _ = try files(config: "[profile x\n") }
        #expect(unclosed?.message.contains("line 1") == true)
    }

    @Test func profileProviderReadsRealFiles() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("aws-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let credentialsPath = directory.appendingPathComponent("credentials").path
        try Self.credentialsFile.write(toFile: credentialsPath, atomically: true, encoding: .utf8)
        let environment = AWSEnvironment([
            "AWS_SHARED_CREDENTIALS_FILE": credentialsPath,
            "AWS_CONFIG_FILE": directory.appendingPathComponent("absent").path,
            "AWS_PROFILE": "work",
        ])
        let credentials = try await ProfileCredentialProvider(environment: environment).credentials()
        #expect(credentials.accessKeyID == "AKIDWORK")
    }

    @Test func chainTakesTheFirstAndSaysWhereItLooked() async throws {
        let empty = AWSEnvironment([
            "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/credentials", "AWS_CONFIG_FILE": "/nonexistent/config",
        ])
        let error = await #expect(throws: AWSError.self) {
            _ = try await CredentialProviderChain.default(environment: empty).credentials()
        }
        #expect(error?.code == .credentialsNotFound)
        #expect(error?.message == "no AWS credentials found; looked in: environment: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set; shared files: no profile 'default' in /nonexistent/credentials (no such file) and /nonexistent/config (no such file)")

        var withKeys = empty
        withKeys.variables["AWS_ACCESS_KEY_ID"] = "AKIDENV"
        withKeys.variables["AWS_SECRET_ACCESS_KEY"] = Self.secret
        #expect(try await CredentialProviderChain.default(environment: withKeys).credentials().accessKeyID == "AKIDENV")

        // A broken provider stops the chain instead of being skipped.
        var half = empty
        half.variables["AWS_ACCESS_KEY_ID"] = "AKIDENV"
        let stopped = await #expect(throws: AWSError.self) {
            _ = try await CredentialProviderChain([EnvironmentCredentialProvider(environment: half), StaticCredentialProvider.static(accessKeyID: "X", secretAccessKey: "Y")]).credentials()
        }
        #expect(stopped?.code == .invalidConfiguration)
    }

    @Test func secretsNeverAppearInDescriptions() {
        let credentials = AWSCredentials(accessKeyID: "AKIDVISIBLE", secretAccessKey: Self.secret, sessionToken: Self.token)
        let environment = AWSEnvironment(["AWS_ACCESS_KEY_ID": "AKIDVISIBLE", "AWS_SECRET_ACCESS_KEY": Self.secret, "AWS_SESSION_TOKEN": Self.token])
        var configuration = AWSConfiguration(region: .usEast1, credentialProvider: StaticCredentialProvider(credentials))
        configuration.environment = environment
        configuration.http.proxy = CurlTransport.Proxy(host: "127.0.0.1", port: 3128, username: "u", password: Self.secret)
        func dumped(_ value: Any) -> String {
            var text = ""
            dump(value, to: &text)
            return text
        }
        let texts: [String] = [
            "\(credentials)", String(reflecting: credentials), dumped(credentials),
            "\(StaticCredentialProvider(credentials))", String(reflecting: StaticCredentialProvider(credentials)),
            "\(environment)", dumped(environment),
            "\(EnvironmentCredentialProvider(environment: environment))", dumped(EnvironmentCredentialProvider(environment: environment)),
            "\(ProfileCredentialProvider(environment: environment))",
            "\(configuration)", String(reflecting: configuration), dumped(configuration),
        ]
        for text in texts {
            #expect(!text.contains(Self.secret), "\(text)")
            #expect(!text.contains(Self.token), "\(text)")
        }
        #expect("\(credentials)".contains("AKIDVISIBLE"))
    }
}

/// A provider that counts calls and hands out credentials expiring at a set time.
final class CountingProvider: CredentialProvider, @unchecked Sendable {
    // `lock` guards every stored var.
    private let lock = NSLock()
    private var _calls = 0
    private var _failing = false
    var expiration: Date
    var gate: AsyncStream<Void>?

    init(expiration: Date) { self.expiration = expiration }

    var calls: Int { lock.withLock { _calls } }
    var failing: Bool {
        get { lock.withLock { _failing } }
        set { lock.withLock { _failing = newValue } }
    }

    func credentials() async throws -> AWSCredentials {
        let (call, failing, expiration) = lock.withLock { () -> (Int, Bool, Date) in
            _calls += 1
            return (_calls, _failing, self.expiration)
        }
        if let gate { for await _ in gate { break } }
        if failing { throw AWSError(code: .credentialsNotFound, message: "refresh failed") }
        return AWSCredentials(accessKeyID: "AKID\(call)", secretAccessKey: "s", expiration: expiration)
    }
}

final class ManualWallClock: @unchecked Sendable {
    // `lock` guards `value`.
    private let lock = NSLock()
    private var value: Date
    init(_ value: Date) { self.value = value }
    var now: Date { lock.withLock { value } }
    func advance(_ seconds: TimeInterval) { lock.withLock { value += seconds } }
}

@Suite struct CachingCredentialProviderTests {
    @Test func cachesUntilTheRefreshWindowThenRefreshes() async throws {
        let clock = ManualWallClock(Date(timeIntervalSince1970: 1_000_000))
        let base = CountingProvider(expiration: clock.now + 3600)
        let cache = CachingCredentialProvider(base, refreshAhead: .seconds(300), now: { clock.now })
        #expect(try await cache.credentials().accessKeyID == "AKID1")
        #expect(try await cache.credentials().accessKeyID == "AKID1")
        #expect(base.calls == 1)
        clock.advance(3600 - 301)
        #expect(try await cache.credentials().accessKeyID == "AKID1", "outside the window: still cached")
        clock.advance(2)
        base.expiration = clock.now + 3600
        #expect(try await cache.credentials().accessKeyID == "AKID2", "inside the window: refreshed ahead of expiry")
        #expect(base.calls == 2)
    }

    @Test func failedRefreshKeepsValidCredentialsThenFailsOnceExpired() async throws {
        let clock = ManualWallClock(Date(timeIntervalSince1970: 1_000_000))
        let base = CountingProvider(expiration: clock.now + 600)
        let cache = CachingCredentialProvider(base, refreshAhead: .seconds(300), now: { clock.now })
        #expect(try await cache.credentials().accessKeyID == "AKID1")
        base.failing = true
        clock.advance(400)  // in the refresh window, still valid
        #expect(try await cache.credentials().accessKeyID == "AKID1")
        #expect(base.calls == 2, "a refresh was tried")
        clock.advance(300)  // expired
        await #expect(throws: AWSError.self) { _ = try await cache.credentials() }
    }

    @Test func shortLivedCredentialsAreNotRefetchedOnEveryCall() async throws {
        let clock = ManualWallClock(Date(timeIntervalSince1970: 1_000_000))
        // Issued with 2 minutes of life: inside the 5-minute refresh window from the start.
        let base = CountingProvider(expiration: clock.now + 120)
        let cache = CachingCredentialProvider(base, refreshAhead: .seconds(300), minimumRefreshInterval: .seconds(10), now: { clock.now })
        for _ in 0..<5 { _ = try await cache.credentials() }
        #expect(base.calls == 1)
        clock.advance(11)
        _ = try await cache.credentials()
        #expect(base.calls == 2)
    }

    @Test func oneRefreshAtATime() async throws {
        let clock = ManualWallClock(Date(timeIntervalSince1970: 1_000_000))
        let base = CountingProvider(expiration: clock.now + 3600)
        let (gate, open) = AsyncStream<Void>.makeStream()
        base.gate = gate
        let cache = CachingCredentialProvider(base, now: { clock.now })
        let results = await withTaskGroup(of: String?.self) { group in
            for _ in 0..<20 {
                group.addTask { try? await cache.credentials().accessKeyID }
            }
            // Let the first call in, then release it (bounded wait for it to arrive).
            for _ in 0..<1000 where base.calls == 0 { await Task.yield() }
            open.yield()
            open.finish()
            return await group.reduce(into: [String?]()) { $0.append($1) }
        }
        #expect(base.calls == 1)
        #expect(results.allSatisfy { $0 == "AKID1" })
    }
}
