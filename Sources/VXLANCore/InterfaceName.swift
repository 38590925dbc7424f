/// A Linux network interface name, checked against the kernel's rules
/// (`dev_valid_name`): 1-15 bytes (IFNAMSIZ - 1), not "." or "..", no "/", ":" or
/// whitespace. We also demand printable ASCII, so a name can never smuggle a newline
/// into a log line or a path component out of a folder.
public struct InterfaceName: Hashable, Comparable, Sendable, CustomStringConvertible {
    public static let maximumLength = 15

    public let rawValue: String

    public init(_ text: String) throws(InterfaceNameError) {
        let bytes = Array(text.utf8)
        guard !bytes.isEmpty else { throw .empty }
        guard bytes.allSatisfy({ $0 > 0x20 && $0 < 0x7f && $0 != UInt8(ascii: "/") && $0 != UInt8(ascii: ":") })
        else { throw .invalidCharacters(text) }
        guard text != ".", text != ".." else { throw .invalidCharacters(text) }
        guard bytes.count <= Self.maximumLength else { throw .tooLong(text) }
        rawValue = text
    }

    public var description: String { rawValue }

    public static func < (lhs: InterfaceName, rhs: InterfaceName) -> Bool { lhs.rawValue < rhs.rawValue }
}

public enum InterfaceNameError: Error, Equatable, CustomStringConvertible {
    case empty
    case invalidCharacters(String)
    case tooLong(String)

    public var description: String {
        switch self {
        case .empty:
            "interface name is empty"
        case .invalidCharacters(let name):
            "interface name '\(name.escapedForMessage)' may only hold printable ASCII without '/', ':' or spaces"
        case .tooLong(let name):
            "interface name '\(name.escapedForMessage)' is \(name.utf8.count) characters; Linux allows \(InterfaceName.maximumLength)"
        }
    }
}

/// A name pattern with exactly one `{vni}` placeholder, such as `brvx-{vni}`.
public struct NameTemplate: Hashable, Sendable, CustomStringConvertible {
    public static let placeholder = "{vni}"

    public let prefix: String
    public let suffix: String

    public init(_ pattern: String) throws(NameTemplateError) {
        let pieces = pattern.split(separator: Self.placeholder, omittingEmptySubsequences: false)
        guard pieces.count == 2 else { throw .placeholderCount(pattern) }
        prefix = String(pieces[0])
        suffix = String(pieces[1])
        guard !(prefix + suffix).contains("{"), !(prefix + suffix).contains("}") else {
            throw .placeholderCount(pattern)
        }
    }

    /// For built-in templates known to be valid.
    init(prefix: String, suffix: String) {
        self.prefix = prefix
        self.suffix = suffix
    }

    public var description: String { prefix + Self.placeholder + suffix }

    /// The text for one VNI, not yet checked as an interface name.
    public func render(_ vni: VNI) -> String { prefix + vni.description + suffix }

    /// The interface name for one VNI; fails if the result breaks the kernel's rules.
    public func interfaceName(for vni: VNI) throws(InterfaceNameError) -> InterfaceName {
        try InterfaceName(render(vni))
    }

    /// The VNI a name was rendered from, or nil if the name does not fit the template
    /// (including "brvx-05001" and "brvx-0": only the canonical spelling matches).
    public func vni(in name: String) -> VNI? {
        guard name.hasPrefix(prefix), name.hasSuffix(suffix),
            name.utf8.count > prefix.utf8.count + suffix.utf8.count
        else { return nil }
        let digits = name.dropFirst(prefix.count).dropLast(suffix.count)
        return try? VNI(parsing: digits)
    }

    /// Checks that every VNI of `ranges` renders to a valid interface name: the longest
    /// VNI has the most digits, so the upper bounds are the ones to try.
    public func validateInterfaceNames(for ranges: [VNIRange]) throws(InterfaceNameError) {
        for range in ranges { _ = try interfaceName(for: range.bounds.upperBound) }
    }
}

public enum NameTemplateError: Error, Equatable, CustomStringConvertible {
    case placeholderCount(String)

    public var description: String {
        switch self {
        case .placeholderCount(let pattern):
            "name template '\(pattern.escapedForMessage)' must contain {vni} exactly once and no other braces"
        }
    }
}
