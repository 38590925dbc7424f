/// A VXLAN Network Identifier: 24 bits, 0 reserved.
public struct VNI: Hashable, Comparable, Sendable, CustomStringConvertible {
    public static let range: ClosedRange<UInt32> = 1...16_777_215

    public let value: UInt32

    public init(_ value: UInt32) throws(VNIError) {
        guard Self.range.contains(value) else { throw .outOfRange(String(value)) }
        self.value = value
    }

    /// Parses a VNI the way an operator writes it: plain decimal digits, no sign, no
    /// padding, no leading zero, no hex. Anything else is hostile or a typo.
    public init(parsing text: some StringProtocol) throws(VNIError) {
        guard let value = parseDecimal(text, saturatingAt: UInt64(Self.range.upperBound) + 1) else {
            throw .notANumber(String(text))
        }
        guard let narrow = UInt32(exactly: value), Self.range.contains(narrow) else {
            throw .outOfRange(String(text))
        }
        self.value = narrow
    }

    /// For constants known to be in range.
    init(unchecked value: UInt32) { self.value = value }

    public var description: String { String(value) }

    public static func < (lhs: VNI, rhs: VNI) -> Bool { lhs.value < rhs.value }
}

public enum VNIError: Error, Equatable, CustomStringConvertible {
    case notANumber(String)
    case outOfRange(String)

    public var description: String {
        switch self {
        case .notANumber(let text):
            "VNI '\(text.escapedForMessage)' is not a decimal number"
        case .outOfRange(let text):
            "VNI \(text.escapedForMessage) is out of range (\(VNI.range.lowerBound)-\(VNI.range.upperBound))"
        }
    }
}

/// Strict decimal: ASCII digits only, no sign, no padding, no leading zero (except "0").
/// Values above `cap` come back as `cap`, so a caller can tell "too large" from "not a
/// number" without overflow. Returns nil for anything that is not a decimal number.
func parseDecimal(_ text: some StringProtocol, saturatingAt cap: UInt64) -> UInt64? {
    precondition(cap < UInt64.max / 10, "cap must leave room for one more digit")
    let digits = text.utf8
    guard let first = digits.first else { return nil }
    if first == UInt8(ascii: "0") { return digits.count == 1 ? 0 : nil }
    var value: UInt64 = 0
    for byte in digits {
        guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
        value = min(value * 10 + UInt64(byte - UInt8(ascii: "0")), cap)
    }
    return value
}

/// A strict decimal integer within `range` (see `parseDecimal`): libvirt writes numbers
/// this way; anything else is a typo or hostile.
public func decimal(_ text: some StringProtocol, in range: ClosedRange<Int>) -> Int? {
    guard range.lowerBound >= 0, let value = parseDecimal(text, saturatingAt: UInt64(range.upperBound) + 1),
        let integer = Int(exactly: value), range.contains(integer)
    else { return nil }
    return integer
}

/// An inclusive range of VNIs, written "5000-5999" or "5001".
public struct VNIRange: Hashable, Sendable, CustomStringConvertible {
    public let bounds: ClosedRange<VNI>

    public init(_ bounds: ClosedRange<VNI>) { self.bounds = bounds }

    public init(parsing text: String) throws(VNIError) {
        let parts = text.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
        let low = try VNI(parsing: parts[0])
        let high = parts.count == 2 ? try VNI(parsing: parts[1]) : low
        guard low <= high else { throw .outOfRange(text) }
        bounds = low...high
    }

    public func contains(_ vni: VNI) -> Bool { bounds.contains(vni) }

    public var description: String {
        bounds.lowerBound == bounds.upperBound
            ? bounds.lowerBound.description : "\(bounds.lowerBound)-\(bounds.upperBound)"
    }
}

extension String {
    /// The text with control characters made visible, so a hostile name cannot forge a
    /// second line in a log or in the one-line error libvirt shows to the user.
    public var escapedForMessage: String {
        // Most names have nothing to escape; return those without walking their scalars.
        // Control characters are single UTF-8 bytes, and 64 bytes are at most 64 scalars.
        if utf8.count <= 64, !utf8.contains(where: { $0 < 0x20 || $0 == 0x7f }) { return self }
        var out = ""
        for scalar in unicodeScalars.prefix(64) {
            if scalar.value < 0x20 || scalar.value == 0x7f {
                out += "\\x" + String(scalar.value, radix: 16)
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return unicodeScalars.count > 64 ? out + "..." : out
    }
}
