#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// A source of AWS credentials. Plug your own in by conforming to it.
///
/// - Important: Implementations are called from many tasks at once and must be thread-safe. A
///   provider that finds nothing throws ``AWSError`` with code ``AWSError/Code/credentialsNotFound``
///   and a message saying where it looked, so that a chain can go on to the next provider; any other
///   error (a malformed file, half a key pair) stops the chain. Errors never contain a secret.
public protocol CredentialProvider: Sendable {
    /// Credentials to sign a request with now.
    func credentials() async throws -> AWSCredentials
}

// MARK: Static

/// Fixed credentials given in code or configuration.
public struct StaticCredentialProvider: CredentialProvider, CustomStringConvertible {
    public let value: AWSCredentials
    public init(_ credentials: AWSCredentials) { self.value = credentials }
    public func credentials() async throws -> AWSCredentials { value }
    public var description: String { "StaticCredentialProvider(\(value))" }
}

extension CredentialProvider where Self == StaticCredentialProvider {
    /// Fixed credentials: an access key ID and secret, with a session token for temporary ones.
    public static func `static`(accessKeyID: String, secretAccessKey: String, sessionToken: String? = nil) -> StaticCredentialProvider {
        StaticCredentialProvider(AWSCredentials(accessKeyID: accessKeyID, secretAccessKey: secretAccessKey, sessionToken: sessionToken))
    }
}

// MARK: Environment

/// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN` (also the older
/// `AWS_ACCESS_KEY` / `AWS_SECRET_KEY` names that the Java SDK reads).
public struct EnvironmentCredentialProvider: CredentialProvider, CustomStringConvertible {
    public let environment: AWSEnvironment
    public init(environment: AWSEnvironment = .process) { self.environment = environment }

    public var description: String { "EnvironmentCredentialProvider" }

    public func credentials() async throws -> AWSCredentials {
        try resolve()
    }

    func resolve() throws(AWSError) -> AWSCredentials {
        let accessKeyID = environment["AWS_ACCESS_KEY_ID"] ?? environment["AWS_ACCESS_KEY"]
        let secret = environment["AWS_SECRET_ACCESS_KEY"] ?? environment["AWS_SECRET_KEY"]
        switch (accessKeyID, secret) {
        case (nil, nil):
            throw AWSError(code: .credentialsNotFound, message: "environment: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set")
        case (.some, nil):
            throw AWSError(code: .invalidConfiguration, message: "environment: AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not")
        case (nil, .some):
            throw AWSError(code: .invalidConfiguration, message: "environment: AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not")
        case let (.some(accessKeyID), .some(secret)):
            return AWSCredentials(accessKeyID: accessKeyID, secretAccessKey: secret, sessionToken: environment["AWS_SESSION_TOKEN"])
        }
    }
}

extension CredentialProvider where Self == EnvironmentCredentialProvider {
    /// The process environment's `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN`.
    public static var environment: EnvironmentCredentialProvider { EnvironmentCredentialProvider() }
}

// MARK: Shared files

/// Static keys of a profile in the shared credentials and config files (`~/.aws/credentials`,
/// `~/.aws/config`, or `AWS_SHARED_CREDENTIALS_FILE` / `AWS_CONFIG_FILE`).
///
/// The profile is the one named here, else `AWS_PROFILE`, else `default`. The files are read on
/// every call (off the cooperative pool), so edits take effect at the next refresh.
public struct ProfileCredentialProvider: CredentialProvider, CustomStringConvertible {
    /// The profile name, or `nil` for `AWS_PROFILE` / `default`.
    public let profile: String?
    public let environment: AWSEnvironment

    public init(profile: String? = nil, environment: AWSEnvironment = .process) {
        self.profile = profile
        self.environment = environment
    }

    public var description: String { "ProfileCredentialProvider(profile: \(profileName))" }

    /// The profile name in effect.
    public var profileName: String { profile ?? environment["AWS_PROFILE"] ?? "default" }

    public func credentials() async throws -> AWSCredentials {
        let files = try await SharedConfigFiles.load(environment: environment)
        return try resolve(in: files)
    }

    func resolve(in files: SharedConfigFiles) throws(AWSError) -> AWSCredentials {
        let name = profileName
        guard let settings = files.profile(name) else {
            throw AWSError(code: .credentialsNotFound, message: "shared files: no \(files.describeSearch(for: name))")
        }
        let accessKeyID = settings["aws_access_key_id"]
        let secret = settings["aws_secret_access_key"]
        switch (accessKeyID, secret) {
        case let (.some(accessKeyID), .some(secret)):
            return AWSCredentials(accessKeyID: accessKeyID, secretAccessKey: secret, sessionToken: settings["aws_session_token"])
        case (.some, nil):
            throw AWSError(code: .invalidConfiguration, message: "shared files: profile '\(name)' has aws_access_key_id but no aws_secret_access_key (\(files.describeSearch(for: name)))")
        case (nil, .some):
            throw AWSError(code: .invalidConfiguration, message: "shared files: profile '\(name)' has aws_secret_access_key but no aws_access_key_id (\(files.describeSearch(for: name)))")
        case (nil, nil):
            for key in ["role_arn", "credential_process", "sso_session", "sso_start_url", "web_identity_token_file"] where settings[key] != nil {
                throw AWSError(code: .invalidConfiguration, message: "shared files: profile '\(name)' uses \(key), which this version does not support; give the profile static keys, or use environment credentials")
            }
            throw AWSError(code: .credentialsNotFound, message: "shared files: profile '\(name)' has no aws_access_key_id (\(files.describeSearch(for: name)))")
        }
    }
}

extension CredentialProvider where Self == ProfileCredentialProvider {
    /// A profile's static keys in the shared files; `nil` for `AWS_PROFILE` / `default`.
    public static func profile(_ name: String? = nil) -> ProfileCredentialProvider {
        ProfileCredentialProvider(profile: name)
    }
}

// MARK: Chain

/// Asks providers in order and returns the first credentials found.
///
/// A provider that finds nothing (``AWSError/Code/credentialsNotFound``) passes to the next; any
/// other error stops the chain. When none finds anything, the error lists where each looked.
public struct CredentialProviderChain: CredentialProvider {
    public let providers: [any CredentialProvider]

    public init(_ providers: [any CredentialProvider]) {
        self.providers = providers
    }

    public func credentials() async throws -> AWSCredentials {
        var looked: [String] = []
        for provider in providers {
            do {
                return try await provider.credentials()
            } catch let error as AWSError where error.code == .credentialsNotFound {
                looked.append(error.message)
            }
        }
        throw AWSError(
            code: .credentialsNotFound,
            message: "no AWS credentials found; looked in: " + (looked.isEmpty ? "(no providers)" : looked.joined(separator: "; "))
        )
    }

    /// The AWS SDKs' order, for the providers this version has: the environment, then the shared
    /// files' profile.
    public static func `default`(profile: String? = nil, environment: AWSEnvironment = .process) -> CredentialProviderChain {
        CredentialProviderChain([
            EnvironmentCredentialProvider(environment: environment),
            ProfileCredentialProvider(profile: profile, environment: environment),
        ])
    }
}

extension CredentialProvider where Self == CredentialProviderChain {
    /// The default chain, in the AWS SDKs' order.
    public static var `default`: CredentialProviderChain { CredentialProviderChain.default() }
}

// MARK: Caching

/// Caches another provider's credentials and refreshes them ahead of their expiry.
///
/// One refresh runs at a time: callers that arrive during a refresh wait for its result, unless the
/// cached credentials are still valid, in which case they get those at once. When a refresh fails
/// while the cached credentials are still valid, those stay in use and the next call tries again.
/// Credentials without an expiry are fetched once.
public actor CachingCredentialProvider: CredentialProvider {
    public let base: any CredentialProvider
    /// How long before expiry a refresh starts.
    public let refreshAhead: Duration
    /// The least time between two refreshes while the cached credentials are valid (so that
    /// credentials issued with less life than ``refreshAhead`` are not fetched on every call).
    public let minimumRefreshInterval: Duration
    private let now: @Sendable () -> Date
    private var cached: AWSCredentials?
    private var lastRefresh: Date?
    private var waiters: [CheckedContinuation<AWSCredentials, any Error>]?

    /// The refreshing caller was cancelled: a waiter tries again itself.
    private struct RefresherCancelled: Error {}

    /// - Parameters:
    ///   - refreshAhead: Refresh this long before the credentials expire (default 5 minutes).
    ///   - minimumRefreshInterval: The least time between refreshes of still-valid credentials (default 10 s).
    ///   - now: The wall clock the expiry is compared with (injected in tests).
    public init(
        _ base: any CredentialProvider,
        refreshAhead: Duration = .seconds(300),
        minimumRefreshInterval: Duration = .seconds(10),
        now: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.base = base
        self.refreshAhead = refreshAhead
        self.minimumRefreshInterval = minimumRefreshInterval
        self.now = now
    }

    public func credentials() async throws -> AWSCredentials {
        while true {
            do {
                return try await credentialsOnce()
            } catch is RefresherCancelled {
                try Task.checkCancellation()  // the refresher was cancelled, not us: try again
            }
        }
    }

    private func credentialsOnce() async throws -> AWSCredentials {
        if let cached, !needsRefresh(cached) {
            return cached
        }
        if waiters != nil {
            if let cached, isValid(cached) { return cached }
            return try await withCheckedThrowingContinuation { waiters?.append($0) }
        }
        waiters = []
        let result: Result<AWSCredentials, any Error>
        do {
            result = .success(try await base.credentials())
        } catch {
            result = .failure(error)
        }
        // Re-read state after the await: waiters may have queued meanwhile.
        let pending = waiters ?? []
        waiters = nil
        lastRefresh = now()
        switch result {
        case .success(let fresh):
            cached = fresh
            for waiter in pending { waiter.resume(returning: fresh) }
            return fresh
        case .failure(let error):
            if let cached, isValid(cached) {
                for waiter in pending { waiter.resume(returning: cached) }
                return cached
            }
            let forWaiters: any Error = error is CancellationError ? RefresherCancelled() : error
            for waiter in pending { waiter.resume(throwing: forWaiters) }
            throw error
        }
    }

    private func needsRefresh(_ credentials: AWSCredentials) -> Bool {
        guard let expiration = credentials.expiration else { return false }
        let now = now()
        guard expiration.timeIntervalSince(now) <= refreshAhead.seconds else { return false }
        if let lastRefresh, now.timeIntervalSince(lastRefresh) < minimumRefreshInterval.seconds, expiration > now {
            return false
        }
        return true
    }

    private func isValid(_ credentials: AWSCredentials) -> Bool {
        guard let expiration = credentials.expiration else { return true }
        return expiration > now()
    }
}

extension Duration {
    /// The duration in seconds, as a `Double`.
    var seconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
