/// An AWS region (`us-east-1`, `eu-west-1`, `cn-north-1`, ...).
public struct Region: RawRepresentable, Hashable, Sendable, CustomStringConvertible, ExpressibleByStringLiteral {
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(_ rawValue: String) { self.rawValue = rawValue }
    public init(stringLiteral value: String) { self.rawValue = value }
    public var description: String { rawValue }

    public static let usEast1: Region = "us-east-1"
    public static let usEast2: Region = "us-east-2"
    public static let usWest1: Region = "us-west-1"
    public static let usWest2: Region = "us-west-2"
    public static let euWest1: Region = "eu-west-1"
    public static let euCentral1: Region = "eu-central-1"
    public static let apNortheast1: Region = "ap-northeast-1"
    public static let apSoutheast1: Region = "ap-southeast-1"
    public static let cnNorth1: Region = "cn-north-1"

    /// The DNS suffix of the region's partition: `amazonaws.com`, or `amazonaws.com.cn` for China.
    public var dnsSuffix: String {
        if rawValue.hasPrefix("cn-") { return "amazonaws.com.cn" }
        if rawValue.hasPrefix("us-isob-") { return "sc2s.sgov.gov" }
        if rawValue.hasPrefix("us-iso-") { return "c2s.ic.gov" }
        return "amazonaws.com"
    }

    /// The region from, in order: `explicit`, `AWS_REGION`, `AWS_DEFAULT_REGION`, the profile's
    /// `region` in the shared config file. Throws an error listing where it looked.
    public static func resolve(
        explicit: Region?,
        environment: AWSEnvironment,
        profile: SharedConfigFiles.Profile?,
        profileName: String,
        files: SharedConfigFiles?
    ) throws(AWSError) -> Region {
        let region: Region
        if let explicit {
            region = explicit
        } else if let value = environment["AWS_REGION"] ?? environment["AWS_DEFAULT_REGION"] ?? profile?["region"] {
            region = Region(value)
        } else {
            let place = files.map { $0.describeSearch(for: profileName) } ?? "profile '\(profileName)'"
            throw .configuration("no AWS region: none configured, AWS_REGION and AWS_DEFAULT_REGION are not set, and \(place) has no region")
        }
        guard region.isWellFormed else {
            throw .configuration("region '\(region)' is not a region name (expected lower-case letters, digits and dashes, such as us-east-1)")
        }
        return region
    }

    /// Lower-case letters, digits and dashes, starting with a letter.
    var isWellFormed: Bool {
        guard let first = rawValue.utf8.first, (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(first) else { return false }
        return rawValue.utf8.allSatisfy {
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) || $0 == UInt8(ascii: "-")
        }
    }
}
