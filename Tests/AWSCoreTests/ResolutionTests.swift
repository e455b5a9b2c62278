import Testing

@testable import AWSCore

@Suite struct ResolutionTests {
    @Test(arguments: [
        ("https://kinesis.us-east-1.amazonaws.com", "https", "kinesis.us-east-1.amazonaws.com", nil as Int?, "kinesis.us-east-1.amazonaws.com"),
        ("http://127.0.0.1:5000", "http", "127.0.0.1", 5000, "127.0.0.1:5000"),
        ("http://localhost:80/", "http", "localhost", 80, "localhost"),
        ("HTTPS://[::1]:8443", "https", "::1", 8443, "[::1]:8443"),
    ])
    func endpointURLs(_ text: String, _ scheme: String, _ host: String, _ port: Int?, _ hostHeader: String) throws {
        let endpoint = try Endpoint(url: text)
        #expect(endpoint.scheme == scheme)
        #expect(endpoint.host == host)
        #expect(endpoint.port == port)
        #expect(endpoint.hostHeader == hostHeader)
    }

    @Test(arguments: [
        ("127.0.0.1:5000", "has no scheme"),
        ("ftp://x", "only http and https"),
        ("http://:80", "has no host"),
        ("http://host:99999", "invalid port"),
    ])
    func badEndpointURLs(_ text: String, _ problem: String) {
        let error = #expect(throws: AWSError.self) { _ = try Endpoint(url: text) }
        #expect(error?.code == .invalidConfiguration)
        #expect(error?.message.contains(problem) == true, "\(error?.message ?? "")")
        #expect(error?.message.contains(text) == true, "the error names the value")
    }

    @Test func userInfoIsRejectedWithoutEchoingIt() {
        let error = #expect(throws: AWSError.self) { _ = try Endpoint(url: "http://user:hunter2@127.0.0.1:80") }
        #expect(error?.message.contains("user info") == true)
        #expect(error?.message.contains("hunter2") == false)
    }

    @Test func regionOrder() throws {
        let profile: SharedConfigFiles.Profile = ["region": "eu-west-1"]
        func resolve(_ explicit: Region?, _ variables: [String: String], _ profile: SharedConfigFiles.Profile?) throws -> Region {
            try Region.resolve(explicit: explicit, environment: AWSEnvironment(variables), profile: profile, profileName: "default", files: nil)
        }
        #expect(try resolve("ap-south-1", ["AWS_REGION": "us-west-2"], profile) == "ap-south-1")
        #expect(try resolve(nil, ["AWS_REGION": "us-west-2", "AWS_DEFAULT_REGION": "us-east-2"], profile) == "us-west-2")
        #expect(try resolve(nil, ["AWS_DEFAULT_REGION": "us-east-2"], profile) == "us-east-2")
        #expect(try resolve(nil, [:], profile) == "eu-west-1")
        let missing = #expect(throws: AWSError.self) { _ = try resolve(nil, [:], nil) }
        #expect(missing?.message.contains("AWS_REGION") == true)
        let bad = #expect(throws: AWSError.self) { _ = try resolve("US East", [:], nil) }
        #expect(bad?.message.contains("'US East'") == true)
    }

    @Test func defaultEndpointsByPartition() throws {
        let none = AWSEnvironment([:])
        #expect(try AWSService.kinesis.endpoint(explicit: nil, region: "us-east-1", environment: none, profile: nil).baseURL == "https://kinesis.us-east-1.amazonaws.com")
        #expect(try AWSService.dynamoDB.endpoint(explicit: nil, region: "cn-north-1", environment: none, profile: nil).baseURL == "https://dynamodb.cn-north-1.amazonaws.com.cn")
        #expect(try AWSService.sts.endpoint(explicit: nil, region: "eu-central-1", environment: none, profile: nil).baseURL == "https://sts.eu-central-1.amazonaws.com")
    }

    @Test func endpointOverrideOrder() throws {
        let profile: SharedConfigFiles.Profile = ["endpoint_url": "http://127.0.0.1:4000"]
        let all = AWSEnvironment([
            "AWS_ENDPOINT_URL_KINESIS": "http://127.0.0.1:1000",
            "AWS_ENDPOINT_URL_DYNAMODB": "http://127.0.0.1:2000",
            "AWS_ENDPOINT_URL_STS": "http://127.0.0.1:2500",
            "AWS_ENDPOINT_URL": "http://127.0.0.1:3000",
        ])
        func url(_ service: AWSService, _ explicit: String?, _ environment: AWSEnvironment, _ profile: SharedConfigFiles.Profile?) throws -> String {
            try service.endpoint(explicit: explicit, region: "us-east-1", environment: environment, profile: profile).baseURL
        }
        #expect(try url(.kinesis, "http://127.0.0.1:9", all, profile) == "http://127.0.0.1:9")
        #expect(try url(.kinesis, nil, all, profile) == "http://127.0.0.1:1000")
        #expect(try url(.dynamoDB, nil, all, profile) == "http://127.0.0.1:2000")
        #expect(try url(.sts, nil, all, profile) == "http://127.0.0.1:2500")
        #expect(try url(.kinesis, nil, AWSEnvironment(["AWS_ENDPOINT_URL": "http://127.0.0.1:3000"]), profile) == "http://127.0.0.1:3000")
        #expect(try url(.kinesis, nil, AWSEnvironment([:]), profile) == "http://127.0.0.1:4000")
        var ignoring = all
        ignoring.variables["AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"] = "true"
        #expect(try url(.kinesis, nil, ignoring, profile) == "https://kinesis.us-east-1.amazonaws.com")
        let bad = #expect(throws: AWSError.self) { _ = try url(.kinesis, nil, AWSEnvironment(["AWS_ENDPOINT_URL_KINESIS": "nonsense"]), nil) }
        #expect(bad?.message.hasPrefix("AWS_ENDPOINT_URL_KINESIS: ") == true)
    }
}

@Suite struct RetryPolicyTests {
    @Test(arguments: [
        (AWSError(code: .provisionedThroughputExceeded, message: "", statusCode: 400), RetryPolicy.ErrorClass.throttling),
        (AWSError(code: .throttling, message: "", statusCode: 400), .throttling),
        (AWSError(code: .limitExceeded, message: "", statusCode: 400), .throttling),
        (AWSError(code: .requestLimitExceeded, message: "", statusCode: 400), .throttling),
        (AWSError(code: .kmsThrottling, message: "", statusCode: 400), .throttling),
        (AWSError(code: .httpStatus, message: "", statusCode: 429), .throttling),
        (AWSError(code: .internalFailure, message: "", statusCode: 500), .transient),
        (AWSError(code: .httpStatus, message: "", statusCode: 503), .transient),
        (AWSError(code: .connectionFailed, message: ""), .transient),
        (AWSError(code: .connectionLost, message: ""), .transient),
        (AWSError(code: .timeout, message: ""), .transient),
        (AWSError(code: .malformedResponse, message: "", statusCode: 200), .final),
        (AWSError(code: .tlsVerificationFailed, message: ""), .final),
        (AWSError(code: .proxyFailed, message: ""), .final),
        (AWSError(code: .resourceNotFound, message: "", statusCode: 400), .final),
        (AWSError(code: .validation, message: "", statusCode: 400), .final),
        (AWSError(code: .expiredIterator, message: "", statusCode: 400), .final),
        (AWSError(code: .credentialsNotFound, message: ""), .final),
        (AWSError(code: .responseTooLarge, message: ""), .final),
    ])
    func classification(_ error: AWSError, _ expected: RetryPolicy.ErrorClass) {
        #expect(RetryPolicy.classify(error) == expected)
    }

    @Test func cancellationIsFinal() {
        #expect(RetryPolicy.classify(CancellationError()) == .final)
    }

    @Test func fullJitterExponentialBackoffWithCap() {
        let policy = RetryPolicy(baseDelay: .milliseconds(100), throttlingBaseDelay: .milliseconds(500), maxBackoff: .seconds(20))
        #expect(policy.delay(afterAttempt: 1, errorClass: .transient, random: 1) == .milliseconds(100))
        #expect(policy.delay(afterAttempt: 3, errorClass: .transient, random: 1) == .milliseconds(400))
        #expect(policy.delay(afterAttempt: 3, errorClass: .transient, random: 0.5) == .milliseconds(200))
        #expect(policy.delay(afterAttempt: 3, errorClass: .transient, random: 0) == .zero)
        #expect(policy.delay(afterAttempt: 2, errorClass: .throttling, random: 1) == .milliseconds(1000))
        #expect(policy.delay(afterAttempt: 20, errorClass: .throttling, random: 1) == .seconds(20))
        #expect(policy.delay(afterAttempt: 200, errorClass: .transient, random: 1) == .seconds(20))
    }

    @Test func quotaDrainsAndRefills() {
        let quota = RetryQuota(capacity: 12)
        #expect(quota.acquire(5))
        #expect(quota.acquire(5))
        #expect(!quota.acquire(5))
        #expect(quota.available == 2)
        quota.release(100)
        #expect(quota.available == 12)
    }
}

@Suite struct AWSErrorDecoderTests {
    @Test(arguments: [
        (#"{"__type":"com.amazonaws.kinesis.v20131202#ResourceNotFoundException","message":"Stream x not found"}"#, [:], "ResourceNotFoundException", "Stream x not found"),
        (#"{"__type":"ProvisionedThroughputExceededException","message":"Rate exceeded"}"#, [:], "ProvisionedThroughputExceededException", "Rate exceeded"),
        (#"{"__type":"com.amazon.coral.validate#ValidationException","Message":"bad"}"#, [:], "ValidationException", "bad"),
        (#"{"message":"from header"}"#, ["x-amzn-ErrorType": "ConditionalCheckFailedException:http://internal.amazon.com/coral/com.amazon.coral.validate/"], "ConditionalCheckFailedException", "from header"),
        (#"{"code":"ThrottlingException","errorMessage":"slow down"}"#, [:], "ThrottlingException", "slow down"),
    ] as [(String, [String: String], String, String)])
    func decodesCodesAndMessages(_ body: String, _ headers: [String: String], _ code: String, _ message: String) {
        var fields = HTTPHeaders(headers.map { ($0.key, $0.value) })
        fields.add(name: "x-amzn-RequestId", value: "req-1")
        let error = AWSErrorDecoder.decode(status: 400, headers: fields, body: Array(body.utf8))
        #expect(error.code.rawValue == code)
        #expect(error.message == message)
        #expect(error.requestID == "req-1")
        #expect(error.statusCode == 400)
    }

    @Test func htmlErrorPage() {
        let body = Array("<!doctype html>\n<html><title>500 Internal Server Error</title></html>".utf8)
        let error = AWSErrorDecoder.decode(status: 500, headers: [:], body: body)
        #expect(error.code == .httpStatus)
        #expect(error.statusCode == 500)
        #expect(error.message.contains("500 Internal Server Error"))
        #expect(RetryPolicy.classify(error) == .transient)
    }

    @Test func emptyAndGarbageBodies() {
        #expect(AWSErrorDecoder.decode(status: 502, headers: [:], body: []).message.contains("empty body"))
        let garbage = AWSErrorDecoder.decode(status: 400, headers: [:], body: [0xFF, 0x00, 0x7B, 0x22])
        #expect(garbage.code == .httpStatus)
        #expect(AWSErrorDecoder.decode(status: 407, headers: [:], body: []).code == .proxyFailed)
    }

    @Test func descriptionCarriesContext() {
        var error = AWSErrorDecoder.decode(
            status: 400, headers: ["x-amzn-RequestId": "abc-123"],
            body: Array(#"{"__type":"ResourceNotFoundException","message":"Stream orders not found"}"#.utf8))
        error.service = "kinesis"
        error.operation = "DescribeStreamSummary"
        error.attempts = 1
        #expect(error.description == "kinesis DescribeStreamSummary failed: ResourceNotFoundException (HTTP 400, request ID abc-123): Stream orders not found")
    }
}
